"""`posefinder-train evaluate`: the paper's pose metrics of a model or of a predictions file on a labelled set."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "evaluate a pose model or a predictions file on a COCO/ADD/synthetic set (OKS@50/75, PCKh@50, PDJ@20, PCPm@50)"


def add_arguments(parser) -> None:
    what = parser.add_argument_group("what to evaluate (one of)")
    what.add_argument("--model", metavar="NAME|FILE",
                      help="an installed model or estimator name (`posefinder models list`), or a model file "
                           "(.safetensors) (default: the estimator chain's first available)")
    what.add_argument("--predictions", type=Path, metavar="FILE",
                      help="a pose file of predictions (any format `posefinder import` reads), matched to the "
                           "ground truth by image file name")
    data = parser.add_argument_group("labelled set (one of)")
    data.add_argument("--data", type=Path, metavar="FILE",
                      help="ground-truth pose file: COCO keypoints, ADD or PoseFinder JSON")
    data.add_argument("--images", type=Path, metavar="DIR", help="folder of --data's images (default: its folder)")
    data.add_argument("--synthetic", type=int, metavar="N", help="N synthetic figures (posefinder.build.synthetic)")
    data.add_argument("--synthetic-seed", type=int, default=1000, metavar="S",
                      help="seed of the synthetic set; keep it apart from training seeds (default 1000)")
    data.add_argument("--synthetic-size", type=int, default=256, metavar="PX",
                      help="side of the synthetic images (default 256)")
    data.add_argument("--synthetic-style", default="default", metavar="STYLE",
                      help="drawing style of the synthetic set: a name of posefinder.build.synthetic.STYLES (default, "
                           "chibi-ink: chibi proportions, heavy ink lines, robes) (default default)")
    data.add_argument("--save-synthetic", type=Path, metavar="DIR",
                      help="also write the synthetic set (PNG images + COCO ground truth) there, e.g. to predict "
                           "with another tool and evaluate its --predictions")
    how = parser.add_argument_group("how")
    how.add_argument("--bbox", choices=("gt", "estimated"), default="gt",
                     help="gt: the pose network sees the crop around the ground-truth bbox, the paper's protocol "
                          "for pose estimation (section 5.1; paper models only); estimated: the estimator's whole "
                          "pipeline finds the character itself (default gt)")
    how.add_argument("--keypoints", choices=("coco", "all"), default="coco",
                     help="score the 17 COCO keypoints as the paper does, or all 25 with the midpoints (default coco)")
    how.add_argument("--device", default="cpu", help="device of the model: cpu, cuda, cuda:1, auto (default cpu)")
    how.add_argument("--batch-size", type=int, default=16, metavar="N", help="images per network batch (default 16)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    out.add_argument("--output", type=Path, metavar="FILE", help="also write the metrics JSON to FILE")


def load_set(args):
    """[(name, image or None, ground-truth Pose)] of the labelled set."""
    from posefinder.build.trainer import TrainingError

    if (args.data is None) == (args.synthetic is None):
        raise TrainingError("give the labelled set: --data POSEFILE (with --images DIR) or --synthetic N")
    if args.synthetic is not None:
        if args.synthetic < 1:
            raise TrainingError("--synthetic needs at least one figure")
        from posefinder.build.data.pose import SyntheticPoseDataset

        from posefinder.build.synthetic import STYLES

        style = getattr(args, "synthetic_style", "default")
        if style not in STYLES:
            raise TrainingError(f"--synthetic-style {style!r}: known styles are {', '.join(STYLES)}")
        ds = SyntheticPoseDataset(args.synthetic, args.synthetic_seed, size=(args.synthetic_size,) * 2,
                                  render_kwargs={"style": style} if style != "default" else None)  # fmt: skip
        items = []
        for i in range(len(ds)):
            image, pose = ds.item(i)
            items.append((f"synthetic-{style}-s{args.synthetic_seed}-{i:06d}.png" if style != "default"
                          else f"synthetic-s{args.synthetic_seed}-{i:06d}.png", image, pose))
        if args.save_synthetic is not None:
            _save_set(items, args.save_synthetic)
        return items
    from posefinder.models.formats import read_poses
    from posefinder.models.library.importer import find_image

    images_dir = args.images or args.data.parent
    items, missing = [], 0
    for rec in read_poses(args.data):
        if rec.pose.present.sum() < 2:
            continue
        path = find_image(images_dir, rec.image or "")
        if path is None and args.predictions is None:
            missing += 1
            continue
        items.append((str(rec.image) if path is None else str(path), path, rec.pose))
    if not items:
        raise TrainingError(f"{args.data}: none of its images was found in {images_dir}; give --images DIR")
    if missing:
        print(f"posefinder-train: {missing} annotated images not found in {images_dir}; evaluated without them",
              file=sys.stderr)  # fmt: skip
    return items


def _save_set(items, folder: Path) -> None:
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord
    from posefinder.models.imageio import save_image

    folder.mkdir(parents=True, exist_ok=True)
    for name, image, _ in items:
        save_image(image, folder / name)
    write_poses([PoseRecord(pose, name) for name, _, pose in items], folder / "ground_truth.json", "coco")


def _image(item):
    from posefinder.models.imageio import load_image

    name, image, _ = item
    return load_image(image) if isinstance(image, Path) else image


def predict_with_model(args, items):
    """Predicted Poses (None where nothing was found), one per item."""
    from posefinder.build.indexing import resolve_estimator
    from posefinder.build.trainer import TrainingError
    from posefinder.models.estimators.paper import PaperModelEstimator

    estimator = resolve_estimator(args.model, device=args.device)
    in_boxes = None  # --bbox gt: the paper model's pipeline, run on the given boxes
    if args.bbox == "gt":
        if not isinstance(estimator, PaperModelEstimator):
            raise TrainingError(f"--bbox gt runs a paper model's pose network on given boxes; {estimator.name} cannot: "
                                "use --bbox estimated")  # fmt: skip
        in_boxes = estimator.pipeline
    out = []
    for start in range(0, len(items), args.batch_size):
        chunk = items[start : start + args.batch_size]
        images = [_image(it) for it in chunk]
        if in_boxes is not None:
            out.extend(in_boxes.estimate_in_boxes(images, [it[2].bbox() for it in chunk]))
        else:
            out.extend(poses[0] if poses else None for poses in estimator.estimate_batch(images))
    return out


def predictions_from_file(path: Path, items):
    """The first predicted pose of each item's image in a pose file, matched by file name (None if none)."""
    from posefinder.build.trainer import TrainingError
    from posefinder.models.formats import read_poses

    by_name: dict[str, object] = {}
    for rec in read_poses(path):
        if rec.image:
            by_name.setdefault(Path(str(rec.image)).name, rec.pose)
    if not by_name:
        raise TrainingError(f"{path}: its poses name no images, so they cannot be matched to the ground truth")
    preds = [by_name.get(Path(name).name) for name, _, _ in items]
    if not any(p is not None for p in preds):
        raise TrainingError(f"{path}: none of its image names is in the labelled set")
    return preds


def run(args) -> int:
    import json

    from posefinder.build.metrics.pose import COCO17, evaluate_poses
    from posefinder.build.trainer import TrainingError
    from posefinder.models import skeleton

    if args.model is not None and args.predictions is not None:
        raise TrainingError("give --model or --predictions, not both")
    if args.batch_size < 1:
        raise TrainingError("--batch-size must be at least 1")
    items = load_set(args)
    if args.predictions is not None:
        preds = predictions_from_file(args.predictions, items)
    else:
        preds = predict_with_model(args, items)
    keypoints = COCO17 if args.keypoints == "coco" else tuple(range(skeleton.NUM_KEYPOINTS))
    metrics = evaluate_poses([it[2] for it in items], preds, keypoints)
    obj = metrics.to_dict()
    if args.synthetic:
        obj["set"] = {"synthetic": args.synthetic, "seed": args.synthetic_seed, "style": args.synthetic_style}
    else:
        obj["set"] = {"file": str(args.data)}
    obj["bbox"] = args.bbox if args.predictions is None else "predictions"
    text = json.dumps(obj, indent=1)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text if args.json else metrics.table())
    return 0
