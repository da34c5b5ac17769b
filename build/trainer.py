"""The Trainer options every `posefinder-train` command shares, the Lightning Trainer they make, and export.

    add_trainer_arguments(parser)    --devices, --num-nodes, --accelerator, --strategy, --precision,
                                     --max-steps/--max-epochs, --batch-size, --workers, --lr, --accumulate,
                                     --out DIR, --resume CKPT / --fresh, --seed, --log-every, --checkpoint-every,
                                     --progress
    make_trainer(args, name)         a lightning.Trainer: ModelCheckpoint (last.ckpt + the best by `monitor`)
                                     under OUT/checkpoints, a CSV logger under OUT/logs, a progress bar or
                                     progress lines; DDP when more than one device or node.
    fit(trainer, module, args, ...)  trainer.fit resuming from --resume, else from OUT/checkpoints/last.ckpt.
    export_bundle(path, pose=..., segmenter=..., tagger=..., metrics=...)
                                     a model file (safetensors + card, models/weights.py) with the measured
                                     metrics; without a pose network, a model file of the networks given
                                     that models/weights.py's load_component reads back (e.g. a trained
                                     tagger that `posefinder-train pose --tagger FILE` starts from).

Devices, nodes, precision and strategy are Trainer flags only (DESIGN.md): the LightningModules never look
at them. Defaults are the paper's (section 5: Adam, learning rate 0.001, batch size 32, 1,000 epochs).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from posefinder.models.errors import PoseFinderError

#: The paper's training defaults (section 5): Adam at 0.001, batch size 32, 1,000 epochs.
PAPER_LR = 1e-3
PAPER_BATCH_SIZE = 32
PAPER_MAX_EPOCHS = 1000

PRECISIONS = ("32", "16-mixed", "bf16-mixed")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "single_device")

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
LAST_CHECKPOINT = "last.ckpt"

class TrainingError(PoseFinderError):
    """Training options or data that cannot work: one sentence that says what to change."""


# -- options ---------------------------------------------------------------------------------------


def _devices(text: str) -> int | str | list[int]:
    """--devices: "auto", a count ("2", "-1" = all) or a comma-separated list of device ids ("0,2")."""
    text = str(text).strip()
    if text == "auto":
        return "auto"
    try:
        if "," in text:
            ids = [int(t) for t in text.split(",") if t.strip()]
            if not ids or min(ids) < 0:
                raise ValueError
            return ids
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, a count (2; -1 = all) or device ids (0,1)") from None
    if count == 0 or count < -1:
        raise argparse.ArgumentTypeError(f"{text!r}: give auto, a count of at least 1, -1 for all, or device ids")
    return count


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def add_trainer_arguments(
    parser: argparse.ArgumentParser,
    *,
    batch_size: int = PAPER_BATCH_SIZE,
    max_epochs: int = PAPER_MAX_EPOCHS,
    lr: float = PAPER_LR,
    out: str | None = None,
) -> None:
    """Add the shared Trainer options to a command's parser (defaults: the paper's, section 5)."""
    g = parser.add_argument_group("training (devices, precision, length, checkpoints, logs)")
    g.add_argument("--out", type=Path, default=Path(out) if out else None, metavar="DIR",
                   help="run folder: checkpoints/ (last.ckpt and the best), logs/ (CSV), the exported model"
                        + (f" (default {out})" if out else " (default runs/<command>)"))
    g.add_argument("--resume", type=Path, metavar="CKPT",
                   help="resume from this checkpoint (default: OUT/checkpoints/last.ckpt when it exists)")
    g.add_argument("--fresh", action="store_true", help="start from scratch even when OUT has a last.ckpt")
    g.add_argument("--accelerator", choices=ACCELERATORS, default="auto",
                   help="hardware: auto (a GPU when there is one), cpu, gpu/cuda, mps (default auto)")
    g.add_argument("--devices", type=_devices, default="auto", metavar="N|IDS",
                   help="devices per node: a count (-1 = all), ids like 0,1, or auto (default auto)")
    g.add_argument("--num-nodes", type=_positive_int, default=1, metavar="N",
                   help="machines taking part (multi-node DDP; launch one process per node, e.g. with torchrun "
                        "or SLURM, with the same options) (default 1)")
    g.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="distribution strategy; auto = DDP when more than one device or node (default auto)")
    g.add_argument("--sync-batchnorm", action="store_true", help="synchronise batch-norm statistics across devices")
    g.add_argument("--precision", choices=PRECISIONS, default="32",
                   help="32, or automatic mixed precision: 16-mixed (GPUs) or bf16-mixed (default 32)")
    g.add_argument("--max-steps", type=int, default=-1, metavar="N",
                   help="stop after N optimiser steps (-1: no step limit) (default -1)")
    g.add_argument("--max-epochs", type=int, default=None, metavar="N",
                   help=f"stop after N epochs (default {max_epochs}, the paper's; -1 with --max-steps for no "
                        "epoch limit)")
    g.add_argument("--max-time", type=_positive_float, default=None, metavar="MINUTES",
                   help="also stop after this many minutes of training (the cosine schedule then anneals over "
                        "whichever of steps and time runs out first; such runs are not bit-reproducible)")
    g.add_argument("--batch-size", type=_positive_int, default=batch_size, metavar="N",
                   help=f"samples per device per step (default {batch_size})")
    g.add_argument("--accumulate", type=_positive_int, default=1, metavar="K",
                   help="accumulate gradients over K batches (effective batch = K x batch size x devices) "
                        "(default 1)")
    g.add_argument("--lr", type=_positive_float, default=lr, metavar="LR",
                   help=f"Adam learning rate (default {lr:g}, the paper's)")
    g.add_argument("--workers", type=_non_negative_int, default=2, metavar="N",
                   help="data-loading worker processes per device (0: load in the main process) (default 2)")
    g.add_argument("--seed", type=int, default=0, help="random seed of weights, sampling and augmentation (default 0)")
    g.add_argument("--log-every", type=_positive_int, default=50, metavar="N",
                   help="log losses every N steps (default 50)")
    g.add_argument("--val-every", type=_positive_int, default=None, metavar="N",
                   help="validate every N training steps (default: every epoch)")
    g.add_argument("--checkpoint-every", type=_non_negative_int, default=500, metavar="N",
                   help="write last.ckpt every N training steps, besides validations and epoch ends (0: only "
                        "there) (default 500)")
    g.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="progress display: a bar, one line per --log-every steps (logs, batch jobs), or none; "
                        "auto = bar on a terminal, lines otherwise (default auto)")
    parser.set_defaults(_default_max_epochs=max_epochs)


# -- the trainer -------------------------------------------------------------------------------------


def run_dir(args, name: str) -> Path:
    """The run folder: --out, else runs/<name>."""
    out = getattr(args, "out", None)
    return Path(out) if out is not None else Path("runs") / name


def device_count(devices: Any) -> int | None:
    """How many devices a --devices value asks for (None: decided by the hardware, 'auto' or -1)."""
    if isinstance(devices, list):
        return len(devices)
    if isinstance(devices, int) and devices > 0:
        return devices
    return None


def resolve_strategy(args) -> str:
    """The Lightning strategy: --strategy, with auto meaning DDP when more than one device or node."""
    if args.strategy != "auto":
        return args.strategy
    count = device_count(args.devices)
    if args.num_nodes > 1 or (count is not None and count > 1):
        return "ddp"
    return "auto"


def _accelerator(args) -> str:
    return "gpu" if args.accelerator == "cuda" else args.accelerator


def _check_hardware(args) -> None:
    import torch

    acc = _accelerator(args)
    if acc == "gpu" and not torch.cuda.is_available():
        raise TrainingError("--accelerator gpu: no CUDA GPU is visible here; use --accelerator cpu (or auto)")
    on_cpu = acc == "cpu" or (acc == "auto" and not torch.cuda.is_available() and not _mps())
    if on_cpu and args.precision == "16-mixed":
        raise TrainingError("--precision 16-mixed needs a GPU; on the CPU use --precision bf16-mixed or 32")
    if acc == "mps" and not _mps():
        raise TrainingError("--accelerator mps: Apple's MPS is not available here; use --accelerator cpu")


def _mps() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def max_epochs(args) -> int:
    """--max-epochs, else the command's default, except that --max-steps alone means no epoch limit."""
    if args.max_epochs is not None:
        return args.max_epochs
    if args.max_steps > 0:
        return -1
    return int(getattr(args, "_default_max_epochs", PAPER_MAX_EPOCHS))


