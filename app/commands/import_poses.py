"""`posefinder import`: add the poses of a pose file (COCO, ADD, PoseFinder, OpenPose) to a library."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "add annotated poses from a pose file to a library (created if missing)"


def add_arguments(parser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="pose file: COCO keypoints, ADD, PoseFinder or OpenPose JSON")
    parser.add_argument("--library", required=True, type=Path, metavar="LIB", help="library folder (created if missing)")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="folder with the images the file names: found ones are linked and get thumbnails")


def run(args) -> int:
    from tqdm import tqdm

    from posefinder.models.formats import read_poses
    from posefinder.models.library import Library

    records = read_poses(args.file)  # a bad file stops here, before the library is touched
    if args.images is not None and not args.images.is_dir():
        from posefinder.models.errors import LibraryError

        raise LibraryError(f"{args.images}: no such images folder")
    created = not (args.library / "library.sqlite").exists()
    with Library.open(args.library, create=True) as lib:
        if created:
            print(f"created library {lib.path}")
        bar = tqdm(total=len(records), unit="pose", disable=None, leave=False, file=sys.stderr)
        done = {"n": 0}

        def progress(n_images, total_images):
            bar.total = total_images
            bar.update(n_images - done["n"])
            done["n"] = n_images

        try:
            report = lib.import_records(records, images_dir=args.images, progress=progress)
        finally:
            bar.close()
        counts = lib.counts()
    for line in report.problems:
        print(f"posefinder: warning: {line}", file=sys.stderr)
    print(f"{args.file}: {report.summary()}")
    print(f"library: {counts.images} images, {counts.poses} poses")
    if report.problems:
        print(f"posefinder: error: {len(report.problems)} images could not be linked (listed above); "
              "their poses are imported without them", file=sys.stderr)  # fmt: skip
        return 1
    return 0
