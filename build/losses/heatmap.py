"""Pixel-wise heatmap BCE (paper section 3.1): binary cross-entropy of every heatmap pixel against the
gaussian target of its keypoint, absent keypoints masked out."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def heatmap_bce(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pixel-wise BCE between heatmap logits and gaussian targets (paper section 3.1).

    logits, targets: (N, K, H, W); weights: (N, K), 1 for keypoints present in the crop and 0 for absent
    ones, whose maps take no part (nothing is known about where they are). The mean is over the pixels of
    the present keypoints' maps; a batch without any present keypoint gives 0 (with a gradient).
    Computed in float32 from logits (numerically stable under mixed precision).
    """
    if logits.shape != targets.shape:
        raise ValueError(f"heatmap logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    if weights is None:
        return per_pixel.mean()
    w = weights.float()[:, :, None, None].expand_as(per_pixel)
    return (per_pixel * w).sum() / (w.sum().clamp_min(1.0))
