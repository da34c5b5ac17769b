"""TaggerModule: the LightningModule that trains the illustration tagger (paper sections 3.2 and 5.2).

It wraps posefinder.models.nets' tagger (never redefines it): class-balanced BCE (eq. 1-3) from the training
set's class counts, Adam at the paper's learning rate 0.001; the paper's batch size 32 with gradients
accumulated for an effective 512 is a Trainer flag (--accumulate 16), as are mixed precision and DDP.
Validation logs the loss and the micro/macro F1 at per-class thresholds chosen on the validation set itself
(a progress signal; the honest test F1 uses thresholds from validation: predict_probabilities + evaluate_tagger).
"""

from __future__ import annotations

from typing import Any, Sequence, cast

import lightning as L
import numpy as np
import torch

from posefinder.build.losses.class_balanced import ClassBalancedBCE
from posefinder.build.metrics.tags import best_thresholds, tag_f1
from posefinder.build.trainer import PAPER_LR
from posefinder.models import nets


class TaggerModule(L.LightningModule):
    """Trains nets.create_model("tagger", preset=preset, num_classes=..., **net_kwargs).

    positives, total: N_i per class and N of the training set (paper eq. 3), for the class-balanced loss.
    init: "imagenet" (the paper's starting point, downloads once) or None (random init).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        positives: Sequence[int],
        total: int,
        preset: str = "paper",
        net_kwargs: dict[str, Any] | None = None,
        init: str | None = None,
        lr: float = PAPER_LR,
    ) -> None:
        super().__init__()
        positives = [int(p) for p in positives]
        if len(positives) != num_classes:
            raise ValueError(f"{len(positives)} class counts for {num_classes} classes")
        self.save_hyperparameters(
            {"num_classes": num_classes, "positives": positives, "total": int(total), "preset": preset,
             "net_kwargs": dict(net_kwargs or {}), "init": init, "lr": lr}
        )  # fmt: skip
        self.net = nets.create_model("tagger", preset=preset, num_classes=num_classes, weights=init, **(net_kwargs or {}))
        self.loss = ClassBalancedBCE(positives, total)
        self.lr = lr
        self._val_probs: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = self.loss(self.net(images), labels)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(images))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        logits = self.net(images)
        self.log("val/loss", self.loss(logits, labels), sync_dist=True, batch_size=len(images))
        self._val_probs.append(torch.sigmoid(logits.float()).detach())
        self._val_labels.append(labels.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._val_probs:
            return
        probs, labels = torch.cat(self._val_probs), torch.cat(self._val_labels)
        self._val_probs.clear()
        self._val_labels.clear()
        if self.trainer.world_size > 1:  # every rank holds its shard (DistributedSampler pads them equal)
            probs = cast(torch.Tensor, self.all_gather(probs)).flatten(0, 1)
            labels = cast(torch.Tensor, self.all_gather(labels)).flatten(0, 1)
        probs_np, labels_np = probs.cpu().numpy(), labels.cpu().numpy()
        tuned = tag_f1(probs_np, labels_np, best_thresholds(probs_np, labels_np))
        flat = tag_f1(probs_np, labels_np, 0.5)
        for key, value in (("val/micro_f1", tuned["micro_f1"]), ("val/macro_f1", tuned["macro_f1"]),
                           ("val/micro_f1_at_0.5", flat["micro_f1"])):  # fmt: skip
            self.log(key, float(np.nan_to_num(value)))  # equal on every rank: all were gathered

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        images, labels = batch
        return torch.sigmoid(self.net(images).float()), labels

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


@torch.no_grad()
def predict_probabilities(net: torch.nn.Module, loader, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(probabilities (N, C), labels (N, C)) of a tagger over a loader of (images, labels), in eval mode."""
    was_training = net.training
    net.eval().to(device)
    probs, labels = [], []
    try:
        for images, batch_labels in loader:
            probs.append(torch.sigmoid(net(images.to(device)).float()).cpu())
            labels.append(batch_labels)
    finally:
        net.train(was_training)
    if not probs:
        return np.zeros((0, 0)), np.zeros((0, 0))
    return torch.cat(probs).numpy(), torch.cat(labels).numpy()
