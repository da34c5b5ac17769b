"""`posefinder-train pose`: train a pose network (feature matching or concatenation) and export a model file."""

from __future__ import annotations

import argparse
import json
from typing import Any
import sys
from pathlib import Path

from posefinder.build.trainer import TrainingError, add_trainer_arguments

HELP = "train the pose network (feature matching or feature concatenation, paper section 3.1) and export it"

PRESETS = ("paper", "small", "tiny")


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE (VALUE in JSON, e.g. heatmap_size=64)")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 0 and 1")
    return value


def add_arguments(parser) -> None:
    d = parser.add_argument_group("data (at least one training source)")
    d.add_argument("--train", type=Path, action="append", default=[], metavar="FILE",
                   help="pose file of training characters: COCO keypoint JSON, ADD annotations or PoseFinder JSON "
                        "(repeatable)")
    d.add_argument("--images", type=Path, metavar="DIR",
                   help="folder holding the --train files' images (default: the pose file's folder)")
    d.add_argument("--val", type=Path, action="append", default=[], metavar="FILE",
                   help="pose file of validation characters (repeatable)")
    d.add_argument("--val-images", type=Path, metavar="DIR", help="folder holding the --val files' images")
    d.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="also train on N synthetic figures (posefinder.build.synthetic) (default 0)")
    d.add_argument("--synthetic-val", type=int, default=None, metavar="N",
                   help="validate on N held-out synthetic figures (default 64 with --synthetic and no --val)")
    d.add_argument("--synthetic-seed", type=int, default=0, metavar="S",
                   help="seed of the synthetic training figures; validation figures use S + 1 (default 0)")
    d.add_argument("--synthetic-size", type=int, default=256, metavar="PX",
                   help="side of the rendered synthetic images (default 256)")
    d.add_argument("--prerender", action="store_true",
                   help="render the synthetic figures once, in parallel, and keep them in memory (else on every use)")

    a = parser.add_argument_group("architecture")
    a.add_argument("--architecture", choices=("matching", "concat"), default="matching",
                   help="feature matching (R-CNN needed in training only; the app's default) or feature "
                        "concatenation (default matching)")
    a.add_argument("--preset", choices=PRESETS, default="paper",
                   help="network sizes: paper (256 px crops, 128 px heatmaps, ResNet50 tagger), small (128/64, "
                        "ResNet18-style half width, trains from random init on a CPU) or tiny (tests) (default paper)")
    a.add_argument("--net", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="override an argument of the pose builder (models/nets/pose.py), e.g. heatmap_size=64")
    a.add_argument("--sources", choices=("random", "pretrained"), default="random",
                   help="initial source networks: random, or pretrained (torchvision's ImageNet ResNet for the "
                        "tagger trunk and COCO Keypoint R-CNN for the task source; downloaded once; paper sizes "
                        "only) (default random)")
    a.add_argument("--tagger", type=Path, metavar="FILE",
                   help="trained tagger (from `posefinder-train tagger`) whose trunk is the domain source (paper 3.2)")
    a.add_argument("--train-tagger", choices=("auto", "yes", "no"), default="auto",
                   help="train the tagger trunk too; auto: only when it starts random (the paper keeps its "
                        "trained tagger frozen) (default auto)")
    a.add_argument("--task-preset", choices=PRESETS, default=None,
                   help="size of the matching target's task source (default: --preset)")
    a.add_argument("--task", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="override an argument of the matching target's task_source builder")
    a.add_argument("--matcher-weight", type=float, default=1.0, metavar="W",
                   help="weight of the matcher MSE against the heatmap BCE (feature matching) (default 1)")
    a.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning-rate schedule over the run's steps (cosine as in the authors' code) (default cosine)")

    c = parser.add_argument_group("crops and augmentation (paper section 4.1)")
    c.add_argument("--padding", type=float, default=0.1, metavar="F",
                   help="bbox padding on each side, fraction of its longer edge (default 0.1: at least 10%%)")
    c.add_argument("--rotation", type=float, default=180.0, metavar="DEG",
                   help="largest random rotation either way; 180 = any angle (default 180)")
    c.add_argument("--flip", type=_fraction, default=0.5, metavar="P",
                   help="probability of a horizontal flip (left/right labels swapped) (default 0.5)")
    c.add_argument("--scale-min", type=float, default=0.8, metavar="F",
                   help="random zoom-out down to this factor (1 = none) (default 0.8)")
    c.add_argument("--colour", type=float, default=0.2, metavar="F",
                   help="recolouring strength: brightness/contrast/saturation/hue jitter (0 = off) (default 0.2)")
    c.add_argument("--smoothing", type=float, default=0.1, metavar="F",
                   help="inference smoothing of the heatmaps (paper 3.1), gaussian sigma as a fraction of the heatmap "
                        "size; used for validation and written into the model card (default 0.1, the authors')")
    c.add_argument("--sigma-factor", type=float, default=1.0, metavar="F",
                   help="target gaussian std as a multiple of the keypoint's OKS falloff 2 sigma_i sqrt(area) "
                        "(default 1)")

    e = parser.add_argument_group("export")
    e.add_argument("--export", type=Path, metavar="FILE",
                   help="model file to write after training (default OUT/pose-<architecture>.safetensors)")
    e.add_argument("--name", help="model name in its card (default: the export file's name)")
    e.add_argument("--segmenter", type=Path, metavar="FILE",
                   help="trained segmenter (from `posefinder-train segmenter`) to bundle into the model file")
    e.add_argument("--no-export", action="store_true", help="train only; write no model file")
    e.add_argument("--no-onnx", action="store_true",
                   help="write no ONNX graphs beside the model file (they let a torch-free install run a model "
                        "size that resources/onnx has no template for)")  # fmt: skip

    add_trainer_arguments(parser)


