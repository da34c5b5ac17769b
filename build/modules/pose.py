"""LightningModules of the paper's pose networks (section 3.1): feature concatenation and feature matching.

PoseModule wraps a network of models/nets/pose.py (never redefines it):
- loss: pixel-wise heatmap BCE against gaussian targets (losses.heatmap_bce), absent keypoints masked;
  for feature matching plus matcher_weight x the matcher MSE (losses.matcher_mse) between the matcher's
  output and the frozen task source's keypoint features of the same crop. The task source (Keypoint R-CNN,
  or a small stand-in) lives in this module only for training: it is not part of the exported model.
- optimiser: Adam at the paper's learning rate 0.001 (section 5) over the trainable parameters (the
  frozen sources excluded), with the authors' cosine schedule over the run's steps (or constant).
- validation: heatmaps -> keypoints as the estimators decode them (models/estimators/heatmaps.py) and the
  paper's metrics (metrics/pose.py) in crop pixels, logged as val/oks50, val/oks75, ...
- exact resume: `batches_seen` (a buffer, so in every checkpoint) tells the training stream where to go
  on (ResumableLoader), so a run stopped and resumed sees the same batches as one that never stopped.
Devices, precision and DDP are Trainer flags (build/trainer.py); nothing here depends on them.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import lightning as L
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from posefinder.build.data.pose import ResumableBatches
from posefinder.build.losses import heatmap_bce, matcher_mse
from posefinder.build.metrics import pose as pose_metrics
from posefinder.models import nets
from posefinder.models.estimators.geometry import heatmap_to_crop
from posefinder.models.estimators.heatmaps_torch import decode_heatmaps

#: CLI/architecture name -> pose builder.
ARCHITECTURES = {"matching": "pose_matching", "concat": "pose_concat"}

#: Inference smoothing of the authors' code and of model cards: gaussian sigma as a fraction of the heatmap size.
DEFAULT_SMOOTHING = 0.1


def crop_keypoints(logits: torch.Tensor, crop_size: int, smoothing: float = DEFAULT_SMOOTHING) -> torch.Tensor:
    """(N, K, 3) [x, y, score] in crop points from (N, K, H, W) heatmap logits, decoded exactly as the
    estimators do (models/estimators/heatmaps.decode_heatmaps: smoothing, argmax, sub-pixel refinement;
    geometry.heatmap_to_crop)."""
    uv, scores = decode_heatmaps(logits.detach(), smoothing=smoothing)
    xy = heatmap_to_crop(uv, logits.shape[-1], crop_size)
    return torch.from_numpy(np.concatenate([xy, scores[..., None]], axis=-1)).float()


class PoseModule(L.LightningModule):
    """Trains FeatureConcatenationPose or FeatureMatchingPose (see the module docstring).

    net_kwargs go to the pose builder (after the preset's); task_kwargs build the matching target
    (`task_source` builder; ignored for concatenation, whose task source is inside the network);
    train_sources trains the tagger trunk too (for random-init runs; the paper keeps its trained tagger
    frozen); tagger_state: a trained tagger's state dict loaded into the trunk; max_time_s: the run's time
    limit (Trainer max_time), over which the cosine schedule anneals when time runs out before the steps.
    net: an already built (trained) network of the architecture to train on, instead of a new one from
    the builder (fine-tuning). matcher_weight 0 builds no task source: the matcher of a feature matching
    network then learns from the heatmap loss alone (fine-tuning has no Keypoint R-CNN to match).
    """

    def __init__(
        self,
        *,
        architecture: str = "matching",
        preset: str | None = "paper",
        net_kwargs: dict[str, Any] | None = None,
        task_preset: str | None = "paper",
        task_kwargs: dict[str, Any] | None = None,
        lr: float = 1e-3,
        schedule: str = "cosine",
        matcher_weight: float = 1.0,
        train_sources: bool = False,
        smoothing: float = DEFAULT_SMOOTHING,
        max_time_s: float | None = None,
        tagger_state: dict[str, torch.Tensor] | None = None,
        net: Any = None,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, not {architecture!r}")
        if schedule not in ("cosine", "constant"):
            raise ValueError("schedule must be 'cosine' or 'constant'")
        self.save_hyperparameters(ignore=["tagger_state", "net"])
        self.architecture = architecture
        if net is not None:  # a trained network to go on training (fine-tuning: build/finetune.py)
            if nets.ARCHITECTURES.get(getattr(net, "architecture", "")) != ARCHITECTURES[architecture]:
                raise ValueError(f"the network given is a {getattr(net, 'architecture', '?')} one, not {architecture}")
            self.net = net
        else:
            self.net = nets.create_model(ARCHITECTURES[architecture], preset=preset, **dict(net_kwargs or {}))
        if tagger_state is not None:
            self.net.tagger.load_tagger_weights(tagger_state)
        self.net.train_sources = bool(train_sources)
        if train_sources:
            self.net.tagger.requires_grad_(True)
        self.task = None
        if architecture == "matching" and matcher_weight > 0:  # weight 0: the matcher learns from the heatmaps only
            self.task = nets.create_model("task_source", preset=task_preset, **dict(task_kwargs or {}))
            self.task.requires_grad_(False)
            self.task.eval()
            with torch.no_grad():
                probe = torch.zeros(1, 3, self.net.input_size, self.net.input_size)
                shape = tuple(self.task(probe)["keypoint_features"].shape[1:])
            if shape[0] != self.net.matched_shape[0] or shape[1] < self.net.matched_shape[1]:
                raise ValueError(
                    f"the matcher predicts {self.net.matched_shape} but the task source gives {shape}: set the "
                    "pose network's task_feature_channels (and a task_feature_size no larger) to the task source's"
                )
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.limb_lengths: dict[str, float] | None = None
        self.last_metrics: pose_metrics.PoseMetrics | None = None
        self._t_start: float | None = None

    # -- training -----------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        super().train(mode)
        if self.task is not None:
            self.task.eval()  # frozen: batch-norm statistics stay the source's
        return self

    def losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(heatmap logits, {"loss", "heatmap_bce"[, "matcher_mse"]}) of a batch."""
        x = batch["image"]
        out: dict[str, torch.Tensor] = {}
        if self.architecture == "matching" and self.task is None:  # matcher_weight 0: no matching target
            logits = self.net(x)
        elif self.architecture == "matching":
            assert self.task is not None
            pred = self.net.forward_train(x)
            with torch.no_grad():
                target = self.task(x)["keypoint_features"]
                if target.shape[-2:] != pred["matched"].shape[-2:]:  # a matcher smaller than R-CNN's 14 x 14
                    target = F.adaptive_avg_pool2d(target, pred["matched"].shape[-2:])
            out["matcher_mse"] = matcher_mse(pred["matched"], target)
            logits = pred["heatmaps"]
        else:
            logits = self.net(x)
        out["heatmap_bce"] = heatmap_bce(logits, batch["heatmaps"], batch["weights"])
        out["loss"] = out["heatmap_bce"] + self.hparams["matcher_weight"] * out.get("matcher_mse", 0.0)
        return logits, out

    def training_step(self, batch, batch_idx):
        # counted here, before any checkpoint of this step is written (callbacks run before module hooks)
        self.batches_seen += 1
        _, losses = self.losses(batch)
        n = batch["image"].shape[0]
        for k, v in losses.items():
            self.log(f"train/{k}", v.detach(), batch_size=n, prog_bar=k == "loss")
        return losses["loss"]

    def configure_optimizers(self):
        if self.hparams["train_sources"]:  # the tagger trunk learns too (random-init runs)
            params = [p for p in self.net.parameters() if p.requires_grad]
        else:
            params = self.net.trainable_parameters()
        opt = torch.optim.Adam(params, lr=self.hparams["lr"])
        if self.hparams["schedule"] == "constant":
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: self._cosine(step, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def _cosine(self, step: int, total: int) -> float:
        """Cosine annealing factor over the run: by steps, or by time when the run has a time limit and time
        is further along (a time-limited run still ends at a learning rate near 0)."""
        progress = min(step, total) / total
        if self.hparams["max_time_s"]:
            progress = max(progress, min(1.0, self._training_seconds() / self.hparams["max_time_s"]))
        return 0.5 * (1 + math.cos(math.pi * progress))

    def _training_seconds(self) -> float:
        """Seconds trained so far: Lightning's Timer (which counts resumed runs' time too), else since start."""
        from lightning.pytorch.callbacks import Timer

        trainer = self._trainer
        # Trainer.callbacks is set by Lightning's callback connector, not declared on the class
        for cb in trainer.callbacks if trainer is not None else ():  # pyright: ignore[reportAttributeAccessIssue]
            if isinstance(cb, Timer):
                return float(cb.time_elapsed("train"))
        return 0.0 if self._t_start is None else time.perf_counter() - self._t_start

    def on_train_start(self) -> None:
        self._t_start = time.perf_counter()

    # -- validation ---------------------------------------------------------------------------------
    def predict_keypoints(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 25, 3) [x, y, score] in crop pixels for (N, 3, S, S) crops."""
        return crop_keypoints(self.net(images), self.net.input_size, self.hparams["smoothing"])

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch, batch_idx):
        logits, losses = self.losses(batch)
        n = batch["image"].shape[0]
        for k, v in losses.items():
            self.log(f"val/{k}", v, batch_size=n, sync_dist=True)
        pred = crop_keypoints(logits, self.net.input_size, self.hparams["smoothing"]).to(logits.device)
        pred[..., 2] = 2.0  # every keypoint is predicted
        self._val.append((batch["keypoints"].float(), pred, batch["area"].float()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        gt = torch.cat([v[0] for v in self._val])
        pred = torch.cat([v[1] for v in self._val])
        area = torch.cat([v[2] for v in self._val])
        if self.trainer.world_size > 1:
            gt, pred, area = (cast(torch.Tensor, self.all_gather(t)).flatten(0, 1) for t in (gt, pred, area))
        gt_np, pred_np, area_np = (t.detach().cpu().double().numpy() for t in (gt, pred, area))
        metrics = pose_metrics.evaluate_arrays(gt_np, pred_np, area_np)
        self.last_metrics = metrics
        for k, v in metrics.overall.items():  # the same on every rank (gathered): every rank's checkpointing sees it
            self.log(f"val/{k}", float(v) if np.isfinite(v) else 0.0)
        self._val = []


class ResumableLoader(DataLoader):
    """A DataLoader over ResumableBatches that, each time an epoch's iterator is made, starts the stream at
    the module's `batches_seen` and tells it the DDP rank (so resumed runs repeat no batch and skip none)."""

    def __init__(self, stream: ResumableBatches, module: PoseModule, **kwargs) -> None:
        kwargs.setdefault("persistent_workers", False)
        super().__init__(stream, batch_size=None, **kwargs)
        self._stream = stream  # self.dataset, typed
        self._module = module

    def _sync(self) -> None:
        module = self._module
        trainer = module._trainer if module is not None else None
        if trainer is not None:
            self._stream.set_distributed(trainer.global_rank, trainer.world_size)
        if module is not None:
            self._stream.start = int(module.batches_seen)

    def __len__(self) -> int:
        self._sync()
        return len(self._stream)

    def __iter__(self):
        self._sync()
        return super().__iter__()
