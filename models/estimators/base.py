"""The estimator interface every pose estimator answers, and how one reports that it is unavailable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from posefinder.models.pose import Pose


@runtime_checkable
class Estimator(Protocol):
    """Estimates the poses of the characters in an image.

    name: the registry name ("feature-matching", "feature-concatenation", "keypoint-rcnn", ...).
    estimate(image): image is (H, W, 3) uint8 RGB; returns the characters' poses in image pixels, best
    first (an empty list when there is no character). Pose.source is "model:<name>", Pose.scores holds
    per-joint confidences and Pose.score the character's.
    estimate_batch(images): estimate() of each image, with the networks run in batches (batch indexing).
    """

    name: str

    def estimate(self, image: np.ndarray) -> list[Pose]: ...

    def estimate_batch(self, images: Sequence[np.ndarray]) -> list[list[Pose]]: ...


@dataclass(frozen=True)
class Availability:
    """Whether an estimator can run here, and if not, why and how to fix it (one sentence each)."""

    name: str
    available: bool
    reason: str = ""  # why not, when unavailable; what it is, when available
    how_to_fix: str = ""


def torch_installed() -> bool:
    """Whether torch can be imported here (the [torch] extra), without importing it."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def resolve_device(device: str | None) -> str:
    """A torch device name for "cpu", "cuda" or "cuda:N"; ModelError when it cannot run here."""
    from posefinder.models.errors import ModelError

    device = (device or "cpu").strip().lower()
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        try:
            import torch
        except ImportError:
            raise ModelError(f"--device {device}: GPU inference needs torch (pip install 'posefinder[torch]')") from None

        if not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device and device.split(":")[1].isdigit() else 0
        if index >= torch.cuda.device_count():
            raise ModelError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise ModelError(f"unknown device {device!r}; use cpu or cuda")