def crop_config(args, net):
    from posefinder.build.data.pose import CropConfig

    if not 0 < args.scale_min <= 1:
        raise TrainingError("--scale-min must be in (0, 1]: zooming in would cut the 10% padding")
    return CropConfig(
        crop_size=int(net.input_size), heatmap_size=int(net.heatmap_size), padding=args.padding,
        max_rotation_deg=args.rotation, flip_prob=args.flip, scale_range=(args.scale_min, 1.0),
        colour_jitter=args.colour, sigma_factor=args.sigma_factor,
    )  # fmt: skip


class ConcatSource:
    """Several pose sources as one (index i runs through them in order)."""

    def __init__(self, sources) -> None:
        self.sources = list(sources)
        self.config = self.sources[0].config
        self.seed = self.sources[0].seed

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def _locate(self, index: int):
        for s in self.sources:
            if index < len(s):
                return s, index
            index -= len(s)
        raise IndexError(index)

    def item(self, index: int):
        s, i = self._locate(index)
        return s.item(i)

    def sample(self, index: int, rng):
        s, i = self._locate(index)
        out = s.sample(i, rng)
        out["index"] = out["index"] * 0 + index
        return out

    def __getitem__(self, index: int):
        s, i = self._locate(int(index))
        out = s[i]
        out["index"] = out["index"] * 0 + int(index)
        return out

    def poses(self):
        return [p for s in self.sources for p in s.poses()]


def make_sources(args, config):
    """(training source, validation source or None, description of the data for the model card)."""
    from posefinder.build.data.pose import PoseFileDataset, SyntheticPoseDataset

    train, val, described = [], [], {"train": [], "val": []}
    for f in args.train:
        ds = PoseFileDataset(f, args.images, config, seed=args.seed)
        train.append(ds)
        described["train"].append({"file": str(f), "characters": len(ds), "missing_images": ds.missing})
    if args.synthetic < 0 or (args.synthetic_val or 0) < 0:
        raise TrainingError("--synthetic and --synthetic-val count figures: 0 or more")
    size = (args.synthetic_size, args.synthetic_size)
    if args.synthetic:
        train.append(SyntheticPoseDataset(args.synthetic, args.synthetic_seed, config, size=size, cache=args.prerender))
        described["train"].append({"synthetic": args.synthetic, "seed": args.synthetic_seed, "size": list(size)})
    if not train:
        raise TrainingError("no training data: give --train POSEFILE (with --images DIR) and/or --synthetic N")
    eval_config = config.without_augmentation()
    for f in args.val:
        ds = PoseFileDataset(f, args.val_images or args.images, eval_config, seed=args.seed)
        val.append(ds)
        described["val"].append({"file": str(f), "characters": len(ds)})
    n_val = args.synthetic_val if args.synthetic_val is not None else (64 if args.synthetic and not args.val else 0)
    if n_val:
        val.append(SyntheticPoseDataset(n_val, args.synthetic_seed + 1, eval_config, size=size, cache=True))
        described["val"].append({"synthetic": n_val, "seed": args.synthetic_seed + 1, "size": list(size)})
    if args.prerender:
        import os

        for s in train + val:
            if hasattr(s, "prerender"):
                s.prerender(processes=min(os.cpu_count() or 1, 8))
    pick = lambda xs: None if not xs else (xs[0] if len(xs) == 1 else ConcatSource(xs))  # noqa: E731
    return pick(train), pick(val), described


