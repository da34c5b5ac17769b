"""Crop geometry of the pose pipeline: square windows around a character, crops, and exact coordinate maps.

Conventions (the same as Pose, OpenCV and models/drawing.py):
- a point (x, y) is in image pixels with the centre of pixel (column j, row i) at (j, i);
- a box (x, y, w, h) is in pixel edges: the box of pixels j0..j1 is (j0, ., j1 - j0 + 1, .); the whole
  image is (0, 0, W, H); its centre in point coordinates is (x + w/2 - 0.5, y + h/2 - 0.5);
- every resampling follows the half-pixel rule of cv2.resize and torch's interpolate(align_corners=False):
  pixel i of an n-pixel row resampled to m pixels has its centre at (i + 0.5) * n / m - 0.5 in the source.

A CropBox is a square window of whole pixels (columns left..left+side-1, rows top..top+side-1, partly
outside the image where the character is near an edge) resampled to size x size. With these conventions
the maps image <-> crop <-> heatmap are exact affine maps, so a keypoint found at a heatmap position lands
on the image pixel that the network saw there. build/ makes its training crops and heatmap targets with
the same functions, so training and inference agree to the pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CropBox:
    """A square window of the image, `side` pixels wide from pixel (left, top), resampled to `size` pixels.

    reduction: an integer factor by which the window is first block-averaged (exactly, f x f pixels into
    one) before the final area resampling, so that the window of a huge image is never held at full
    resolution (at most 4 x size pixels wide); side is a multiple of it. It changes no coordinate.
    """

    left: int
    top: int
    side: int
    size: int
    reduction: int = 1

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return self.size / self.side

    def image_to_crop(self, xy: np.ndarray) -> np.ndarray:
        """Image points (..., 2) -> crop points."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - (self.left, self.top) + 0.5) * self.scale - 0.5

    def crop_to_image(self, xy: np.ndarray) -> np.ndarray:
        """Crop points (..., 2) -> image points (the inverse of image_to_crop)."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy + 0.5) / self.scale - 0.5 + (self.left, self.top)

    def heatmap_to_image(self, uv: np.ndarray, heatmap_size: int) -> np.ndarray:
        """Heatmap points (..., 2) of a heatmap_size x heatmap_size map of this crop -> image points."""
        return self.crop_to_image(heatmap_to_crop(uv, heatmap_size, self.size))

    def image_to_heatmap(self, xy: np.ndarray, heatmap_size: int) -> np.ndarray:
        """Image points (..., 2) -> heatmap points (where a training target puts its peak)."""
        return crop_to_heatmap(self.image_to_crop(xy), heatmap_size, self.size)

    def window_xywh(self) -> tuple[float, float, float, float]:
        """The window as a box in pixel edges (may extend beyond the image)."""
        return (float(self.left), float(self.top), float(self.side), float(self.side))

    def extract(self, image: np.ndarray, fill=(255, 255, 255)) -> np.ndarray:
        """The (size, size, C) uint8 crop of an (H, W, C) uint8 image; pixels outside the image are `fill`."""
        return extract_crop(image, self, fill)


def heatmap_to_crop(uv: np.ndarray, heatmap_size: int, crop_size: int) -> np.ndarray:
    """Heatmap points -> crop points (half-pixel rule: the heatmap is the crop resampled to heatmap_size)."""
    return (np.asarray(uv, dtype=np.float64) + 0.5) * (crop_size / heatmap_size) - 0.5


def crop_to_heatmap(xy: np.ndarray, heatmap_size: int, crop_size: int) -> np.ndarray:
    """Crop points -> heatmap points (the inverse of heatmap_to_crop)."""
    return (np.asarray(xy, dtype=np.float64) + 0.5) * (heatmap_size / crop_size) - 0.5


def bbox_center(bbox_xywh) -> tuple[float, float]:
    """The centre of a box (pixel edges) in point coordinates."""
    x, y, w, h = (float(v) for v in bbox_xywh)
    return (x + w / 2.0 - 0.5, y + h / 2.0 - 0.5)


def square_crop_box(bbox_xywh, size: int, padding: float = 0.1) -> CropBox:
    """The square window centred on a box, its side the box's longer side plus `padding` of it on each side.

    This is the paper's pose crop (section 4.1: "the bounding box is centered and padded by at least 10% of
    the edge length on all sides"): the side is rounded up to whole pixels (so the padding is at least the
    requested one) and to a multiple of the reduction factor.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"a crop needs a box with a positive width and height, got {bbox_xywh}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    side = max(1, math.ceil(max(w, h) * (1.0 + 2.0 * padding) - 1e-9))
    reduction = max(1, side // (2 * int(size)))  # block-average huge windows to 2-4x the crop size first
    side = -(-side // reduction) * reduction
    cx, cy = bbox_center((x, y, w, h))
    left = int(math.floor(cx - (side - 1) / 2.0 + 0.5))
    top = int(math.floor(cy - (side - 1) / 2.0 + 0.5))
    return CropBox(left, top, side, int(size), reduction)


def whole_image_box(image_size: tuple[int, int], size: int) -> CropBox:
    """The whole (width, height) image padded to a centred square (no padding beyond that)."""
    w, h = int(image_size[0]), int(image_size[1])
    return square_crop_box((0, 0, w, h), size, padding=0.0)


def _fill_array(shape, fill, dtype) -> np.ndarray:
    out = np.empty(shape, dtype=dtype)
    out[...] = np.asarray(fill, dtype=dtype)[: shape[-1]] if len(shape) == 3 else np.asarray(fill).flat[0]
    return out


def extract_crop(image: np.ndarray, box: CropBox, fill=(255, 255, 255)) -> np.ndarray:
    """The crop of `box` from an (H, W, C) uint8 image, exact under the module's conventions."""
    import cv2

    if image.ndim != 3:
        raise ValueError(f"expected an (H, W, C) image, got shape {image.shape}")
    h_img, w_img, channels = image.shape
    f, side, n = box.reduction, box.side, box.side // box.reduction
    window = _fill_array((n, n, channels), fill, image.dtype)
    ix0, ix1 = max(box.left, 0), min(box.left + side, w_img)
    iy0, iy1 = max(box.top, 0), min(box.top + side, h_img)
    if ix0 < ix1 and iy0 < iy1:
        # the intersection, widened to whole f x f blocks of the window (the widening is filled)
        bx0 = box.left + ((ix0 - box.left) // f) * f
        bx1 = box.left + -(-(ix1 - box.left) // f) * f
        by0 = box.top + ((iy0 - box.top) // f) * f
        by1 = box.top + -(-(iy1 - box.top) // f) * f
        if (bx0, bx1, by0, by1) == (ix0, ix1, iy0, iy1):
            region = image[iy0:iy1, ix0:ix1]
        else:
            region = _fill_array((by1 - by0, bx1 - bx0, channels), fill, image.dtype)
            region[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0] = image[iy0:iy1, ix0:ix1]
        if f > 1:
            dsize = ((bx1 - bx0) // f, (by1 - by0) // f)
            region = cv2.resize(np.ascontiguousarray(region), dsize, interpolation=cv2.INTER_AREA)
            if region.ndim == 2:
                region = region[:, :, None]
        wx, wy = (bx0 - box.left) // f, (by0 - box.top) // f
        window[wy : wy + region.shape[0], wx : wx + region.shape[1]] = region
    if n == box.size:
        return window
    interp = cv2.INTER_AREA if n > box.size else cv2.INTER_LINEAR
    out = cv2.resize(window, (box.size, box.size), interpolation=interp)
    return out[:, :, None] if out.ndim == 2 else out
