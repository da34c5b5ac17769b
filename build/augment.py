"""Pose-crop geometry shared by the training data: affine crop, rotation and flip of an image and its keypoints.

Coordinates follow the estimators' crop geometry (models/estimators/geometry.py, OpenCV's convention): the
centre of pixel (column j, row i) is the point (j, i); a box (x, y, w, h) is in pixel edges, so its centre
is (x + w/2 - 0.5, y + h/2 - 0.5); resampling follows the half-pixel rule; a horizontal flip of a W-wide
image maps x to W - 1 - x. One 3x3 matrix maps image points to crop points; the image is warped with
exactly that matrix and the keypoints are multiplied by it, so both stay in register, and an unrotated,
unflipped training crop is the estimator's crop of the same box (square_crop_box) up to its rounding of
the side to whole pixels.

The crop follows the paper (section 4.1): the character's bbox is centred and padded by at least 10% of the
edge length on all sides; rotations are a full 360 degrees (the crop is sized so that the rotated bbox
still fits with its padding, so no part of the character is cut off); a horizontal flip mirrors the image
and swaps the left and right keypoint labels (skeleton.FLIP_INDEX).
"""

from __future__ import annotations

import math

import numpy as np

from posefinder.models import skeleton

#: Default padding of the bbox on each side, as a fraction of the crop's bbox edge (paper section 4.1).
PADDING = 0.1


def crop_side(bbox_xywh, *, padding: float = PADDING, angle_deg: float = 0.0, scale: float = 1.0) -> float:
    """Side (image pixels) of the square crop around a bbox rotated by angle_deg, padded on each side.

    The rotated bbox's axis-aligned extent is (|w cos| + |h sin|, |w sin| + |h cos|); its longer edge
    plus `padding` of it on both sides is the side; scale > 1 zooms in (keep scale <= 1 to keep the
    padding at least `padding`).
    """
    _, _, w, h = (float(v) for v in bbox_xywh)
    a = math.radians(angle_deg)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    extent = max(w * c + h * s, w * s + h * c, 1e-6)
    return extent * (1.0 + 2.0 * padding) / scale


