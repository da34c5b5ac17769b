"""An installed paper model run from its ONNX graphs by ONNX Runtime: auto-pose without torch.

`posefinder models install` writes each network's graph beside the model in the store (onnx_graphs.py:
a template of resources/onnx filled with the file's weights, or the graphs training wrote beside the
file). This estimator runs them with the same pipeline, settings and results as PaperModelEstimator
(paper.py): pre- and post-processing are numpy and OpenCV (pipeline.py, geometry.py, heatmaps.py). It is
what the chain loads where torch is not installed, or on CPU when $POSEFINDER_RUNTIME (or runtime=) is
"onnx" and the graphs are there. CPU only: GPU users run the torch path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from posefinder.models import onnx_graphs
from posefinder.models.errors import ModelError
from posefinder.models.estimators.onnx_runtime import OrtNetwork
from posefinder.models.estimators.pipeline import PipelineSettings, PosePipeline
from posefinder.models.pose import Pose

#: Said when a model has no graphs and torch is not installed.
NEEDS_TORCH = ("it has no ONNX graphs for this PoseFinder (none of resources/onnx fits its networks, and none "
               "was exported beside it): install torch (`pip install 'posefinder[torch]'`) to run it, or "
               "re-export it with posefinder-train")  # fmt: skip


class OnnxModelEstimator:
    """Estimator over an installed model's card and its ONNX graphs ({component: path})."""

    def __init__(self, card, graphs: dict[str, Path], *, threads: int | None = None,
                 weights_path: str | Path | None = None, **settings: Any) -> None:  # fmt: skip
        self.card = card
        self.name = card.architecture
        self.model_name = card.name
        self.device = "cpu"
        settings_ = PipelineSettings.from_card(card, **settings)
        graphs = dict(graphs)
        if "segmenter" in graphs:
            built = onnx_graphs.graph_spec(card, "segmenter")["variant"]
            wanted = f"os{settings_.segmenter_output_stride}"
            if wanted != built:
                other = _other_stride(card, weights_path, settings_.segmenter_output_stride)
                if other is None:
                    raise ModelError(f"model {card.name!r}: its installed segmenter graph runs at output stride "
                                     f"{built[2:]}, and no template of resources/onnx runs it at "
                                     f"{settings_.segmenter_output_stride}")  # fmt: skip
                graphs["segmenter"] = other
        run = {component: OrtNetwork(Path(path), threads) for component, path in graphs.items()}
        if "segmenter" in run and settings_.segmenter_resize == "shorter" and not onnx_graphs.takes_any_size(
            run["segmenter"].session
        ):
            raise ModelError(f"model {card.name!r}: its segmenter graph takes only squares, but it is fed images "
                             "by their shorter side; reinstall the model to make its graphs anew")  # fmt: skip
        #: which runtime runs each network (as PaperModelEstimator.runtime)
        self.runtime = {component: "onnxruntime" for component in run}
        self.pipeline = PosePipeline(run["pose"], run.get("segmenter"), settings_, name=self.name,
                                     model_name=card.name, device="cpu")  # fmt: skip

    @classmethod
    def from_file(cls, path: str | Path, **settings: Any) -> "OnnxModelEstimator":
        """The installed model file's estimator; ModelError when its card or graphs are missing."""
        from posefinder.models import weights

        card = weights.read_card(path)
        graphs = onnx_graphs.installed_graphs(path, card)
        if graphs is None:
            raise ModelError(f"model {card.name!r} cannot run without torch: {NEEDS_TORCH}")
        return cls(card, graphs, weights_path=path, **settings)

    @property
    def has_segmenter(self) -> bool:
        return self.pipeline.segmenter is not None

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.pipeline.estimate(image)

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        return self.pipeline.estimate_batch(images)


def _other_stride(card, weights_path, stride: int) -> Path | None:
    """The segmenter's graph at another output stride than installed: its template filled with the model's
    weights once, kept in the cache (paths.cache_dir()/onnx, keyed by the model file), checked like an
    installed graph; None where no template runs it at that stride or the model file is not known."""
    import dataclasses
    import hashlib

    import onnx

    from posefinder.models import paths
    from posefinder.models.atomic import atomic_path

    if weights_path is None or stride not in (8, 16):
        return None
    weights_path = Path(weights_path)
    inference = {**(card.inference or {}), "segmenter_output_stride": stride}
    spec = onnx_graphs.graph_spec(dataclasses.replace(card, inference=inference), "segmenter")
    template = onnx_graphs.find_template(spec)
    if template is None:
        return None
    st = weights_path.stat()
    key = f"{weights_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{template.name}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]  # named as onnx_runtime's exports (forget() finds it)
    path = paths.cache_dir() / "onnx" / f"{weights_path.stem}-segmenter-{spec['input_size']}-{digest}.onnx"
    if not path.is_file():
        source = f"{weights_path} (segmenter at output stride {stride})"
        model = onnx_graphs.fill(onnx.load(str(template)), onnx_graphs.component_weights(weights_path, "segmenter"), source)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, durable=False) as tmp:
            onnx.save_model(model, str(tmp))
        try:
            onnx_graphs.check_graph(path, spec["input_size"], source, onnx_graphs.needs_any_size(card, "segmenter"))
        except ModelError:
            path.unlink(missing_ok=True)
            raise
    return path
