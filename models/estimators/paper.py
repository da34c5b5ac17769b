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

    def __init__(self, bundle, card, *, device: str = "cpu", **settings: Any) -> None:
        import torch

        self.device = resolve_device(device)
        self.card = card
        self.name = card.architecture
        self.model_name = card.name
        self.bundle = bundle.eval().to(self.device)
        channels_last = self.device != "cpu" or _cpu_prefers_channels_last()
        if channels_last:
            self.bundle.to(memory_format=torch.channels_last)
        self.pipeline = PosePipeline(
            self.bundle.pose,
            self.bundle.segmenter,
            PipelineSettings.from_card(card, **settings),
            name=self.name,
            model_name=card.name,
            device=self.device,
            channels_last=channels_last,
        )

    @classmethod
    def from_file(cls, path: str | Path, *, device: str = "cpu", **settings: Any) -> "PaperModelEstimator":
        """Load a model file (safetensors + card; ModelError when it is broken or does not fit its card)."""
        from posefinder.models import weights

        device = resolve_device(device)
        bundle, card = weights.load_bundle(path, device=device)
        return cls(bundle, card, device=device, **settings)

    @property
    def has_segmenter(self) -> bool:
        return self.bundle.segmenter is not None

    def estimate(self, image: np.ndarray) -> list[Pose]:
        return self.pipeline.estimate(image)

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]:
        return self.pipeline.estimate_batch(images)


def _cpu_prefers_channels_last() -> bool:
    """Whether the CPU path runs the networks in channels-last memory format (see benchmarks/estimators.py)."""
    return False
