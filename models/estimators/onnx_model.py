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

    def __init__(self, card, graphs: dict[str, Path], *, threads: int | None = None, **settings: Any) -> None:
        self.card = card
        self.name = card.architecture
        self.model_name = card.name
        self.device = "cpu"
        settings_ = PipelineSettings.from_card(card, **settings)
        if "segmenter" in graphs:
            built = onnx_graphs.graph_spec(card, "segmenter")["variant"]
            if f"os{settings_.segmenter_output_stride}" != built:
                raise ModelError(f"model {card.name!r}: its installed segmenter graph runs at output stride "
                                 f"{built[2:]}, not {settings_.segmenter_output_stride}")  # fmt: skip
        run = {component: OrtNetwork(Path(path), threads) for component, path in graphs.items()}
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
        return cls(card, graphs, **settings)

    @property
    def has_segmenter(self) -> bool:
        return self.pipeline.segmenter is not None

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.pipeline.estimate(image)

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        return self.pipeline.estimate_batch(images)
