"""`posefinder-train tagger`: train the ResNet50 illustration tagger on a Danbooru-style folder (paper 3.2, 4.2).

Reads the posts (metadata JSON lines or per-image sidecars), keeps those that pass the paper's filters,
labels them with the rulebook, splits them 80/10/10 by post id, trains with the class-balanced BCE, then
chooses per-class thresholds on validation, measures F1 on test and exports the tagger (safetensors + card
with the classes, thresholds and measured metrics) with build/trainer.py's export_bundle.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "train the illustration tagger (ResNet50, class-balanced BCE) on a Danbooru-style image folder"

#: preset -> (network preset of posefinder.models.nets, input size in pixels)
PRESETS: dict[str, tuple[str, int]] = {"paper": ("paper", 256), "small": ("small", 128), "tiny": ("tiny", 32)}

#: The paper's effective batch of 512 (section 5.2) as 16 accumulated batches of 32.
PAPER_ACCUMULATE = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from posefinder.build.trainer import add_trainer_arguments

    d = parser.add_argument_group("data (paper section 4.2)")
    d.add_argument("--images", type=Path, required=True, metavar="DIR",
                   help="image folder: <id>.<ext> files, also in Danbooru's bucket subfolders (NNNN/<id>.<ext>), "
                        "or any images with tag sidecars (<image>.txt or .json)")
    d.add_argument("--metadata", type=Path, action="append", default=[], metavar="PATH",
                   help="Danbooru20xx metadata: a JSON-lines file or a folder of them (repeatable); "
                        "without it, tags come from the images' sidecar files")
    d.add_argument("--rulebook", type=Path, metavar="FILE",
                   help="rulebook JSON (class -> union of raw tags); default: the starter rulebook shipped "
                        "with PoseFinder")
    d.add_argument("--min-side", type=int, default=512, metavar="PX",
                   help="drop posts whose short side is below PX pixels (default 512, the paper's; 0: keep all)")
    d.add_argument("--min-tags", type=int, default=12, metavar="N",
                   help="drop posts with fewer than N positive tags (default 12, the paper's; 0: keep all)")
    d.add_argument("--count-tags-on", choices=("classes", "raw"), default="classes",
                   help="count --min-tags on the rulebook's classes or on the raw tags (default classes)")
    d.add_argument("--ratings", metavar="LETTERS",
                   help="keep only these ratings, e.g. s or g,s (default: all; the paper used Danbooru2019's "
                        "SFW subset, rating s)")
    d.add_argument("--no-solo-filter", action="store_true",
                   help="keep posts that are not tagged solo and 1girl or 1boy (the paper drops them)")
    d.add_argument("--no-comic-filter", action="store_true",
                   help="keep comics, 4koma, multiple views and the like (the paper drops them)")
    m = parser.add_argument_group("model")
    m.add_argument("--preset", choices=tuple(PRESETS), default="paper",
                   help="network size: paper (ResNet50 at 256 px), small (ResNet18 half width, 128 px) or tiny "
                        "(tests, 32 px) (default paper)")
    m.add_argument("--input-size", type=int, metavar="PX", help="input size in pixels (default: the preset's)")
    m.add_argument("--init", choices=("imagenet", "none"),
                   help="initial weights: imagenet (torchvision's ResNet50, the paper's start; downloads once) or "
                        "none (random) (default imagenet for the paper preset, none otherwise)")
    e = parser.add_argument_group("export")
    e.add_argument("--export", type=Path, metavar="FILE",
                   help="where to write the trained tagger (.safetensors + .json card) (default OUT/tagger.safetensors)")
    e.add_argument("--name", default="tagger", help="name written into the card (default tagger)")
    add_trainer_arguments(parser, out="runs/tagger")
    _set_default(parser, "accumulate", PAPER_ACCUMULATE,
                 f"accumulate gradients over K batches (effective batch = K x batch size x devices) (default "
                 f"{PAPER_ACCUMULATE}: 16 x 32 = the paper's 512)")


def _set_default(parser: argparse.ArgumentParser, dest: str, value, help_text: str) -> None:
    for action in parser._actions:
        if action.dest == dest:
            action.default, action.help = value, help_text
            return
    raise KeyError(dest)


def _ratings(text: str | None):
    if not text:
        return None
    return frozenset(r.strip().lower()[:1] for r in text.split(",") if r.strip())


def load_data(args):
    """(rulebook, {"train", "val", "test"} posts, filter report) from the command's data options."""
    from posefinder.build.data import danbooru
    from posefinder.build.data.rulebook import load_rulebook

    rulebook = load_rulebook(args.rulebook)
    posts = danbooru.read_posts(args.images, args.metadata)
    if not posts:
        where = "the metadata's posts have no image there" if args.metadata else "no image has a tag sidecar"
        raise danbooru.DatasetError(f"{args.images}: no tagged images ({where})")
    rules = danbooru.PaperFilter(
        min_side_px=args.min_side, min_tags=args.min_tags, count_tags_on=args.count_tags_on,
        require_solo=not args.no_solo_filter, exclude_comics=not args.no_comic_filter, ratings=_ratings(args.ratings),
    )  # fmt: skip
    kept, report = danbooru.filter_posts(posts, rules, rulebook)
    splits = danbooru.split_posts(kept)
    for name in ("train", "val", "test"):
        if not splits[name]:
            raise danbooru.DatasetError(
                f"the filters kept {len(kept)} of {len(posts)} images ({report.summary()}) and the 80/10/10 split "
                f"left none for {name}; add images or loosen --min-side/--min-tags"
            )
    return rulebook, splits, report


