"""`posefinder pose`: the poses of the characters in images, as text or pose files, optionally drawn.

Output: a readable summary by default; --json (PoseFinder pose JSON), --coco (COCO keypoints) or
--openpose (ControlNet's OpenPose JSON; a list of documents with several images) to stdout or -o FILE.
--draw OUT saves each image with its skeletons drawn on it:
- one image: OUT is the image file to write (.png, .jpg, .webp, ...), or an existing folder;
- several images: OUT is a folder (created when missing), each drawing saved as <image stem>.pose.png
  (<stem>-2.pose.png, ... when stems repeat); or OUT holds "{stem}" and/or "{index}" (1-based), e.g.
  "drawn/{index:03d}-{stem}.png".
A drawing never replaces an input image. A bad image prints one error line and the others go on; the exit
status is then 1. Without any pose model, the command says how to get one and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "estimate the poses of the characters in images (auto-pose), print or save them, draw them"

#: Suffixes --draw may write.
DRAW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def add_arguments(parser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files")
    parser.add_argument("--model", metavar="NAME",
                        help="an estimator (feature-matching, feature-concatenation, keypoint-rcnn) or an installed "
                             "model's name; default: the first available (`posefinder models list`)")  # fmt: skip
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="fmt", action="store_const", const="posefinder", help="PoseFinder pose JSON")
    fmt.add_argument("--openpose", dest="fmt", action="store_const", const="openpose", help="OpenPose JSON")
    fmt.add_argument("--coco", dest="fmt", action="store_const", const="coco", help="COCO keypoint JSON")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the poses here instead of stdout")
    parser.add_argument("--draw", metavar="OUT",
                        help="save the images with the skeletons drawn: a file for one image; for several, a "
                             "folder (each drawn as <stem>.pose.png) or a pattern with {stem} and/or {index}, "
                             "e.g. 'drawn/{index:03d}-{stem}.png'")  # fmt: skip
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the model runs (default cpu)")


def run(args) -> int:
    from posefinder.models.errors import ImageError, PoseFinderError
    from posefinder.models.estimators import chain
    from posefinder.models.formats import PoseRecord
    from posefinder.models.imageio import read_image

    draw_paths = _draw_targets(args.draw, args.images) if args.draw else None
    estimator = chain.select_estimator(args.model, device=args.device)
    print(f"posefinder: estimating with {_describe(estimator)}", file=sys.stderr)
    results: list[tuple[Path, list, tuple[int, int]]] = []
    failed = 0
    for i, path in enumerate(args.images):
        try:
            decoded = read_image(path)
        except ImageError as exc:
            print(f"posefinder: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        image = decoded.image
        found = estimator.estimate(image)
        poses = decoded.to_canvas(found)  # a working file's preview: poses in canvas pixels
        results.append((path, poses, decoded.canvas_size or (image.shape[1], image.shape[0])))
        if draw_paths is not None:
            _draw(image, found, draw_paths[i])
    records = [PoseRecord(p, str(path)) for path, poses, _ in results for p in poses]
    text = _formatted(records, results, args.fmt)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise PoseFinderError(f"{args.output}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text)
    return 1 if failed else 0


def _describe(estimator) -> str:
    model = getattr(estimator, "model_name", "")
    return f"{estimator.name} (model {model!r})" if model else estimator.name


def _formatted(records, results, fmt: str | None) -> str:
    import json

    from posefinder.models.formats import FORMATS, dumps

    if fmt == "openpose":  # one canvas per image: a document, or a list of them for several images
        docs = []
        for path, _, (w, h) in results:
            doc = FORMATS["openpose"].dump([r for r in records if r.image == str(path)])
            doc["canvas_width"], doc["canvas_height"] = w, h
            docs.append(doc)
        return json.dumps(docs[0] if len(docs) == 1 else docs, indent=1) + "\n"
    if fmt:
        return dumps(records, fmt) + "\n"
    return _summary(results)


def _summary(results) -> str:
    from posefinder.models import skeleton

    lines = []
    for path, poses, _ in results:
        lines.append(f"{path}: {len(poses)} character{'s' if len(poses) != 1 else ''}")
        for n, pose in enumerate(poses, 1):
            box = "" if pose.bbox_xywh is None else "  bbox " + " ".join(f"{v:.1f}" for v in pose.bbox_xywh)
            lines.append(f"  character {n}: score {pose.score:.3f}{box}")
            for name, (x, y, v), s in zip(skeleton.KEYPOINT_NAMES, pose.keypoints, pose.scores):
                where = f"{x:8.1f} {y:8.1f}" if v > 0 else f"{'absent':>17}"
                lines.append(f"    {name:<16} {where}  v{int(v)}  score {s:.2f}")
    return "\n".join(lines) + ("\n" if lines else "")


def _draw_targets(out: str, images: list[Path]) -> list[Path]:
    """The drawing path of each image (see the module docstring); PoseFinderError for an unusable OUT."""
    from posefinder.models.errors import PoseFinderError

    inputs = {p.resolve() for p in images}
    if "{" in out:
        try:
            targets = [Path(out.format(stem=p.stem, index=i)) for i, p in enumerate(images, 1)]
        except (KeyError, IndexError, ValueError) as exc:
            raise PoseFinderError(f"--draw {out}: a pattern may use {{stem}} and {{index}} only ({exc})") from None
        if len(set(targets)) < len(targets):
            raise PoseFinderError(f"--draw {out}: the pattern gives several images the same file; add {{index}}")
    elif len(images) == 1 and not Path(out).is_dir():
        targets = [Path(out)]
    else:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise PoseFinderError(f"--draw {out}: with several images, OUT is a folder or a pattern with {{stem}}")
        targets, seen = [], set()
        for p in images:
            name, n = f"{p.stem}.pose.png", 1
            while name in seen:
                n += 1
                name = f"{p.stem}-{n}.pose.png"
            seen.add(name)
            targets.append(folder / name)
    for t in targets:
        if t.suffix.lower() not in DRAW_SUFFIXES:
            raise PoseFinderError(f"--draw: {t} needs an image suffix ({', '.join(DRAW_SUFFIXES)})")
        if t.resolve() in inputs:
            raise PoseFinderError(f"--draw: {t} is an input image; it would be overwritten")
    return targets


def _draw(image, poses, target: Path) -> None:
    from posefinder.models.drawing import draw_skeleton
    from posefinder.models.errors import PoseFinderError
    from posefinder.models.imageio import save_image

    out = image
    for pose in poses:
        out = draw_skeleton(out, pose)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_image(out, target)
    except OSError as exc:
        raise PoseFinderError(f"{target}: cannot write the drawing ({exc.strerror or exc})") from None
