"""Fine-tuning the installed pose model on the artist's corrections (the poses corrected by hand in a library).

    result = finetune(FinetuneOptions(library="LIB"), progress=..., cancel=...)

1. the library's hand-edited poses whose images are still there (Library.corrections), at least
   MIN_CORRECTIONS of them, split by image into train and held-out (models/library/corrections.py:
   fixed seed, at least 20% held out);
2. the base model: the installed model auto-pose uses (or --model NAME), of either architecture, ours,
   synthetic or imported from the authors' release;
3. before: the paper's metrics (OKS@50, OKS@75, PCKh@50, ...: build/metrics/pose.py) on the held-out
   corrections, with their boxes given (the paper's protocol), through the model's own inference settings;
4. training with the project's loop (build/modules/pose.PoseModule in a Lightning Trainer made by
   build/trainer.make_trainer): the parts the paper trains (converters, the matcher where there is one,
   the head), the tagger trunk (and the concatenation model's Keypoint R-CNN) frozen, batch-norm
   statistics kept (a few dozen examples would otherwise drag them away from everything else the model
   knows); the matcher learns from the heatmap loss (no Keypoint R-CNN is needed to fine-tune);
5. after: the same metrics on the same held-out corrections; only a better result (OKS@50, then OKS@75, then
   PCKh@50) is installed, as a new version `<base>-ftN` whose card records its lineage, and becomes the
   model in use (weights.ModelStore.use; `posefinder models use BASE` goes back). Otherwise nothing
   changes and the result says why.

Cancelling (cancel() true) stops between steps; the model store is only written at the very end, so a
cancelled or failed run leaves the installed models as they were.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, cast

from posefinder.build.trainer import TrainingError
from posefinder.models.errors import PoseFinderError

#: Fewer corrections than this make no useful model (and too small a held-out set to judge one).
MIN_CORRECTIONS = 20

#: The metrics compared, in order: the first that differs decides (higher is better).
DECIDING = ("oks50", "oks75", "pckh50")

#: CLI/PoseModule architecture name of each card architecture.
_MODULE_ARCH = {"feature-matching": "matching", "feature-concatenation": "concat"}

#: Card keys a fine-tuned version takes over from its base as they are (what the model's other parts need).
_INHERITED_EXTRA = ("tagger_classes", "classes", "tagger_input_size", "tag_threshold", "source", "licence")

Progress = Callable[[float, str], None]


class FinetuneCancelled(PoseFinderError):
    """The user stopped fine-tuning; nothing was installed."""


@dataclass
class FinetuneOptions:
    """What to fine-tune and how (defaults: minutes on a CPU for a paper-size model)."""

    library: Path
    model: str | None = None  # installed model name (default: the one auto-pose uses)
    steps: int = 150
    batch_size: int = 8
    lr: float = 3e-4
    seed: int = 0
    held_out: float = 0.2
    rotation: float = 30.0  # largest random rotation of training crops, either way (degrees)
    flip: float = 0.5
    scale_min: float = 0.8
    colour: float = 0.1
    # share of the training crops drawn from the base's own synthetic training figures (rehearsal, so the
    # model keeps what it knew while it learns the corrections' style); None: REHEARSAL_SHARE when the base's
    # card says it trained on synthetic figures, else 0 (an imported or real-data model has none to replay)
    rehearse: float | None = None
    name: str | None = None  # name of the new version (default <base>-ftN)
    out: Path | None = None  # working folder (default: a temporary one, removed afterwards)
    threads: int | None = None  # torch threads (default: torch's)
    min_corrections: int = MIN_CORRECTIONS
    store_root: Path | None = None  # the model store (default: the user's)


@dataclass
class FinetuneResult:
    base: str
    architecture: str
    corrections: int
    train: int
    held_out: int
    before: dict[str, float]
    after: dict[str, float] = field(default_factory=dict)
    installed: str | None = None  # the new version's name, None when nothing was installed
    reason: str = ""  # why the new version was (not) installed
    steps: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # corrections left out, and why

    def summary(self) -> str:
        """What happened, in a few lines (the CLI prints it; the app shows it)."""
        from posefinder.build.metrics.pose import LABELS

        lines = [f"base model {self.base!r} ({self.architecture}); {self.corrections} corrections: {self.train} "
                 f"trained on, {self.held_out} held out (split by image)"]  # fmt: skip
        for key in DECIDING:
            before, after = self.before.get(key), self.after.get(key)
            if before is None:
                continue
            text = f"  {LABELS[key]:<8} held-out before {before:.4f}"
            if after is not None:
                text += f"  after {after:.4f}  ({after - before:+.4f})"
            lines.append(text)
        lines.append(self.reason)
        return "\n".join(lines)


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(max(0.0, min(1.0, fraction)), message)


def _check(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise FinetuneCancelled("fine-tuning was cancelled; the installed models are unchanged")


# -- inputs -----------------------------------------------------------------------------------------------


def gather(options: FinetuneOptions):
    """(usable corrections, skipped [(correction, why)]) of the library, read-only (the app may hold it)."""
    from posefinder.models.library import Library
    from posefinder.models.library.corrections import with_images

    with Library.open(options.library, readonly=True) as lib:
        return with_images(lib.corrections())


def base_model(store, name: str | None):
    """The installed model to fine-tune: `name`, else the one auto-pose uses (chain order, in-use choice)."""
    from posefinder.models.estimators import chain

    if name is not None:
        model = store.get(name)  # ModelError when absent or broken
        return model
    for entry in chain.ordered():
        if entry.name in _MODULE_ARCH:
            model = store.newest(entry.name)
            if model is not None:
                return model
    raise TrainingError(
        "no installed pose model to fine-tune: install or import one first (`posefinder models list`); "
        "Keypoint R-CNN is not fine-tuned here"
    )


def next_name(store, base_name: str, root: str | None = None) -> str:
    """<root>-ftN with the first N not installed (root: the lineage's first model, else the base)."""
    root = root or re.sub(r"-ft\d+$", "", base_name)
    root = root[:90]
    taken = {m.name for m in store.list()}
    n = 1
    while f"{root}-ft{n}" in taken:
        n += 1
    return f"{root}-ft{n}"


# -- evaluation -------------------------------------------------------------------------------------------


class _Images:
    """The corrections' images, decoded once and kept while they fit in `budget` bytes."""

    def __init__(self, budget: int = 1_500_000_000) -> None:
        self.budget = budget
        self._kept: dict[Path, Any] = {}
        self._bytes = 0

    def __call__(self, path: Path):
        from posefinder.models.imageio import load_image

        image = self._kept.get(path)
        if image is None:
            image = load_image(path)
            if self._bytes + image.nbytes <= self.budget:
                self._kept[path] = image
                self._bytes += image.nbytes
        return image


def held_out_metrics(pose_net, card, corrections, images: _Images, batch_size: int = 8) -> dict[str, float]:
    """The paper's metrics of a pose network on corrections, their boxes given (paper section 5.1), through
    the model's own inference settings (estimators/pipeline.py); NaN-free floats, rounded to 6 places."""
    import math as _math

    from posefinder.build.metrics.pose import evaluate_poses
    from posefinder.models.estimators.paper import PaperModelEstimator
    from posefinder.models.nets.bundle import ModelBundle

    net = copy.deepcopy(pose_net).eval()
    estimator = PaperModelEstimator(ModelBundle(net, None, None), card, device="cpu")
    preds = []
    for start in range(0, len(corrections), batch_size):
        chunk = corrections[start : start + batch_size]
        preds.extend(estimator.pipeline.estimate_in_boxes([images(c.path) for c in chunk], [c.pose.bbox() for c in chunk]))
    metrics = evaluate_poses([c.pose for c in corrections], preds)
    out = {k: round(float(v), 6) for k, v in metrics.overall.items() if _math.isfinite(v)}
    out["mean_oks"] = round(float(metrics.mean_oks), 6)
    return out


def better(after: dict[str, float], before: dict[str, float]) -> bool:
    """Whether `after` beats `before`: the first of DECIDING that differs (by more than rounding) is higher."""
    for key in DECIDING:
        a, b = after.get(key), before.get(key)
        if a is None or b is None:
            continue
        if abs(a - b) > 1e-9:
            return a > b
    return False


# -- training ---------------------------------------------------------------------------------------------


#: the rehearsal share of a base trained on synthetic figures (benchmarks/finetune_corrections.py: with a
#: base at OKS@50 0.74, 400 steps at lr 1e-3 kept the old style within -0.03 where no rehearsal lost 0.16)
REHEARSAL_SHARE = 0.5


def rehearsal_figures(card) -> dict | None:
    """The synthetic training set the base's card records ({"synthetic": n, "seed": s, "size": [w, h]}), the
    first one; None when it trained on none."""
    for entry in (card.training_data or {}).get("train", []) or []:
        if isinstance(entry, dict) and int(entry.get("synthetic", 0) or 0) > 0:
            return entry
    return None


def rehearsal_share(options: "FinetuneOptions", card) -> float:
    if options.rehearse is not None:
        return float(options.rehearse)
    return REHEARSAL_SHARE if rehearsal_figures(card) is not None else 0.0


class CorrectionSource:
    """The training corrections as a pose source of build/data/pose.py (crops, augmentation, targets),
    optionally mixed with rehearsal figures: indices past the corrections draw a random figure of
    `rehearsal` (a SyntheticPoseDataset), so that `share` of the crops come from it."""

    def __init__(self, corrections, images: _Images, config, seed: int, rehearsal=None, share: float = 0.0) -> None:
        self.corrections, self.images, self.config, self.seed = list(corrections), images, config, seed
        self.rehearsal = rehearsal if share > 0 else None
        n = len(self.corrections)
        self.rehearsed = 0 if self.rehearsal is None else max(1, int(round(n * share / (1.0 - share))))

    def __len__(self) -> int:
        return len(self.corrections) + self.rehearsed

    def item(self, index: int):
        c = self.corrections[index]
        return self.images(c.path), c.pose

    def sample(self, index: int, rng):
        import numpy as np

        from posefinder.build.data.pose import crop_sample

        if index >= len(self.corrections) and self.rehearsal is not None:
            figure = int(rng.integers(len(self.rehearsal))) if rng is not None else index % len(self.rehearsal)
            out = self.rehearsal.sample(figure, rng)
        else:
            image, pose = self.item(index)
            out = crop_sample(image, pose, self.config, rng)
        out["index"] = np.int64(index)
        return out


def _trainer_args(options: FinetuneOptions, out: Path, steps: int, batch_size: int):
    import argparse

    from posefinder.build.trainer import add_trainer_arguments

    parser = argparse.ArgumentParser()
    add_trainer_arguments(parser)
    args = parser.parse_args([])
    args.out, args.accelerator, args.devices, args.max_steps, args.max_epochs = out, "cpu", 1, steps, -1
    args.batch_size, args.lr, args.seed, args.workers, args.progress = batch_size, options.lr, options.seed, 0, "none"
    args.checkpoint_every, args.log_every = 0, max(1, min(50, steps))
    return args


def _module_class():
    from posefinder.build.modules.pose import PoseModule

    class FinetuneModule(PoseModule):
        """PoseModule whose batch-norm layers keep their statistics (fine-tuning on a few dozen examples)."""

        def train(self, mode: bool = True):
            super().train(mode)
            import torch

            for m in self.net.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
            return self

    return FinetuneModule


def _callbacks(total: int, progress: Progress | None, cancel, start: float, span: float):
    from lightning.pytorch.callbacks import Callback

    class Steps(Callback):
        """Progress after each step; a cancel request stops the run at the next step."""

        cancelled = False

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if cancel is not None and cancel():
                self.cancelled = True
                trainer.should_stop = True
                raise _Stop()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            step = trainer.global_step
            loss = trainer.callback_metrics.get("train/loss")
            text = f"training step {step}/{total}" + (f", loss {float(loss):.4f}" if loss is not None else "")
            _report(progress, start + span * step / total, text)

    return Steps()


@contextlib.contextmanager
def _quiet():
    """Lightning's notes that do not apply here (no validation loop, frozen modules in eval mode, one
    process), kept off the user's terminal."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"lightning\..*")
        warnings.filterwarnings("ignore", message=r".*(val_dataloader|eval mode|IterableDataset|LeafSpec).*")
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


class _Stop(Exception):
    """Raised inside the Trainer to stop at once on cancel (caught by finetune)."""


def train(net, card, train_corrections, images: _Images, options: FinetuneOptions, out: Path,
          progress: Progress | None = None, cancel=None, span: tuple[float, float] = (0.2, 0.7)) -> int:  # fmt: skip
    """Fine-tune `net` in place on the corrections; the number of steps trained."""
    import torch

    from posefinder.build import trainer as tr
    from posefinder.build.data.pose import CropConfig, ResumableBatches
    from posefinder.build.modules.pose import ResumableLoader

    batch_size = max(1, min(options.batch_size, len(train_corrections)))
    steps = max(1, int(options.steps))
    inference = card.inference
    config = CropConfig(
        crop_size=int(net.input_size), heatmap_size=int(net.heatmap_size), padding=float(inference.get("padding", 0.1)),
        max_rotation_deg=options.rotation, flip_prob=options.flip, scale_range=(options.scale_min, 1.0),
        colour_jitter=options.colour, fill=_rgb(inference.get("fill", (255, 255, 255))),
    )  # fmt: skip
    args = _trainer_args(options, out, steps, batch_size)
    steps_cb = _callbacks(steps, progress, cancel, span[0], span[1])
    pl_trainer = tr.make_trainer(args, "finetune", callbacks=[steps_cb], checkpoints=False, logger=False)
    module = _module_class()(
        architecture=_MODULE_ARCH[card.architecture], net=net, lr=options.lr, schedule="cosine", matcher_weight=0.0,
        train_sources=False, smoothing=float(inference.get("smoothing", 0.1)),
    )  # fmt: skip
    share, rehearsal = rehearsal_share(options, card), None
    if share > 0:
        from posefinder.build.data.pose import SyntheticPoseDataset

        figures = rehearsal_figures(card) or {}
        width, height = figures.get("size", (net.input_size, net.input_size))
        rehearsal = SyntheticPoseDataset(int(figures.get("synthetic", 20_000)), seed=int(figures.get("seed", 0)),
                                         config=config, size=(int(width), int(height)))  # fmt: skip
    source = CorrectionSource(train_corrections, images, config, options.seed, rehearsal, share)
    stream = ResumableBatches(cast(Any, source), batch_size, seed=options.seed)  # a pose source, by duck typing
    loader = ResumableLoader(stream, module, num_workers=0)
    if options.threads:
        torch.set_num_threads(int(options.threads))
    try:
        with _quiet():
            pl_trainer.fit(module, train_dataloaders=loader)
    except _Stop:
        pass
    if steps_cb.cancelled:
        raise FinetuneCancelled("fine-tuning was cancelled; the installed models are unchanged")
    net.eval()
    return int(pl_trainer.global_step)


# -- the whole run ----------------------------------------------------------------------------------------


def finetune(options: FinetuneOptions, progress: Progress | None = None, cancel=None) -> FinetuneResult:
    """Fine-tune, judge and (when better) install; see the module docstring. TrainingError when there is
    too little to learn from or nothing to fine-tune; FinetuneCancelled when cancelled (nothing changed)."""
    import shutil

    from posefinder.models import weights
    from posefinder.models.library.corrections import split_by_image

    t0 = time.perf_counter()
    if options.steps < 1 or options.batch_size < 1:
        raise TrainingError("--steps and --batch-size must be at least 1")
    if not 0.2 <= options.held_out < 1:
        raise TrainingError("--held-out must be at least 0.2 (a fifth of the corrections judges the result) and below 1")
    if options.rehearse is not None and not 0 <= options.rehearse < 1:
        raise TrainingError("--rehearse must be at least 0 and below 1 (the share of crops from the base's own figures)")
    _report(progress, 0.0, "reading the corrections")
    usable, skipped = gather(options)
    skipped_text = [f"pose {c.pose_id}: {why}" for c, why in skipped]
    if len(usable) < options.min_corrections:
        gone = f" ({len(skipped)} more without their image files)" if skipped else ""
        raise TrainingError(
            f"{options.library}: {len(usable)} corrected poses with their images{gone}; fine-tuning needs at least "
            f"{options.min_corrections} (correct more auto-poses in the app: a result's menu, Correct this pose…)"
        )
    store = weights.ModelStore(options.store_root)
    base = base_model(store, options.model)
    card = base.card
    assert card is not None  # store.get and newest return sound models only
    if card.architecture not in _MODULE_ARCH:
        raise TrainingError(f"model {base.name!r} ({card.architecture or 'no pose network'}) cannot be fine-tuned")
    train_set, held = split_by_image(usable, options.held_out, options.seed)
    _check(cancel)
    _report(progress, 0.03, f"loading {base.name}")
    bundle, _ = weights.load_bundle(base.weights_path)
    images = _Images()
    _report(progress, 0.06, f"measuring {base.name} on {len(held)} held-out corrections")
    before = held_out_metrics(bundle.pose, card, held, images)
    result = FinetuneResult(base.name, card.architecture, len(usable), len(train_set), len(held), before,
                            skipped=skipped_text)  # fmt: skip
    _check(cancel)
    work = Path(options.out) if options.out is not None else Path(tempfile.mkdtemp(prefix="posefinder-finetune-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        net = copy.deepcopy(bundle.pose)
        result.steps = train(net, card, train_set, images, options, work, progress, cancel)
        _check(cancel)
        _report(progress, 0.9, f"measuring the fine-tuned model on the {len(held)} held-out corrections")
        result.after = held_out_metrics(net, card, held, images)
        _check(cancel)
        result.seconds = round(time.perf_counter() - t0, 1)
        if not better(result.after, before):
            result.reason = (
                f"not installed: the fine-tuned model is no better on the held-out corrections (OKS@50 "
                f"{before.get('oks50', float('nan')):.4f} -> {result.after.get('oks50', float('nan')):.4f}); "
                f"{base.name!r} stays in use"
            )
            return result
        name = options.name or next_name(store, base.name, (card.extra.get("lineage") or {}).get("root"))
        _report(progress, 0.95, f"installing {name}")
        path = _export(work / f"{name}.safetensors", net, bundle, card, base, result, options, name)
        _check(cancel)  # the last moment to stop: after this the store changes
        store.install(path, name=name)
        store.use(name)
        result.installed = name
        result.reason = (f"installed {name!r}, now the model in use (better on the held-out corrections); "
                         f"`posefinder models use {base.name}` goes back to {base.name!r}")  # fmt: skip
        _report(progress, 1.0, result.reason)
        return result
    finally:
        if options.out is None:
            shutil.rmtree(work, ignore_errors=True)


def _export(path: Path, net, bundle, card, base, result: FinetuneResult, options: FinetuneOptions, name: str) -> Path:
    """The fine-tuned model file (with the base's segmenter and tagger) and its card with the lineage."""
    from posefinder.build.trainer import export_bundle

    base_lineage = card.extra.get("lineage") or {}
    ancestors = list(base_lineage.get("ancestors", [])) + [base.name]
    lineage = {
        "root": base_lineage.get("root", re.sub(r"-ft\d+$", "", base.name)),
        "ancestors": ancestors,
        "base": {
            "name": base.name, "architecture": card.architecture, "created": card.created,
            "installed_at": card.extra.get("installed_at", ""), "installed_from": card.extra.get("installed_from", ""),
            "metrics": card.metrics, "training_data": card.training_data,
        },
        "library": str(Path(options.library).resolve()),
        "corrections": result.corrections, "train": result.train, "held_out": result.held_out,
        "split": {"by": "image", "seed": options.seed, "held_out_fraction": options.held_out},
        "held_out_metrics": {"before": result.before, "after": result.after},
        "training": {"steps": result.steps, "batch_size": options.batch_size, "lr": options.lr,
                     "schedule": "cosine", "rotation": options.rotation, "flip": options.flip,
                     "scale_min": options.scale_min, "colour": options.colour,
                     "rehearsal": {"share": rehearsal_share(options, card), "figures": rehearsal_figures(card)},
                     "trained": _trained_parts(card.architecture), "frozen": _frozen_parts(card.architecture),
                     "batch_norm": "statistics kept", "seconds": result.seconds},
        "finetuned_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }  # fmt: skip
    metrics: dict[str, Any] = dict(result.after)
    metrics["evaluated_on"] = (f"{result.held_out} held-out corrections of {lineage['library']} (bbox given), "
                               f"before fine-tuning: " + ", ".join(f"{k} {v}" for k, v in result.before.items()))  # fmt: skip
    extra = {k: card.extra[k] for k in _INHERITED_EXTRA if k in card.extra}
    path = export_bundle(
        path, pose=net, segmenter=bundle.segmenter, tagger=bundle.tagger, name=name, metrics=metrics,
        training_data={"corrections": {"library": lineage["library"], "poses": result.train},
                       "base": {"name": base.name, "training_data": card.training_data}},
        description=f"{base.name} fine-tuned on {result.train} of the artist's corrections ({result.steps} steps)",
        inference=dict(card.inference), segmenter_input_size=card.segmenter_input_size, lineage=lineage, **extra,
    )  # fmt: skip
    from posefinder.models.estimators import onnx_runtime

    if onnx_runtime.can_export():  # graphs beside the file: a torch-free install runs any size (as `pose` does)
        from posefinder.models import onnx_export, weights

        saved, saved_card = weights.load_bundle(path)
        onnx_export.write_model_graphs(path, saved, saved_card)
    return path


def _rgb(value) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in value)
    return (r, g, b)


def _trained_parts(architecture: str) -> list[str]:
    parts = ["domain_converter", "task_converter", "head"]
    return parts[:1] + ["matcher"] + parts[1:] if architecture == "feature-matching" else parts


def _frozen_parts(architecture: str) -> list[str]:
    return ["tagger"] if architecture == "feature-matching" else ["tagger", "task (Keypoint R-CNN)"]


def fmt_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v))


def log_line(text: str) -> None:
    print(f"posefinder-train: {text}", file=sys.stderr, flush=True)