def build_module(args):
    """The PoseModule the options describe (random init unless --sources pretrained / --tagger)."""
    from posefinder.build.modules.pose import PoseModule

    net_kwargs = dict(args.net)
    task_kwargs = dict(args.task)
    if args.sources == "pretrained":
        if args.preset != "paper":
            raise TrainingError("--sources pretrained needs --preset paper (pretrained weights exist for those sizes)")
        net_kwargs["weights"] = "sources"
        task_kwargs["weights"] = "coco"
    tagger_state = None
    if args.tagger is not None:
        from posefinder.models.weights import load_component

        tagger, _ = load_component(args.tagger, "tagger")
        tagger_state = tagger.state_dict()
    train_sources = {"yes": True, "no": False}.get(args.train_tagger, args.sources == "random" and args.tagger is None)
    try:
        return PoseModule(
            architecture=args.architecture, preset=args.preset, net_kwargs=net_kwargs,
            task_preset=args.task_preset or args.preset, task_kwargs=task_kwargs, lr=args.lr,
            schedule=args.schedule, matcher_weight=args.matcher_weight, train_sources=train_sources,
            smoothing=args.smoothing, tagger_state=tagger_state,
            max_time_s=args.max_time * 60 if args.max_time else None,
        )  # fmt: skip
    except (TypeError, KeyError) as exc:
        raise TrainingError(f"cannot build the network: {exc}; check --net/--task/--preset") from None
    except ValueError as exc:
        raise TrainingError(f"cannot build the network: {exc}") from None


def loaders(args, module, train, val):
    """(training loader over the resumable stream, validation loader or None)."""
    from torch.utils.data import DataLoader

    from posefinder.build.data.pose import ResumableBatches, collate
    from posefinder.build.modules.pose import ResumableLoader

    stream = ResumableBatches(train, args.batch_size, seed=args.seed)
    try:
        len(stream)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    train_loader = ResumableLoader(stream, module, num_workers=args.workers)
    val_loader = None
    if val is not None:
        val_loader = DataLoader(val, batch_size=args.batch_size, shuffle=False, num_workers=args.workers,
                                collate_fn=collate)  # fmt: skip
    return train_loader, val_loader


def train(args, callbacks=()):
    """Train as the options say (resuming where OUT left off): (module, trainer, data description)."""
    import torch

    from posefinder.build import trainer as tr

    torch.set_float32_matmul_precision("high")
    name = f"pose-{args.architecture}"
    monitor = "val/oks50" if (args.val or args.synthetic_val or (args.synthetic and not args.val)) else None
    tr.resume_checkpoint(args, name)  # a wrong --resume fails before anything is built
    pl_trainer = tr.make_trainer(args, name, monitor=monitor, callbacks=callbacks)
    module = build_module(args)
    train_source, val, described = make_sources(args, crop_config(args, module.net))
    train_loader, val_loader = loaders(args, module, train_source, val)
    loaders_kw: dict[str, Any] = {"train_dataloaders": train_loader}
    if val_loader is not None:
        loaders_kw["val_dataloaders"] = val_loader
    tr.fit(pl_trainer, module, args, name, **loaders_kw)
    if val_loader is not None:  # the exported metrics are those of the final weights
        pl_trainer.validate(module, dataloaders=val_loader, verbose=False)
    return module, pl_trainer, described


def run(args) -> int:
    from posefinder.build import trainer as tr

    name = f"pose-{args.architecture}"
    module, pl_trainer, described = train(args)
    if not pl_trainer.is_global_zero:
        return 0
    metrics: dict[str, Any] = {}
    if module.last_metrics is not None:
        print(module.last_metrics.table())
        metrics = {k: round(float(v), 6) for k, v in module.last_metrics.overall.items()}
        metrics["evaluated_on"] = "validation crops (bbox given), " + json.dumps(described["val"])
    if args.no_export:
        return 0
    out = tr.run_dir(args, name)
    path = args.export or out / f"{name}.safetensors"
    segmenter = None
    if args.segmenter is not None:
        from posefinder.models.weights import load_component

        segmenter, _ = load_component(args.segmenter, "segmenter")
    module.net.cpu().eval()
    path = tr.export_bundle(
        path, pose=module.net, segmenter=segmenter, name=args.name or Path(path).stem, metrics=metrics,
        training_data=described, inference={"smoothing": args.smoothing},
        description=f"{args.architecture} pose network, preset {args.preset}, {pl_trainer.global_step} steps of "
        f"batch {args.batch_size} x {pl_trainer.world_size} devices",
        training={"steps": int(pl_trainer.global_step), "batch_size": args.batch_size, "devices": pl_trainer.world_size,
                  "lr": args.lr, "schedule": args.schedule, "seed": args.seed},
    )  # fmt: skip
    print(f"exported {path}", file=sys.stderr)
    if not args.no_onnx:
        from posefinder.models import weights
        from posefinder.models.estimators import onnx_runtime

        if onnx_runtime.can_export():
            from posefinder.models import onnx_export

            bundle, card = weights.load_bundle(path)
            for graph in onnx_export.write_model_graphs(path, bundle, card).values():
                print(f"exported {graph}", file=sys.stderr)
    print(path)
    return 0
