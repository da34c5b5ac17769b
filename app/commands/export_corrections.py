"""`posefinder export-corrections`: the library's hand-corrected poses as a COCO keypoints file."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "write the poses corrected by hand in a library as a COCO keypoints file (image paths included), to train on elsewhere"


def add_arguments(parser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT.json", help="the COCO keypoints file to write")
    parser.add_argument("--library", required=True, type=Path, metavar="LIB", help="library folder")


def run(args) -> int:
    from posefinder.models.library import Library
    from posefinder.models.library.corrections import export_corrections

    with Library.open(args.library, readonly=True) as lib:
        written, skipped = export_corrections(lib, args.out)  # LibraryError (nothing written) when none
    for correction, why in skipped:
        print(f"posefinder: warning: pose {correction.pose_id} left out: {why}", file=sys.stderr)
    print(f"wrote {written} corrected poses to {args.out} (COCO keypoints; file_name is each image's path)")
    print(f"train on them elsewhere: posefinder-train pose --train {args.out} ... (or finetune with "
          f"posefinder-train finetune --library {args.library})")
    return 0
