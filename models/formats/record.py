"""PoseRecord: a pose with the image it belongs to, as pose files store them."""

from __future__ import annotations

from dataclasses import dataclass

from posefinder.models.pose import Pose


@dataclass
class PoseRecord:
    pose: Pose
    image: str | None = None  # the image's file name or path as the pose file gives it
