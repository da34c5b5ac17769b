"""`posefinder gui`: open the app (on a library), or render it into a PNG for the README and tests."""

from __future__ import annotations

from pathlib import Path

HELP = "open the PoseFinder app (on the last library unless --library is given)"


def add_arguments(parser) -> None:
    parser.add_argument("--library", type=Path, metavar="LIB", help="library folder to open")
    parser.add_argument("--pose", type=Path, metavar="FILE",
                        help="start with this pose on the canvas (PoseFinder, COCO, OpenPose or ADD JSON)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the window after the first search, save it as a PNG and exit")  # fmt: skip


def run(args) -> int:
    from posefinder.app.gui import launch

    return launch(library=args.library, screenshot=args.screenshot, pose=args.pose)
