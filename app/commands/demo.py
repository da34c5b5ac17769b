"""`posefinder demo`: build the demo library of synthetic figures (once) and open the app on it."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "build a demo library of synthetic figures (once, nothing downloaded) and open the app on it"


def add_arguments(parser) -> None:
    from posefinder.app.demo import DEFAULT_COUNT

    parser.add_argument("--cli", action="store_true", help="stay in the terminal: run a sample search and print it")
    parser.add_argument("--rebuild", action="store_true", help="draw the demo library again from scratch")
    parser.add_argument("-n", type=int, default=DEFAULT_COUNT, metavar="N",
                        help=f"number of figures (default {DEFAULT_COUNT})")  # fmt: skip
    parser.add_argument("-k", type=int, default=8, metavar="K", help="results of the sample search (default 8)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the app on the demo library into this PNG and exit")  # fmt: skip


def run(args) -> int:
    from tqdm import tqdm

    from posefinder.app.demo import demo_paths, ensure_demo_library, is_built

    if not args.rebuild and is_built(args.n):
        library = ensure_demo_library(args.n)
    else:
        print(f"building the demo library ({args.n} figures) in {demo_paths()[0]}", file=sys.stderr)
        bar = tqdm(unit="img", disable=None, file=sys.stderr, desc="demo")

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            library = ensure_demo_library(args.n, progress=progress, rebuild=args.rebuild)
        finally:
            bar.close()
    if args.cli:
        return sample_search(library, k=args.k)
    try:
        from posefinder.app.gui import launch
    except ModuleNotFoundError as exc:
        if exc.name not in ("posefinder.app.gui", "PySide6"):
            raise
        print(f"posefinder: the app window is not available here ({exc}); showing a sample search instead",
              file=sys.stderr)  # fmt: skip
        return sample_search(library, k=args.k)
    if args.screenshot is not None:
        return launch(library=library, screenshot=args.screenshot)
    return launch(library=library)


def sample_search(library, k: int = 8, index: int = 7) -> int:
    """Search the demo library with the pose of one of its figures and print the table."""
    from posefinder.app.commands.search import format_table
    from posefinder.app.demo import demo_pose, image_name
    from posefinder.models.descriptor import Query
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord
    from posefinder.models.library import Library

    with Library.open(library, readonly=True) as lib:
        counts = lib.counts()
        index = max(0, min(index, counts.images - 1))
        pose = demo_pose(index)
        results = lib.search(Query(pose), k=k)
    query_file = library.parent / "sample_query.json"
    write_poses([PoseRecord(pose, image_name(index))], query_file)
    print(f"demo library: {library} ({counts.images} images, {counts.poses} poses)")
    print(f"sample search: the pose of {image_name(index)} ({pose.meta.get('kind', '?')}), {k} nearest")
    print(format_table(results))
    print(f"the same from the command line: posefinder search --pose {query_file} --library {library}")
    return 0