def crop_matrix(
    bbox_xywh,
    out_size: int,
    *,
    padding: float = PADDING,
    angle_deg: float = 0.0,
    flip: bool = False,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """The 3x3 matrix taking image points to the points of an out_size x out_size crop.

    Centre of the bbox -> centre of the crop (plus shift, in fractions of the crop side); rotation by
    angle_deg counter-clockwise as seen on screen; uniform scaling so that the rotated, padded bbox fills
    the crop (crop_side); then, with flip, x -> out_size - 1 - x.
    """
    x, y, w, h = (float(v) for v in bbox_xywh)
    cx, cy = x + w / 2.0 - 0.5, y + h / 2.0 - 0.5
    k = out_size / crop_side(bbox_xywh, padding=padding, angle_deg=angle_deg, scale=scale)
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    rotate_scale = np.array([[k * cos, k * sin, 0], [-k * sin, k * cos, 0], [0, 0, 1]], dtype=np.float64)
    to_crop = np.array(
        [[1, 0, out_size * (0.5 + shift[0]) - 0.5], [0, 1, out_size * (0.5 + shift[1]) - 0.5], [0, 0, 1]],
        dtype=np.float64,
    )
    m = to_crop @ rotate_scale @ to_origin
    if flip:
        m = np.array([[-1, 0, out_size - 1], [0, 1, 0], [0, 0, 1]], dtype=np.float64) @ m
    return m


def matrix_scale(matrix: np.ndarray) -> float:
    """The uniform scale factor of a similarity matrix (crop pixels per image pixel)."""
    return float(math.sqrt(abs(np.linalg.det(matrix[:2, :2]))))


def is_flipped(matrix: np.ndarray) -> bool:
    """Whether a matrix mirrors (negative determinant), i.e. left and right labels must be swapped."""
    return bool(np.linalg.det(matrix[:2, :2]) < 0)


def transform_points(xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points mapped by a 3x3 matrix."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return xy @ matrix[:2, :2].T + matrix[:2, 2]


def transform_keypoints(keypoints: np.ndarray, matrix: np.ndarray, out_size: int | None = None) -> np.ndarray:
    """(25, 3) keypoints [x, y, v] mapped into the crop.

    When the matrix mirrors, the labels are swapped (FLIP_INDEX) so that "left" stays the character's
    left. With out_size, points that land outside the crop's pixels become absent (v = 0, x = y = 0).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    out = kp.copy()
    present = kp[:, 2] > 0
    out[present, :2] = transform_points(kp[present, :2], matrix)
    out[~present] = 0.0
    if is_flipped(matrix):
        out = out[skeleton.FLIP_INDEX]
    if out_size is not None:
        lo, hi = -0.5, out_size - 0.5
        inside = (out[:, 0] >= lo) & (out[:, 0] < hi) & (out[:, 1] >= lo) & (out[:, 1] < hi)
        out[~inside] = 0.0
    return out


def invert_keypoints(keypoints: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop keypoints (25, 3) back to image coordinates (undoing a flip's label swap too)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if is_flipped(matrix):
        kp = kp[skeleton.FLIP_INDEX]
    out = kp.copy()
    present = kp[:, 2] > 0
    out[present, :2] = transform_points(kp[present, :2], np.linalg.inv(matrix))
    out[~present] = 0.0
    return out


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size: int, fill=(255, 255, 255)) -> np.ndarray:
    """The out_size x out_size crop of an (H, W, C) uint8 image under `matrix` (bilinear, `fill` outside).

    Strong shrinking first reduces the image with area averaging (no aliasing); the composite map is
    still exactly `matrix`.
    """
    import cv2

    m = np.asarray(matrix, dtype=np.float64)
    k = matrix_scale(m)
    src = image
    if k < 0.5:
        h, w = image.shape[:2]
        nw, nh = max(1, round(w * k * 2)), max(1, round(h * k * 2))
        src = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        # cv2.resize's half-pixel rule: point p of the original is (p + 0.5) * ratio - 0.5 of the reduced image
        down = np.array([[nw / w, 0, 0.5 * nw / w - 0.5], [0, nh / h, 0.5 * nh / h - 0.5], [0, 0, 1]])
        m = m @ np.linalg.inv(down)
    channels = 1 if src.ndim == 2 else src.shape[2]
    border = tuple(float(v) for v in (fill if np.ndim(fill) else [fill] * channels))
    out = cv2.warpAffine(
        np.ascontiguousarray(src), m[:2], (out_size, out_size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=border,
    )  # fmt: skip
    if out.ndim == 2 and src.ndim == 3:
        out = out[:, :, None]
    return out


def jitter_colour(image: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """Random recolouring (paper section 4): brightness, contrast and saturation each scaled by a factor in
    [1 - strength, 1 + strength], and a hue rotation of up to strength x 180 degrees."""
    if strength <= 0:
        return image
    x = image.astype(np.float32) / 255.0
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    x = x * b
    mean = x.mean()
    x = (x - mean) * c + mean
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = (x - grey[..., None]) * s + grey[..., None]
    theta = rng.uniform(-strength, strength) * math.pi
    x = _rotate_hue(x, theta)
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _rotate_hue(x: np.ndarray, theta: float) -> np.ndarray:
    # rotation about the grey axis of RGB space (keeps luminance roughly, changes hue by theta)
    cos, sin = math.cos(theta), math.sin(theta)
    k = 1.0 / 3.0
    sq = math.sqrt(k)
    m = np.array(
        [
            [cos + (1 - cos) * k, k * (1 - cos) - sq * sin, k * (1 - cos) + sq * sin],
            [k * (1 - cos) + sq * sin, cos + k * (1 - cos), k * (1 - cos) - sq * sin],
            [k * (1 - cos) - sq * sin, k * (1 - cos) + sq * sin, cos + k * (1 - cos)],
        ],
        dtype=np.float32,
    )
    return x @ m.T
