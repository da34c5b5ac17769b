"""Heatmaps -> keypoints in torch, on the logits' device: training's validation (build/modules/pose.py) on GPU.

The same decoding as heatmaps.py (numpy; what auto-pose runs, with or without torch), to within 1e-4 px
(tests/models/test_heatmaps.py): gaussian smoothing, argmax with sub-pixel refinement, scores.

"At inference, we gaussian-smooth the heatmaps and take the maximum pixel value index as the keypoint
prediction." As in the authors' code, the sigmoid probabilities are smoothed with a gaussian of
sigma = smoothing x heatmap size (0.1 by default) and a kernel of 2 * int(sigma) + 1 taps (reflected
borders). Beyond the paper, the argmax is refined to sub-pixel precision by fitting a parabola to the log
of the smoothed map through the maximum and its two neighbours along each axis (exact for a gaussian
peak), and each joint gets a score: the highest raw probability within one pixel of the peak.

Heatmap coordinates follow geometry.py: pixel (u, v) of the map has its centre at (u, v).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kernel1d(sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """The authors' smoothing kernel: 2 * int(sigma) + 1 taps (at least 3), normalised to sum 1."""
    radius = max(1, int(sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def smooth_heatmaps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian smoothing of (N, K, H, W) maps with reflected borders; sigma in heatmap pixels."""
    if sigma <= 0:
        return maps
    n, k, h, w = maps.shape
    kern = gaussian_kernel1d(sigma, maps.dtype, maps.device)
    r = kern.numel() // 2
    x = maps.reshape(n * k, 1, h, w)
    rx, ry = min(r, w - 1), min(r, h - 1)  # reflect padding needs pad < size
    kx = kern[r - rx : r + rx + 1] if rx < r else kern
    ky = kern[r - ry : r + ry + 1] if ry < r else kern
    kx, ky = kx / kx.sum(), ky / ky.sum()
    if rx > 0:
        x = F.conv2d(F.pad(x, (rx, rx, 0, 0), mode="reflect"), kx.view(1, 1, 1, -1))
    if ry > 0:
        x = F.conv2d(F.pad(x, (0, 0, ry, ry), mode="reflect"), ky.view(1, 1, -1, 1))
    return x.reshape(n, k, h, w)


def _parabola_offset(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex offset in (-0.5, 0.5) of the parabola through (-1, left), (0, centre), (1, right)."""
    curvature = left - 2.0 * centre + right
    offset = 0.5 * (left - right) / torch.where(curvature < 0, curvature, torch.full_like(curvature, -1.0))
    return torch.where(curvature < 0, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)


@torch.no_grad()
def decode_heatmaps(logits: torch.Tensor, smoothing: float = 0.1, subpixel: bool = True):
    """Keypoints of (N, K, H, W) heatmap logits.

    Returns (uv, scores): uv (N, K, 2) float64 heatmap coordinates (x = column, y = row) of each map's
    smoothed maximum, refined to sub-pixel precision; scores (N, K) float64 in [0, 1], the largest raw
    sigmoid probability within one pixel of that maximum.
    """
    logits = logits.float()
    n, k, h, w = logits.shape
    probs = torch.sigmoid(logits)
    smoothed = smooth_heatmaps(probs, smoothing * max(h, w)) if smoothing > 0 else probs
    flat = smoothed.reshape(n, k, h * w)
    index = flat.argmax(dim=-1)
    iy, ix = index // w, index % w
    uv = torch.stack([ix, iy], dim=-1).to(torch.float64)
    if subpixel:
        logs = torch.log(smoothed.clamp_min(1e-30)).to(torch.float64)

        def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            y, x = y.clamp(0, h - 1), x.clamp(0, w - 1)
            return logs.reshape(n, k, h * w).gather(-1, (y * w + x).unsqueeze(-1)).squeeze(-1)

        centre = at(iy, ix)
        dx = _parabola_offset(at(iy, ix - 1), centre, at(iy, ix + 1))
        dy = _parabola_offset(at(iy - 1, ix), centre, at(iy + 1, ix))
        dx = torch.where((ix > 0) & (ix < w - 1), dx, torch.zeros_like(dx))
        dy = torch.where((iy > 0) & (iy < h - 1), dy, torch.zeros_like(dy))
        uv = uv + torch.stack([dx, dy], dim=-1)
    near_max = F.max_pool2d(probs.reshape(n * k, 1, h, w), 3, stride=1, padding=1).reshape(n, k, h * w)
    scores = near_max.gather(-1, index.unsqueeze(-1)).squeeze(-1).to(torch.float64)
    return uv.cpu().numpy(), scores.cpu().numpy()

