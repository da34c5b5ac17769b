"""The estimator interface every pose estimator answers, and how one reports that it is unavailable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from posefinder.models.pose import Pose


@runtime_checkable
class Estimator(Protocol):
    """Estimates the poses of the characters in an image.

    name: the registry name ("feature-matching", "feature-concatenation", "keypoint-rcnn", ...).
    estimate(image): image is (H, W, 3) uint8 RGB; returns the characters' poses in image pixels, best
    first (an empty list when there is no character). Pose.source is "model:<name>", Pose.scores holds
    per-joint confidences and Pose.score the character's.
    """

    name: str

    def estimate(self, image: np.ndarray) -> list[Pose]: ...


@dataclass(frozen=True)
class Availability:
    """Whether an estimator can run here, and if not, why and how to fix it (one sentence each)."""

    name: str
    available: bool
    reason: str = ""  # why not, when unavailable; what it is, when available
    how_to_fix: str = ""
