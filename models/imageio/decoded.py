"""What reading an image gives: the pixels to show and estimate on, and what they stand for in the file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Decoded:
    """image: (H, W, 3) uint8 RGB. canvas_size: (width, height) of the picture as its application opens it,
    which is larger than the image where the file only holds a smaller preview. kind: the file's type
    ("PNG", "Photoshop", "Clip Studio", ...). working_file: a painting application's document."""

    image: np.ndarray
    kind: str
    canvas_size: tuple[int, int] | None = None
    preview: bool = False  # the image is a preview stored in the file, not the composite at full size
    working_file: bool = False

    def __post_init__(self) -> None:
        if self.canvas_size is None:
            self.canvas_size = (int(self.image.shape[1]), int(self.image.shape[0]))

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): canvas pixels per image pixel (1, 1 unless the image is a smaller preview)."""
        h, w = self.image.shape[:2]
        cw, ch = self.canvas_size or (w, h)  # set by __post_init__
        return cw / float(w), ch / float(h)

    def to_canvas(self, poses: list) -> list:
        """Poses estimated on the image, in canvas pixels (scaled from a preview), image_size the canvas's."""
        sx, sy = self.scale
        out = []
        for pose in poses:
            moved = pose.copy(image_size=self.canvas_size)
            if (sx, sy) != (1.0, 1.0):
                present = moved.present
                moved.keypoints[present, 0] *= sx
                moved.keypoints[present, 1] *= sy
                if moved.bbox_xywh is not None:
                    x, y, w, h = moved.bbox_xywh
                    moved.bbox_xywh = (x * sx, y * sy, w * sx, h * sy)
            out.append(moved)
        return out
