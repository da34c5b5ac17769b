"""`posefinder index`: add image folders to a library and estimate their poses, incrementally."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "index image folders into a library (created if missing): new, changed, moved and deleted files"


def add_arguments(parser) -> None:
    parser.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help="image folders to add and index (default: the library's folders)")
    parser.add_argument("--library", required=True, type=Path, metavar="LIB", help="library folder (created if missing)")
    parser.add_argument("--model", metavar="NAME", help="pose model to use (default: the first available)")
    parser.add_argument("--device", default="cpu", help="device for the pose model (default cpu)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per commit (default 64)")
    parser.add_argument("--no-thumbnails", action="store_true", help="do not write thumbnails")
    parser.add_argument("--retag", action="store_true",
                        help="re-tag images another tagger tagged, with the newest installed tagger")


def run(args) -> int:
    from tqdm import tqdm

    from posefinder.models.errors import LibraryError
    from posefinder.models.library import Library

    for f in args.folders:
        if not f.is_dir():
            raise LibraryError(f"{f}: no such folder")
    if args.batch_size < 1:
        raise LibraryError("--batch-size must be at least 1")
    created = not (args.library / "library.sqlite").exists()
    with Library.open(args.library, create=True) as lib:
        if created:
            print(f"created library {lib.path}")
        if not args.folders and not lib.folders():
            raise LibraryError(f"{lib.path} has no image folders yet; give one: posefinder index FOLDER --library {args.library}")
        bar = tqdm(unit="img", disable=None, leave=False, file=sys.stderr)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        def log(line):
            bar.write(f"posefinder: {line}", file=sys.stderr)

        try:
            report = lib.index(
                folders=args.folders or None, progress=progress, batch_size=args.batch_size,
                thumbnails=not args.no_thumbnails, model=args.model, device=args.device, log=log,
                retag=args.retag,
            )  # fmt: skip
        finally:
            bar.close()
        counts = lib.counts()
    print(report.summary())
    print(f"library: {counts.images} images, {counts.poses} poses, {counts.images_without_character} without "
          f"a character, {counts.images_not_estimated} waiting for a pose model")  # fmt: skip
    if report.model_message and report.not_estimated:
        print(f"posefinder: {report.not_estimated} images recorded without poses: {report.model_message}", file=sys.stderr)
    if report.unavailable_line():
        print(f"posefinder: {report.unavailable_line()}", file=sys.stderr)
    if report.skipped:
        print(f"posefinder: {len(report.skipped)} entries skipped: not regular files (FIFOs, sockets, devices)", file=sys.stderr)
    if report.bad:
        print(f"posefinder: error: {len(report.bad)} images could not be read (listed above); the others are indexed",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
