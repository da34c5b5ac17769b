"""`posefinder tags`: a library's tags with their image counts; installing and removing taggers."""

from __future__ import annotations

import json
from pathlib import Path

HELP = "list a library's tags with image counts (most frequent first); install or remove a tagger"


def add_arguments(parser) -> None:
    parser.add_argument("--library", type=Path, metavar="LIB", help="library folder whose tags to list")
    parser.add_argument(
        "--min-score",
        type=float,
        metavar="S",
        help="count a tag at score >= S (default: the tagger's threshold, 0.5 for the paper's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--install",
        type=Path,
        metavar="FILE",
        help="install a tagger file trained by `posefinder-train tagger` (.safetensors)",
    )
    parser.add_argument("--remove", metavar="NAME", help="remove an installed tagger")


def run(args) -> int:
    from posefinder.models import tagging
    from posefinder.models.errors import LibraryError, ModelError

    if args.install is not None:
        info = tagging.install_tagger(args.install)
        print(f"installed tagger {info.name!r}: {len(info.classes)} tags, threshold {info.threshold:g}, as {info.path}; "
              "`posefinder index --library LIB --retag` re-tags a library with it")  # fmt: skip
        return 0
    if args.remove is not None:
        path = tagging.taggers_dir() / f"{args.remove}.safetensors"
        if "/" in args.remove or not path.is_file():
            raise ModelError(f"no installed tagger named {args.remove!r}")
        path.unlink()
        print(f"removed tagger {args.remove!r}; libraries keep the tags it gave")
        return 0
    if args.library is None:
        raise LibraryError("give --library LIB (to list its tags), --install FILE or --remove NAME")
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise LibraryError("--min-score must be between 0 and 1")
    from posefinder.models.library import Library

    with Library.open(args.library, readonly=True) as lib:
        counts = lib.tag_counts(args.min_score)
        threshold = lib.tag_threshold() if args.min_score is None else args.min_score
    if args.json:
        print(json.dumps({"threshold": threshold, "tags": [{"tag": t, "images": n} for t, n in counts]}, indent=1))
        return 0
    if not counts:
        print(f"no tags at score >= {threshold:g}; {tagging.NO_TAGGER_HINT.split(': ', 1)[1]}, then index the library")
        return 0
    width = max(len(t) for t, _ in counts)
    for t, n in counts:
        print(f"{t:<{width}}  {n}")
    return 0
