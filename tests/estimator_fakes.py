"""Fake networks with known answers for the estimator pipeline's tests, images to feed them, tiny model files.

Images: a white background, characters as rectangles that are cyan (red channel low: the fake segmenter's
foreground) with dark blobs in the blue channel only (what the fake pose network looks at), so the
segmenter sees boxes and the pose network sees gaussian peaks whose centres are known to sub-pixel
precision.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from posefinder.models import nets, skeleton, weights
from posefinder.models.nets.bundle import ModelBundle


class BlobPoseNet(nn.Module):
    """Heatmap logits whose sigmoid is the crop's blue-channel darkness resampled to the heatmap size
    (all 25 maps alike): the decoded keypoints are the darkest blob's centre."""

    def __init__(self, heatmap_size: int) -> None:
        super().__init__()
        self.heatmap_size = heatmap_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dark = 1.0 - x[:, 2:3]
        if dark.shape[-1] != self.heatmap_size:
            dark = F.interpolate(dark, size=(self.heatmap_size,) * 2, mode="bilinear", align_corners=False,
                                 antialias=dark.shape[-1] > self.heatmap_size)  # fmt: skip
        d = dark.clamp(1e-6, 1 - 1e-6)
        return torch.log(d / (1 - d)).expand(-1, skeleton.NUM_KEYPOINTS, -1, -1).contiguous()


class RedSegmenter(nn.Module):
    """Foreground logits: positive where the red channel is below 0.8 (the cyan rectangles)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 40.0 * (0.8 - x[:, 0:1])


def blob_image(size_wh, rects, blobs, sigma: float) -> np.ndarray:
    """(H, W, 3) uint8: white, cyan rectangles (x, y, w, h in pixel edges), blue-channel gaussian blobs of
    sigma pixels centred at the given (x, y) points (pixel centres at integers)."""
    w, h = size_wh
    img = np.full((h, w, 3), 255, np.uint8)
    for x, y, rw, rh in rects:
        img[max(y, 0) : y + rh, max(x, 0) : x + rw, 0] = 60
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    blue = np.ones((h, w))
    for bx, by in blobs:
        blue -= 0.98 * np.exp(-((xs - bx) ** 2 + (ys - by) ** 2) / (2 * sigma**2))
    img[:, :, 2] = np.clip(np.round(255 * blue), 0, 255).astype(np.uint8)
    return img


def tiny_model_file(folder, *, segmenter: bool = True, name: str = "tiny", arch: str = "pose_matching", **card_kw):
    """A model file as build/ exports it (weights.save_model of a ModelBundle), with tiny random networks."""
    torch.manual_seed(0)
    bundle = ModelBundle(
        nets.create_model(arch, preset="tiny"), nets.create_model("segmenter", preset="tiny") if segmenter else None
    )
    card = weights.make_card(bundle, name=name, segmenter_input_size=64 if segmenter else None, **card_kw)
    return weights.save_model(folder / f"{name}.safetensors", bundle, card)
