"""`posefinder-train segmenter`: train the character segmenter on composites (paper sections 3.3, 4.3, 5.3).

RGBA foregrounds (folders, and/or synthetic figures) are composited on the fly onto background images,
5% of samples without a foreground; fixed held-out pairs from unseen images validate and test. After
training, the mask metrics of Table 3 are measured on the test pairs and the segmenter is exported
(safetensors + card) with build/trainer.py's export_bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "train the character segmenter (DeepLabv3 + 3 layers) on RGBA foregrounds composited onto backgrounds"

#: preset -> (network preset of posefinder.models.nets, input size in pixels)
PRESETS: dict[str, tuple[str, int]] = {"paper": ("paper", 320), "small": ("small", 160), "tiny": ("tiny", 32)}


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 0 and below 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from posefinder.build.data.segmentation import BACKGROUND_ONLY_P, PAPER_HELD_OUT_PAIRS
    from posefinder.build.trainer import add_trainer_arguments

    d = parser.add_argument_group("data (paper section 4.3)")
    d.add_argument("--foregrounds", type=Path, action="append", default=[], metavar="DIR",
                   help="folder of RGBA images with transparent backgrounds (alpha = the character's mask); "
                        "images without transparency are skipped (repeatable)")
    d.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="also use N synthetic figures (posefinder.build.synthetic) as foregrounds (default 0)")
    d.add_argument("--backgrounds", type=Path, action="append", default=[], required=True, metavar="DIR",
                   help="folder of background images: scenery, textures (repeatable; required)")
    d.add_argument("--background-only", type=_probability, default=BACKGROUND_ONLY_P, metavar="P",
                   help=f"share of training samples without a foreground, an empty mask (default {BACKGROUND_ONLY_P}, "
                        "the paper's 5%%)")
    d.add_argument("--held-out-pairs", type=int, default=PAPER_HELD_OUT_PAIRS, metavar="N",
                   help=f"fixed foreground/background pairs for validation and for test, each (default "
                        f"{PAPER_HELD_OUT_PAIRS}, the paper's)")
    d.add_argument("--epoch-length", type=int, metavar="N",
                   help="training samples per epoch (default: the number of training foregrounds, each once)")
    m = parser.add_argument_group("model")
    m.add_argument("--preset", choices=tuple(PRESETS), default="paper",
                   help="network size: paper (DeepLabv3-ResNet50, 320 px), small (reduced widths, 160 px) or tiny "
                        "(tests, 32 px) (default paper)")
    m.add_argument("--input-size", type=int, metavar="PX", help="composite size in pixels (default: the preset's)")
    m.add_argument("--init", choices=("coco", "imagenet", "none"),
                   help="initial weights: coco (torchvision's DeepLabv3, the paper's start), imagenet (trunk only), "
                        "or none (random); pretrained weights download once (default coco for the paper preset, "
                        "none otherwise)")
    e = parser.add_argument_group("export")
    e.add_argument("--export", type=Path, metavar="FILE",
                   help="where to write the trained segmenter (.safetensors + .json card) (default "
                        "OUT/segmenter.safetensors)")
    e.add_argument("--name", default="segmenter", help="name written into the card (default segmenter)")
    add_trainer_arguments(parser, out="runs/segmenter")


def load_data(args, input_size: int):
    """SegmentationSplits from the command's data options."""
    from posefinder.build.data import segmentation as seg
    from posefinder.build.data.danbooru import DatasetError

    sources: list[seg.SplittableSource] = [seg.foreground_folder(folder) for folder in args.foregrounds]
    if args.synthetic > 0:
        try:
            sources.append(seg.SyntheticForegrounds(args.synthetic, seed=args.seed, size=(input_size, input_size)))
        except ImportError:
            raise DatasetError("--synthetic needs posefinder.build.synthetic, which this installation lacks") from None
    if not sources:
        raise DatasetError("no foregrounds: give --foregrounds DIR and/or --synthetic N")
    if args.held_out_pairs < 1:
        raise DatasetError("--held-out-pairs must be at least 1")
    backgrounds = seg.Sources([seg.background_folder(folder) for folder in args.backgrounds])
    augment = seg.CompositeAugment(background_only_p=args.background_only)
    return seg.make_splits(seg.Sources(sources), backgrounds, size=input_size, held_out_pairs=args.held_out_pairs,
                           train_length=args.epoch_length, seed=args.seed, augment=augment)  # fmt: skip


def _loader(dataset, args, *, shuffle: bool):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.workers,
                      drop_last=shuffle and len(dataset) > args.batch_size)  # fmt: skip


def run(args) -> int:
    import torch

    from posefinder.build import trainer as tr
    from posefinder.build.modules.segmenter import SegmenterModule, evaluate_masks

    net_preset, default_size = PRESETS[args.preset]
    input_size = args.input_size or default_size
    init = args.init or ("coco" if args.preset == "paper" else "none")
    splits = load_data(args, input_size)
    print(f"posefinder-train: segmenter data: {len(splits.train.foregrounds)} training foregrounds, "
          f"{len(splits.train.backgrounds)} backgrounds, {len(splits.train)} samples per epoch, "
          f"{len(splits.val)} validation and {len(splits.test)} test pairs", file=sys.stderr, flush=True)  # fmt: skip
    module = SegmenterModule(preset=net_preset, init=None if init == "none" else init, lr=args.lr)
    trainer = tr.make_trainer(args, "segmenter", monitor="val/mean_f1", mode="max")
    tr.fit(trainer, module, args, "segmenter", train_dataloaders=_loader(splits.train, args, shuffle=True),
           val_dataloaders=_loader(splits.val, args, shuffle=False))  # fmt: skip
    if not trainer.is_global_zero:
        return 0

    device = module.device if module.device.type != "meta" else torch.device("cpu")
    scores = evaluate_masks(module.net, _loader(splits.test, args, shuffle=False), device)
    metrics = {f"test_{k}": (int(v) if k == "images" else float(v)) for k, v in scores.items()}
    out = tr.run_dir(args, "segmenter")
    export = args.export or out / "segmenter.safetensors"
    training_data = {
        "foregrounds": [str(f) for f in args.foregrounds], "synthetic_foregrounds": args.synthetic,
        "backgrounds": [str(b) for b in args.backgrounds], "background_only_p": args.background_only,
        "train_foregrounds": len(splits.train.foregrounds), "held_out_pairs": args.held_out_pairs,
    }  # fmt: skip
    path = tr.export_bundle(
        export, segmenter=module.net.cpu(), name=args.name, metrics=metrics, training_data=training_data,
        description="Character segmenter (Chen & Zwicker 2022, section 3.3): sigmoid(logits) > 0.5 is the "
                    "character's mask; its enclosing box is the character's bbox.",
        input_size=input_size, threshold=0.5,
        preprocessing="RGB resized or padded to an input_size square, values in [0, 1]",
    )  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(f"{'measure':<20}value")
    for key, value in metrics.items():
        print(f"{key:<20}{value if not isinstance(value, float) else f'{value:.4f}'}")
    print(f"segmenter={path}")
    return 0
