"""The paper's pose models as estimators: a feature-matching or feature-concatenation model file + the pipeline.

A model file made by build/ (weights.save_model of a ModelBundle with `pose` and optionally `segmenter`)
runs here as is: its card names the networks and the pipeline settings, its weights load strictly, and
pipeline.PosePipeline does the rest. Installed models are found by the chain (registry.py); a file can
also be run directly with PaperModelEstimator.from_file(path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from posefinder.models.estimators.base import resolve_device
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
        if runtime not in (None, "torch", "onnx"):
            raise ValueError(f"runtime must be None (auto), 'torch' or 'onnx', not {runtime!r}")
        use_onnx = (runtime == "onnx" or (runtime is None and onnx_runtime.wanted(self.device)))
        use_onnx = use_onnx and weights_path is not None and self.device == "cpu" and onnx_runtime.can_run()
        channels_last = self.device != "cpu"
        if channels_last:
            self.bundle.to(memory_format=torch.channels_last)
        pose_net, segmenter = self.bundle.pose, self.bundle.segmenter
        self.runtime = {"pose": "torch", "segmenter": "torch" if segmenter is not None else None}
        if use_onnx:
            ort_pose = onnx_runtime.onnx_network(pose_net, Path(weights_path), "pose", settings_.input_size)
            if ort_pose is not None:
                pose_net, self.runtime["pose"] = ort_pose, "onnxruntime"
            if segmenter is not None:
                size = settings_.segmenter_input_size
                ort_seg = onnx_runtime.onnx_network(segmenter, Path(weights_path), "segmenter", size)
                if ort_seg is not None:
                    segmenter, self.runtime["segmenter"] = ort_seg, "onnxruntime"
        self.pipeline = PosePipeline(
            pose_net,
            segmenter,
            settings_,
            name=self.name,
            model_name=card.name,
            device=self.device,
            channels_last=channels_last,
        )

    @classmethod
    def from_file(
        cls, path: str | Path, *, device: str = "cpu", runtime: str | None = None, **settings: Any
    ) -> "PaperModelEstimator":
        """Load a model file (safetensors + card; ModelError when it is broken or does not fit its card).

        runtime: None chooses ONNX Runtime on CPU where it is installed (onnx_runtime.wanted), else PyTorch;
        "torch" or "onnx" force one (onnx falls back to torch, with a warning, where it cannot run).
        """
        from posefinder.models import weights

        device = resolve_device(device)
        bundle, card = weights.load_bundle(path, device=device)
        return cls(bundle, card, device=device, weights_path=path, runtime=runtime, **settings)

    @property
    def has_segmenter(self) -> bool:
        return self.bundle.segmenter is not None

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.pipeline.estimate(image)

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        return self.pipeline.estimate_batch(images)

