"""Heatmaps -> keypoints (paper section 3.1): gaussian smoothing, argmax with sub-pixel refinement, scores.

"At inference, we gaussian-smooth the heatmaps and take the maximum pixel value index as the keypoint
prediction." As in the authors' code, the sigmoid probabilities are smoothed with a gaussian of
sigma = smoothing x heatmap size (0.1 by default) and a kernel of 2 * int(sigma) + 1 taps (reflected
borders). Beyond the paper, the argmax is refined to sub-pixel precision by fitting a parabola to the log
of the smoothed map through the maximum and its two neighbours along each axis (exact for a gaussian
peak), and each joint gets a score: the highest raw probability within one pixel of the peak.

numpy only (auto-pose runs without torch); heatmaps_torch.py decodes the same on a torch device (training's
validation on GPU), within 1e-4 px of this. Heatmap coordinates follow geometry.py: pixel (u, v) of the
map has its centre at (u, v).
"""

from __future__ import annotations

import numpy as np


def gaussian_kernel1d(sigma: float) -> np.ndarray:
    """The authors' smoothing kernel: 2 * int(sigma) + 1 taps (at least 3), normalised to sum 1 (float32)."""
    radius = max(1, int(sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _filter_axis(maps: np.ndarray, kern: np.ndarray, axis: int) -> np.ndarray:
    """Correlate (..., H, W) maps with a 1-D kernel along axis (-1 or -2), reflected borders (the edge
    pixel not repeated); a kernel longer than the map is cut to fit it and renormalised."""
    r = kern.size // 2
    size = maps.shape[axis]
    rr = min(r, size - 1)
    if rr <= 0:
        return maps
    if rr < r:
        kern = kern[r - rr : r + rr + 1]
    kern = kern / kern.sum()
    pad = [(0, 0)] * maps.ndim
    pad[axis] = (rr, rr)
    padded = np.pad(maps, pad, mode="reflect")
    out = np.zeros_like(maps)
    for tap, weight in enumerate(kern):
        out += weight * np.take(padded, np.arange(tap, tap + size), axis=axis)
    return out


def smooth_heatmaps(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable gaussian smoothing of (N, K, H, W) float32 maps with reflected borders; sigma in heatmap pixels."""
    if sigma <= 0:
        return maps
    kern = gaussian_kernel1d(sigma)
    return _filter_axis(_filter_axis(maps, kern, -1), kern, -2)


def _parabola_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex offset in (-0.5, 0.5) of the parabola through (-1, left), (0, centre), (1, right)."""
    curvature = left - 2.0 * centre + right
    offset = 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0)
    return np.clip(np.where(curvature < 0, offset, 0.0), -0.5, 0.5)


def _as_float32(logits) -> np.ndarray:
    if not isinstance(logits, np.ndarray) and hasattr(logits, "detach"):  # a torch tensor
        logits = logits.detach().float().cpu().numpy()
    return np.asarray(logits, dtype=np.float32)


def decode_heatmaps(logits, smoothing: float = 0.1, subpixel: bool = True):
    """Keypoints of (N, K, H, W) heatmap logits (numpy, or a torch tensor).

    Returns (uv, scores): uv (N, K, 2) float64 heatmap coordinates (x = column, y = row) of each map's
    smoothed maximum, refined to sub-pixel precision; scores (N, K) float64 in [0, 1], the largest raw
    sigmoid probability within one pixel of that maximum.
    """
    logits = _as_float32(logits)
    n, k, h, w = logits.shape
    with np.errstate(over="ignore"):
        probs = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    smoothed = smooth_heatmaps(probs, smoothing * max(h, w)) if smoothing > 0 else probs
    index = smoothed.reshape(n, k, h * w).argmax(axis=-1)
    iy, ix = index // w, index % w
    uv = np.stack([ix, iy], axis=-1).astype(np.float64)
    rows, cols = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    if subpixel:
        logs = np.log(np.maximum(smoothed, np.float32(1e-30))).astype(np.float64)

        def at(y: np.ndarray, x: np.ndarray) -> np.ndarray:
            return logs[rows, cols, np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]

        centre = at(iy, ix)
        dx = _parabola_offset(at(iy, ix - 1), centre, at(iy, ix + 1))
        dy = _parabola_offset(at(iy - 1, ix), centre, at(iy + 1, ix))
        dx = np.where((ix > 0) & (ix < w - 1), dx, 0.0)
        dy = np.where((iy > 0) & (iy < h - 1), dy, 0.0)
        uv = uv + np.stack([dx, dy], axis=-1)
    near = np.full((n, k), -np.inf, np.float32)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            y, x = iy + oy, ix + ox
            inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            value = probs[rows, cols, np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]
            near = np.where(inside, np.maximum(near, value), near)
    return uv, near.astype(np.float64)
