"""The paper's pose models as estimators: a feature-matching or feature-concatenation model file + the pipeline.

A model file made by build/ runs here as is: its card names the networks and the pipeline settings, its
weights load strictly, and pipeline.PosePipeline does the rest. The path from training to auto-pose:

    bundle = ModelBundle(pose=pose_net, segmenter=segmenter_net)      # segmenter optional
    card = weights.make_card(bundle, name="matching-adds", metrics={...}, training_data={...})
    weights.save_model("matching-adds.safetensors", bundle, card)
    $ posefinder models install matching-adds.safetensors   # checks it, exports ONNX Runtime versions
    $ posefinder pose image.png --model matching-adds --draw out.png

PaperModelEstimator(bundle, card) runs an in-memory bundle the same way (evaluation before export); it
takes the bundle over (eval mode, channels-last memory). Installed models are found by the chain
(registry.py); a file runs directly with PaperModelEstimator.from_file(path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from posefinder.models.errors import ModelError
from posefinder.models.estimators.base import resolve_device, torch_installed
from posefinder.models.estimators.pipeline import PipelineSettings, PosePipeline
from posefinder.models.pose import Pose


class PaperModelEstimator:
    """An estimator over a loaded ModelBundle and its card.

    name: the architecture ("feature-matching" or "feature-concatenation"), as in the chain;
    model_name: the model's name in its card. settings overrides: any PipelineSettings field.
    """

    def __init__(
        self,
        bundle,
        card,
        *,
        device: str = "cpu",
        weights_path: str | Path | None = None,
        runtime: str | None = None,
        **settings: Any,
    ) -> None:
        import torch

        from posefinder.models.estimators import onnx_runtime

        self.device = resolve_device(device)
        self.card = card
        self.name = card.architecture
        self.model_name = card.name
        self.bundle = bundle.eval().to(self.device)
        settings_ = PipelineSettings.from_card(card, **settings)
        variants = {"pose": ""}
        if self.bundle.segmenter is not None:
            if settings_.segmenter_output_stride not in (8, 16):
                raise ModelError(f"model {card.name!r}: its segmenter runs at output stride 8 or 16, not "
                                 f"{settings_.segmenter_output_stride} (inference.segmenter_output_stride)")
            self.bundle.segmenter.set_output_stride(settings_.segmenter_output_stride)
            variants["segmenter"] = "" if settings_.segmenter_output_stride == 8 else f"os{settings_.segmenter_output_stride}"
        # PyTorch runs channels-last (faster on CPU and GPU alike, see benchmarks/estimators.py) ...
        self.bundle.to(memory_format=torch.channels_last)
        networks = {"pose": (self.bundle.pose, settings_.input_size)}
        if self.bundle.segmenter is not None:
            networks["segmenter"] = (self.bundle.segmenter, settings_.segmenter_input_size)
        #: which runtime runs each network: "torch" or "onnxruntime"
        self.runtime: dict[str, str] = {}
        run: dict = {}
        for component, (module, size) in networks.items():
            run[component], self.runtime[component] = module, "torch"
            # ... and ONNX Runtime, faster still on CPU, where installed (onnx_runtime.py)
            if weights_path is not None and onnx_runtime.wanted(module, self.device, runtime):
                # the segmenter's export takes any height and width: fed by the shorter side, it sees any shape
                network = onnx_runtime.onnx_network(module, Path(weights_path), component, size, variants[component],
                                                    any_size=component == "segmenter")  # fmt: skip
                if network is not None:
                    run[component], self.runtime[component] = network, "onnxruntime"
        self.pipeline = PosePipeline(
            run["pose"],
            run.get("segmenter"),
            settings_,
            name=self.name,
            model_name=card.name,
            device=self.device,
            channels_last=True,
        )

    @classmethod
    def from_file(
        cls, path: str | Path, *, device: str = "cpu", runtime: str | None = None, **settings: Any
    ) -> "PaperModelEstimator":
        """Load a model file (safetensors + card; ModelError when it is broken or does not fit its card).

        runtime: "auto" (None: $POSEFINDER_RUNTIME, else auto) runs the paper-size networks in ONNX Runtime on
        CPU where it is installed, the rest in PyTorch; "torch" or "onnx" force one (onnx falls back to
        torch, with a warning, where it cannot run). See onnx_runtime.py. Without torch, and on CPU with
        runtime "onnx" where the installed model carries its graphs, an OnnxModelEstimator (onnx_model.py)
        runs the model's ONNX graphs instead.
        """
        from posefinder.models import onnx_graphs, weights
        from posefinder.models.estimators import onnx_runtime

        device = resolve_device(device)
        if device == "cpu" and (not torch_installed() or onnx_runtime.choice(runtime) == "onnx"):
            graphs = onnx_graphs.installed_graphs(path, weights.read_card(path))
            if graphs is not None or not torch_installed():
                from posefinder.models.estimators.onnx_model import OnnxModelEstimator

                return OnnxModelEstimator.from_file(path, **settings)  # type: ignore[return-value]
        bundle, card = weights.load_bundle(path, device=device)
        return cls(bundle, card, device=device, weights_path=path, runtime=runtime, **settings)

    @property
    def has_segmenter(self) -> bool:
        return self.bundle.segmenter is not None

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.pipeline.estimate(image)

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        return self.pipeline.estimate_batch(images)


def prepare_runtime(weights_path: str | Path, log=None) -> dict[str, str]:
    """Export an installed paper-size model's networks to ONNX Runtime now (once; about a minute), so that
    its first auto-pose is fast; {network: runtime}. Call it after installing a model (the CLI's `models
    install` does); without it the export happens on the model's first use. log(line) hears what happens."""
    from posefinder.models import weights
    from posefinder.models.estimators import onnx_runtime

    onnx_runtime.forget(Path(weights_path))
    if not onnx_runtime.can_export() or onnx_runtime.choice() == "torch":
        return {}
    if weights.stored_values(weights_path) < onnx_runtime.AUTO_MIN_PARAMETERS:
        return {}  # small networks run in PyTorch
    if log:
        log("preparing its ONNX Runtime versions (once; this can take a minute) ...")
    return PaperModelEstimator.from_file(weights_path).runtime
