"""Pose: one character's 25 keypoints in image pixels, with its bbox, image size, source and scores."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from posefinder.models import skeleton

#: Visibility codes (COCO's): absent, guessed or occluded, visible.
ABSENT, OCCLUDED, VISIBLE = 0, 1, 2

#: Source of a pose that a person set or corrected by hand (on the canvas); re-indexing never overwrites it.
SOURCE_HAND = "hand"
#: Source of a pose read from an annotation file that does not say where its pose came from.
SOURCE_ANNOTATION = "annotation"


def as_xywh(values) -> tuple[float, float, float, float]:
    """Four numbers (x, y, width, height) as a tuple of floats; ValueError for any other count."""
    box = tuple(float(v) for v in values)
    if len(box) != 4:
        raise ValueError("bbox_xywh needs 4 numbers: x, y, width, height")
    return box[0], box[1], box[2], box[3]


def _as_keypoints(keypoints) -> np.ndarray:
    kp = np.array(keypoints, dtype=np.float64)
    if kp.shape == (skeleton.NUM_KEYPOINTS, 2):
        kp = np.concatenate([kp, np.full((skeleton.NUM_KEYPOINTS, 1), VISIBLE, np.float64)], axis=1)
    if kp.shape != (skeleton.NUM_KEYPOINTS, 3):
        raise ValueError(f"a pose has {skeleton.NUM_KEYPOINTS} keypoints of (x, y, v); got shape {kp.shape}")
    if not np.all(np.isfinite(kp)):
        raise ValueError("pose keypoints must be finite numbers")
    kp[:, 2] = np.clip(np.round(kp[:, 2]), ABSENT, VISIBLE)
    kp[kp[:, 2] == ABSENT, :2] = 0.0
    return kp


@dataclass(eq=False)
class Pose:
    """One character's pose.

    keypoints: (25, 3) float array of x, y in image pixels (origin top-left) and visibility
    (0 absent, 1 guessed/occluded, 2 visible), in skeleton.KEYPOINT_NAMES order. An absent keypoint has
    x = y = 0 and is never used for anything.
    """

    keypoints: np.ndarray
    bbox_xywh: tuple[float, float, float, float] | None = None
    image_size: tuple[int, int] | None = None  # (width, height) in pixels
    source: str = SOURCE_HAND  # "hand", "annotation", "synthetic", or "model:<name>"
    scores: np.ndarray | None = None  # (25,) per-joint confidence in [0, 1], for estimated poses
    score: float | None = None  # the character's overall confidence, for estimated poses
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keypoints = _as_keypoints(self.keypoints)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64).reshape(skeleton.NUM_KEYPOINTS)
        if self.bbox_xywh is not None:
            self.bbox_xywh = as_xywh(self.bbox_xywh)
        if self.image_size is not None:
            self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    # -- views ---------------------------------------------------------------------------------
    @property
    def xy(self) -> np.ndarray:
        """(25, 2) pixel coordinates (absent keypoints are 0)."""
        return self.keypoints[:, :2]

    @property
    def present(self) -> np.ndarray:
        """(25,) bool: which keypoints the pose has."""
        return self.keypoints[:, 2] > ABSENT

    @property
    def is_hand_edited(self) -> bool:
        return self.source == SOURCE_HAND

    def bbox(self) -> tuple[float, float, float, float]:
        """The stored bbox, else the tight box around the present keypoints (x, y, w, h)."""
        if self.bbox_xywh is not None:
            return self.bbox_xywh
        return keypoints_bbox(self.keypoints)

    # -- transforms ----------------------------------------------------------------------------
    def copy(self, **changes) -> "Pose":
        base = replace(
            self,
            keypoints=self.keypoints.copy(),
            scores=None if self.scores is None else self.scores.copy(),
            meta=dict(self.meta),
        )
        return replace(base, **changes) if changes else base

    def swapped_sides(self) -> "Pose":
        """The same points with left and right labels swapped (what mirror search compares)."""
        out = self.copy()
        out.keypoints = self.keypoints[skeleton.FLIP_INDEX].copy()
        if self.scores is not None:
            out.scores = self.scores[skeleton.FLIP_INDEX].copy()
        return out

    def mirrored(self, width: float | None = None) -> "Pose":
        """The pose of the horizontally flipped image: x -> width - x, and left/right swapped.

        width defaults to the image width, else to the pose's bbox (flipped in place around its centre).
        """
        if width is None:
            if self.image_size is not None:
                width = float(self.image_size[0])
            else:
                x, _, w, _ = self.bbox()
                width = 2 * x + w
        out = self.swapped_sides()
        pres = out.present
        out.keypoints[pres, 0] = width - out.keypoints[pres, 0]
        if self.bbox_xywh is not None:
            x, y, w, h = self.bbox_xywh
            out.bbox_xywh = (width - x - w, y, w, h)
        return out

    def with_only(self, keep: np.ndarray) -> "Pose":
        """A copy with every keypoint outside the bool mask `keep` made absent."""
        out = self.copy()
        drop = ~np.asarray(keep, dtype=bool)
        out.keypoints[drop] = 0.0
        if out.scores is not None:
            out.scores[drop] = 0.0
        return out

    def __eq__(self, other: object) -> bool:  # value equality, arrays compared exactly
        if not isinstance(other, Pose):
            return NotImplemented
        return (
            np.array_equal(self.keypoints, other.keypoints)
            and self.bbox_xywh == other.bbox_xywh
            and self.image_size == other.image_size
            and self.source == other.source
            and _opt_equal(self.scores, other.scores)
            and self.score == other.score
        )

    def allclose(self, other: "Pose", atol: float = 1e-6) -> bool:
        """Same present keypoints, visibilities and bbox within atol pixels."""
        if not np.array_equal(self.present, other.present):
            return False
        if not np.array_equal(self.keypoints[:, 2], other.keypoints[:, 2]):
            return False
        if not np.allclose(self.xy, other.xy, atol=atol):
            return False
        return np.allclose(self.bbox(), other.bbox(), atol=atol)


def _opt_equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)


def keypoints_bbox(keypoints: np.ndarray) -> tuple[float, float, float, float]:
    """Tight (x, y, w, h) around the present keypoints; all zero when none is present."""
    kp = np.asarray(keypoints)
    pres = kp[:, 2] > ABSENT
    if not pres.any():
        return (0.0, 0.0, 0.0, 0.0)
    lo = kp[pres, :2].min(axis=0)
    hi = kp[pres, :2].max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
