"""SegmenterModule: the LightningModule that trains the character segmenter (paper sections 3.3, 4.3, 5.3).

It wraps posefinder.models.nets' segmenter (DeepLabv3-ResNet50 + three layers): the full model is fine-tuned
with pixel-wise binary cross-entropy against the composite's alpha, with Adam at the paper's 0.001.
Validation logs the loss and the mask metrics of paper Table 3 (mean F1, IoU, and the IoU of the boxes
around the masks at threshold 0.5). Mixed precision and DDP are Trainer flags.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from posefinder.build.metrics.masks import MASK_THRESHOLD, MaskMetrics
from posefinder.build.trainer import PAPER_LR
from posefinder.models import nets

#: Validation measures logged as val/<name>, from MaskMetrics.compute().
LOGGED_METRICS = ("mean_f1", "mean_iou", "bbox_iou", "pixel_f1")


def pixel_bce(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Pixel-wise binary cross-entropy (paper section 3.3) of (N, 1, H, W) logits against alpha masks."""
    return F.binary_cross_entropy_with_logits(logits.float(), masks.float())


class SegmenterModule(L.LightningModule):
    """Trains nets.create_model("segmenter", preset=preset, **net_kwargs).

    init: "coco" (torchvision's DeepLabv3 weights, the paper's starting point), "imagenet" (trunk only),
    or None (random init); pretrained weights download once.
    """

    def __init__(
        self,
        *,
        preset: str = "paper",
        net_kwargs: dict[str, Any] | None = None,
        init: str | None = None,
        lr: float = PAPER_LR,
    ) -> None:
        super().__init__()
        self.save_hyperparameters({"preset": preset, "net_kwargs": dict(net_kwargs or {}), "init": init, "lr": lr})
        self.net = nets.create_model("segmenter", preset=preset, weights=init, **(net_kwargs or {}))
        self.lr = lr
        self._metrics = MaskMetrics()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, masks = batch
        loss = pixel_bce(self.net(images), masks)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(images))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, masks = batch
        logits = self.net(images)
        self.log("val/loss", pixel_bce(logits, masks), sync_dist=True, batch_size=len(images))
        probs = torch.sigmoid(logits.float())[:, 0]
        self._metrics.update(probs.cpu().numpy(), masks[:, 0].float().cpu().numpy())

    def on_validation_epoch_end(self) -> None:
        metrics, self._metrics = self._metrics, MaskMetrics()
        if not metrics.per_image():
            return
        scores = metrics.compute()
        for name in LOGGED_METRICS:
            # each rank scored its shard (equal sizes under DistributedSampler): the mean of means is the mean
            self.log(f"val/{name}", float(scores[name]), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


@torch.no_grad()
def evaluate_masks(net: torch.nn.Module, loader, device: str | torch.device = "cpu", threshold: float = MASK_THRESHOLD) -> dict:
    """MaskMetrics.compute() of a segmenter over a loader of (images, masks), in eval mode."""
    was_training = net.training
    net.eval().to(device)
    metrics = MaskMetrics(threshold=threshold)
    try:
        for images, masks in loader:
            probs = torch.sigmoid(net(images.to(device)).float())[:, 0]
            metrics.update(probs.cpu().numpy(), masks[:, 0].float().numpy())
    finally:
        net.train(was_training)
    return metrics.compute()