def _loader(dataset, args, *, shuffle: bool):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=args.batch_size, shuffle=shuffle, num_workers=args.workers,
                      drop_last=shuffle and len(dataset) > args.batch_size,
                      persistent_workers=False, pin_memory=False)  # fmt: skip


def run(args) -> int:
    import torch

    from posefinder.build import trainer as tr
    from posefinder.build.data import danbooru
    from posefinder.build.metrics.tags import evaluate_tagger
    from posefinder.build.modules.tagger import TaggerModule, predict_probabilities

    net_preset, default_size = PRESETS[args.preset]
    input_size = args.input_size or default_size
    init = args.init or ("imagenet" if args.preset == "paper" else "none")
    rulebook, splits, report = load_data(args)
    log = lambda text: print(f"posefinder-train: {text}", file=sys.stderr, flush=True)  # noqa: E731
    log(f"tagger data: {report.summary()}; train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])}; {len(rulebook)} classes")  # fmt: skip

    augment = danbooru.TaggerAugment()
    train_set = danbooru.TaggerDataset(splits["train"], rulebook, input_size=input_size, augment=augment)
    val_set = danbooru.TaggerDataset(splits["val"], rulebook, input_size=input_size)
    test_set = danbooru.TaggerDataset(splits["test"], rulebook, input_size=input_size)
    positives = danbooru.class_positives(splits["train"], rulebook)
    module = TaggerModule(num_classes=len(rulebook), positives=positives.tolist(), total=len(splits["train"]),
                          preset=net_preset, init=None if init == "none" else init, lr=args.lr)  # fmt: skip
    trainer = tr.make_trainer(args, "tagger", monitor="val/macro_f1", mode="max")
    tr.fit(trainer, module, args, "tagger", train_dataloaders=_loader(train_set, args, shuffle=True),
           val_dataloaders=_loader(val_set, args, shuffle=False))  # fmt: skip
    if not trainer.is_global_zero:
        return 0

    device = module.device if module.device.type != "meta" else torch.device("cpu")
    val_probs, val_labels = predict_probabilities(module.net, _loader(val_set, args, shuffle=False), device)
    test_probs, test_labels = predict_probabilities(module.net, _loader(test_set, args, shuffle=False), device)
    result = evaluate_tagger(val_probs, val_labels, test_probs, test_labels)
    test = result["test"]
    metrics = {
        "test_micro_f1": test["micro_f1"], "test_macro_f1": test["macro_f1"],
        "test_micro_precision": test["micro_precision"], "test_micro_recall": test["micro_recall"],
        "test_micro_f1_at_0.5": result["test_at_0.5"]["micro_f1"],
        "test_macro_f1_at_0.5": result["test_at_0.5"]["macro_f1"],
        "test_classes_scored": test["classes_scored"], "test_images": int(len(test_set)),
    }  # fmt: skip
    metrics = {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}
    out = tr.run_dir(args, "tagger")
    export = args.export or out / "tagger.safetensors"
    training_data = {
        "source": str(args.images), "metadata": [str(m) for m in args.metadata],
        "filter": report.summary(), "splits": {k: len(v) for k, v in splits.items()},
        **danbooru.describe_posts(splits["train"], rulebook),
    }  # fmt: skip
    path = tr.export_bundle(
        export, tagger=module.net.cpu(), name=args.name, metrics=metrics, training_data=training_data,
        description="Illustration tagger (Chen & Zwicker 2022, section 3.2): ResNet multi-label classifier over "
                    "the rulebook's classes; sigmoid(logits) >= thresholds gives the tags.",
        classes=rulebook.class_names, thresholds=[float(t) for t in result["thresholds"]],
        rulebook={"name": rulebook.name, "version": rulebook.version, "classes": len(rulebook)},
        input_size=input_size,
        preprocessing="RGB letterboxed (aspect kept) onto a white input_size square, values in [0, 1]",
    )  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    print(f"{'measure':<24}value")
    for key, value in metrics.items():
        print(f"{key:<24}{value if not isinstance(value, float) else f'{value:.4f}'}")
    print(f"tagger={path}")
    return 0
