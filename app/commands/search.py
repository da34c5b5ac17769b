"""`posefinder search`: the library's poses nearest to a pose file, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

HELP = "find the library's poses nearest to a pose (a pose file of any format)"


def add_arguments(parser) -> None:
    parser.add_argument("--pose", required=True, type=Path, metavar="FILE",
                        help="pose file: PoseFinder, COCO (one annotation), OpenPose or ADD JSON")
    parser.add_argument("--library", required=True, type=Path, metavar="LIB", help="library folder")
    parser.add_argument("-k", type=int, default=10, metavar="K", help="number of results (default 10)")
    joints = parser.add_mutually_exclusive_group()
    joints.add_argument("--joints", metavar="NAMES",
                        help="compare only these joints: comma-separated names or groups (e.g. upper_body,head)")
    joints.add_argument("--without", metavar="NAMES", help="switch these joints or groups off (e.g. legs)")
    parser.add_argument("--mirror", action="store_true", help="also match the mirrored pose (best of both)")
    parser.add_argument("--orientation", type=float, default=0.0, metavar="W",
                        help="weight of the torso orientation term (0, the default, is the paper's ranking)")
    parser.add_argument("--folder", type=Path, metavar="DIR", help="only images under this folder")
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help="only images with this tag (repeat: all of them); `posefinder tags` lists them")
    parser.add_argument("--not-tag", action="append", default=[], metavar="TAG", help="only images without this tag")
    parser.add_argument("--min-score", type=float, metavar="S",
                        help="a tag counts at score >= S (default: the tagger's threshold, 0.5 for the paper's)")
    parser.add_argument("--characters", choices=("one", "several"),
                        help="only images with one character (solo figures) or with several")
    parser.add_argument("--pose-index", type=int, default=0, metavar="N",
                        help="which pose of the file to use when it holds several (default 0, the first)")
    parser.add_argument("--json", action="store_true", help="print a JSON array, best first")


def _joint_mask(args):
    import numpy as np

    from posefinder.models import skeleton
    from posefinder.models.descriptor import QueryError

    spec = args.joints if args.joints is not None else args.without
    if spec is None:
        return None
    try:
        idx = skeleton.resolve_names(spec)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    mask = np.zeros(skeleton.NUM_KEYPOINTS, dtype=bool)
    mask[idx] = True
    return mask if args.joints is not None else ~mask


def run(args) -> int:
    from posefinder.models.descriptor import Query, QueryError
    from posefinder.models.errors import PoseFileError
    from posefinder.models.formats import read_poses
    from posefinder.models.library import Library
    from posefinder.models.library.library_tags import TagFilter, check_tags_known

    if args.k < 1:
        raise QueryError("-k must be at least 1")
    records = read_poses(args.pose)
    if not records:
        raise PoseFileError(f"{args.pose}: the file holds no pose")
    if not 0 <= args.pose_index < len(records):
        raise PoseFileError(f"{args.pose}: holds {len(records)} poses; --pose-index must be 0 to {len(records) - 1}")
    query = Query(records[args.pose_index].pose, joints=_joint_mask(args), mirror=args.mirror,
                  orientation_weight=args.orientation)  # fmt: skip
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise QueryError("--min-score must be between 0 and 1")
    flt = TagFilter(tuple(args.tag), tuple(args.not_tag), args.min_score)
    with Library.open(args.library, readonly=True) as lib:
        check_tags_known(lib._con(), [*args.tag, *args.not_tag])
        results = lib.search(query, k=args.k, folder=args.folder, tags=flt, characters=args.characters)
        tags = lib.image_tags({r.image_id for r in results}, args.min_score) if args.json else {}
    if args.json:
        items = [json.dumps({**_as_json(i, r), "tags": _tags_json(tags.get(r.image_id, []))})
                 for i, r in enumerate(results, 1)]  # fmt: skip
        print("[\n" + ",\n".join(items) + "\n]" if items else "[]")
        return 0
    print(format_table(results))
    return 0


def _tags_json(tags) -> dict:
    """An image's tags above the threshold as {tag: score}, best first."""
    return {t: (None if s is None else round(float(s), 4)) for t, s in tags}


def format_table(results) -> str:
    """Search results as the terminal table: rank, distance, mirrored, image."""
    if not results:
        return "no pose in the library shares enough joints with the query"
    lines = [f"{'rank':>4}  {'distance':>9}  {'mirror':6}  image"]
    for i, r in enumerate(results, 1):
        lines.append(f"{i:>4}  {r.distance:9.4f}  {'yes' if r.mirrored else '':6}  {r.image}")
    return "\n".join(lines)


def _as_json(rank: int, r) -> dict:
    return {
        "rank": rank,
        "image": r.image,
        "path": None if r.path is None else str(r.path),
        "distance": r.distance,
        "mirrored": r.mirrored,
        "pose_id": r.pose_id,
        "image_id": r.image_id,
        "source": r.pose.source,
        "keypoints": [[float(x), float(y), int(v)] for x, y, v in r.pose.keypoints],
    }