def make_trainer(args, name: str, *, monitor: str | None = None, mode: str = "max", callbacks=(),
                 checkpoints: bool = True, **overrides):  # fmt: skip
    """A lightning.Trainer from the shared options.

    monitor: a logged validation metric ("val/oks50") whose best checkpoint is kept beside last.ckpt.
    checkpoints: False writes none (short runs whose result is exported at once: fine-tuning).
    overrides: further Trainer keyword arguments (tests: limit_val_batches, enable_model_summary...).
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    _check_hardware(args)
    out = run_dir(args, name)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(args.seed, workers=True, verbose=False)
    ckpt_dir = out / CHECKPOINT_DIR
    every = args.checkpoint_every or None
    if monitor:  # the best by `monitor` and last.ckpt at every validation, last.ckpt every N steps as well
        cbs: list = [
            ModelCheckpoint(dirpath=ckpt_dir, filename="best-step{step}", monitor=monitor, mode=mode, save_top_k=1,
                            save_last=True, auto_insert_metric_name=False),
        ]  # fmt: skip
        if every:
            cbs.append(ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, every_n_train_steps=every))
    elif checkpoints:  # last.ckpt at epoch ends, and every N steps
        cbs = [ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, every_n_train_steps=every)]
    else:
        cbs = []
    progress = args.progress
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "lines"
    if progress == "bar":
        cbs.append(TQDMProgressBar(refresh_rate=1))
    elif progress == "lines":
        cbs.append(_progress_lines_class()(args.log_every))
    cbs.extend(callbacks)
    val_every = getattr(args, "val_every", None)
    kwargs: dict[str, Any] = dict(
        accelerator=_accelerator(args),
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=resolve_strategy(args),
        precision=args.precision if args.precision != "32" else "32-true",
        sync_batchnorm=bool(getattr(args, "sync_batchnorm", False)),
        max_steps=args.max_steps,
        max_epochs=max_epochs(args),
        max_time=timedelta(minutes=args.max_time) if getattr(args, "max_time", None) else None,
        accumulate_grad_batches=args.accumulate,
        callbacks=cbs,
        logger=CSVLogger(save_dir=str(out), name=LOG_DIR),
        log_every_n_steps=args.log_every,
        enable_progress_bar=progress == "bar",
        default_root_dir=str(out),
        val_check_interval=val_every,
        check_val_every_n_epoch=None if val_every else 1,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_checkpointing=bool(cbs and isinstance(cbs[0], ModelCheckpoint)),
    )
    kwargs.update(overrides)
    try:
        return L.Trainer(**kwargs)
    except Exception as exc:  # Lightning's MisconfigurationException and ValueErrors for bad flag mixes
        if exc.__class__.__name__ in ("MisconfigurationException", "ValueError"):
            raise TrainingError(f"cannot set up training: {str(exc).strip().splitlines()[0]}") from None
        raise


def resume_checkpoint(args, name: str) -> Path | None:
    """The checkpoint to resume from: --resume, else OUT/checkpoints/last.ckpt unless --fresh."""
    if getattr(args, "resume", None) is not None:
        path = Path(args.resume)
        if not path.is_file():
            raise TrainingError(f"{path}: no such checkpoint to resume from")
        return path
    last = run_dir(args, name) / CHECKPOINT_DIR / LAST_CHECKPOINT
    if last.is_file() and not getattr(args, "fresh", False):
        return last
    return None


def fit(trainer, module, args, name: str, **loaders) -> Path | None:
    """trainer.fit(module, **loaders), resuming as resume_checkpoint says; the checkpoint resumed from.

    Checkpoints are this program's own files in the run folder (pickled by Lightning, so they are loaded
    with weights_only=False); a model for users is exported as safetensors (export_bundle).
    """
    ckpt = resume_checkpoint(args, name)
    if ckpt is not None and trainer.is_global_zero:
        print(f"posefinder-train: resuming from {ckpt}", file=sys.stderr)
    trainer.fit(module, ckpt_path=str(ckpt) if ckpt else None, weights_only=False, **loaders)
    return ckpt


# -- progress lines ----------------------------------------------------------------------------------


def _make_progress_lines_class():
    from lightning.pytorch.callbacks import Callback

    class ProgressLines(Callback):
        """One line per `every` steps on stderr (step, epoch, logged losses, images per second)."""

        def __init__(self, every: int = 50) -> None:
            self.every = max(1, int(every))
            self._t0 = None
            self._seen = 0

        def on_train_start(self, trainer, pl_module) -> None:
            self._t0 = time.perf_counter()
            self._seen = 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._seen += _batch_len(batch)
            step = trainer.global_step
            if not trainer.is_global_zero or step == 0 or step % self.every or getattr(self, "_last", -1) == step:
                return
            self._last = step
            dt = max(time.perf_counter() - (self._t0 or time.perf_counter()), 1e-9)
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
            total = f"/{trainer.max_steps}" if trainer.max_steps and trainer.max_steps > 0 else ""
            parts = [f"step {step}{total}", f"epoch {trainer.current_epoch}"]
            parts += [f"{k[6:]}={v:.4g}" for k, v in sorted(metrics.items())]
            parts.append(f"{self._seen / dt:.1f} img/s")
            print("posefinder-train: " + " ".join(parts), file=sys.stderr, flush=True)

        def on_validation_end(self, trainer, pl_module) -> None:
            if not trainer.is_global_zero or trainer.sanity_checking:
                return
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            if metrics:
                text = " ".join(f"{k[4:]}={v:.4f}" for k, v in sorted(metrics.items()))
                print(f"posefinder-train: validation at step {trainer.global_step}: {text}", file=sys.stderr,
                      flush=True)  # fmt: skip

    return ProgressLines


def _batch_len(batch) -> int:
    if isinstance(batch, dict):
        for v in batch.values():
            if hasattr(v, "shape"):
                return int(v.shape[0])
    if isinstance(batch, (list, tuple)) and batch and hasattr(batch[0], "shape"):
        return int(batch[0].shape[0])
    return 0


def _progress_lines_class():
    # ProgressLines subclasses Lightning's Callback: made on first use so importing this module stays light.
    cls = globals().get("_ProgressLines") or _make_progress_lines_class()
    globals()["_ProgressLines"] = cls
    return cls


# -- export ------------------------------------------------------------------------------------------


def export_bundle(
    path: str | Path,
    *,
    pose=None,
    segmenter=None,
    tagger=None,
    name: str | None = None,
    metrics: dict[str, Any] | None = None,
    training_data: Any = None,
    description: str = "",
    **extra: Any,
) -> Path:
    """Write trained networks with their measured metrics as a model file (models/weights.py: ModelBundle,
    make_card, save_model); the path of the .safetensors file.

    With a pose network it is a model that `posefinder models install` accepts (the segmenter and tagger
    optional components); without one, a file of the networks given (e.g. a trained tagger, with its input
    size in `extra`) that models/weights.py's load_component reads back (`posefinder-train pose --tagger`).
    """
    from posefinder.models.nets.bundle import ModelBundle
    from posefinder.models.weights import make_card, save_model

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    if pose is None and segmenter is None and tagger is None:
        raise ValueError("export_bundle needs at least one network")
    bundle = ModelBundle(pose, segmenter, tagger)
    card = make_card(bundle, name=name or path.stem, training_data=training_data, metrics=metrics or {},
                     description=description, **extra)  # fmt: skip
    return save_model(path, bundle, card)


def __getattr__(name: str):
    if name == "ProgressLines":
        return _progress_lines_class()
    raise AttributeError(name)
