"""Correcting a stored library pose on its image, exactly: no edit changes nothing, an edit maps back.

A stored pose lives in the pixels of the image it was made for (its image_size); the canvas shows it over
the image file as it is now. `CorrectionFrame.plan(stored, real_size)` finds the scale between the two:
1 when the sizes agree (or the pose records none), the real scale when the file was resized keeping its
proportions (e.g. annotated at 1000 x 1500, stored as a 400 x 600 copy), and a LibraryError when the
proportions differ (another picture, or a crop): the pose cannot be placed on it without guessing, and
guessing (a refit) would move every joint when the user saves.

`to_canvas()` is the pose in the file's pixels; `edited(keypoints, on)` maps the canvas's skeleton back:
None when nothing changed (saving is then a no-op, bit for bit); otherwise a pose in the stored pose's
pixels where every joint the user neither moved nor switched keeps its stored value exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models.errors import LibraryError
from posefinder.models.pose import ABSENT, SOURCE_HAND, Pose

#: Relative difference of the two scales (width, height) up to which a resized image counts as the same
#: picture (rounding a resized side to whole pixels changes its scale by up to 1 / side).
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class CorrectionFrame:
    """A stored pose and the (sx, sy) scale from its pixels to the image file's (canvas) pixels."""

    stored: Pose
    scale: tuple[float, float]
    canvas_size: tuple[int, int] | None

    @classmethod
    def plan(cls, stored: Pose, real_size: tuple[int, int] | None) -> "CorrectionFrame":
        """The frame of a correction on an image of real_size (width, height; None: no image).

        LibraryError when the stored pose's image_size has other proportions than the image's."""
        if real_size is None:
            return cls(stored, (1.0, 1.0), stored.image_size)
        real = (int(real_size[0]), int(real_size[1]))
        if stored.image_size is None or tuple(stored.image_size) == real:
            return cls(stored, (1.0, 1.0), real)
        w0, h0 = stored.image_size
        if w0 <= 0 or h0 <= 0:
            return cls(stored, (1.0, 1.0), real)
        sx, sy = real[0] / w0, real[1] / h0
        if abs(sx - sy) > ASPECT_TOLERANCE * max(sx, sy):
            raise LibraryError(
                f"the stored pose was made for a {w0} x {h0} image but the file is {real[0]} x {real[1]} "
                "(other proportions: another picture or a crop), so it cannot be placed on it; re-index the "
                "image or correct the pose in its own file"
            )
        return cls(stored, (sx, sy), real)

    def _scale(self) -> np.ndarray:
        return np.array(self.scale, dtype=np.float64)

    def to_canvas(self) -> Pose:
        """The stored pose in the image file's pixels (what the canvas shows)."""
        out = self.stored.copy(image_size=self.canvas_size)
        pres = out.present
        if self.scale != (1.0, 1.0):
            out.keypoints[pres, :2] = self.stored.keypoints[pres, :2] * self._scale()
            if out.bbox_xywh is not None:
                x, y, w, h = out.bbox_xywh
                sx, sy = self.scale
                out.bbox_xywh = (x * sx, y * sy, w * sx, h * sy)
        return out

    def edited(self, keypoints: np.ndarray, on: np.ndarray) -> Pose | None:
        """The corrected pose (source "hand", in the stored pose's pixels) of the canvas's keypoints
        ((25, 3), canvas pixels) with joints `on`; None when it is the stored pose unchanged."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        on = np.asarray(on, dtype=bool)
        shown = self.to_canvas().keypoints
        stored = self.stored.keypoints
        present = stored[:, 2] > ABSENT
        same = present & on & np.all(keypoints == shown, axis=1)
        if np.array_equal(on, present) and same[present].all():
            return None
        out = np.zeros_like(stored)
        out[same] = stored[same]
        moved = on & ~same
        out[moved, :2] = keypoints[moved, :2] / self._scale()
        out[moved, 2] = keypoints[moved, 2]
        return Pose(out, image_size=self.stored.image_size, source=SOURCE_HAND)
