"""Renders the README's screenshots of the app (offscreen): the demo library searched with a query posed
as a mannequin (bones turned about their joints), a result opened for correction over its image, and the
welcome screen.

    .venv/bin/python docs/make_screenshots.py [--library DEMO_LIBRARY] [--out docs/]

The first is made by the user-facing command, `posefinder gui --library LIB --pose FILE --screenshot PNG`;
the others drive the window the way a user does. Settings go to a temporary folder: the user's stay as
they are. Without --library the demo library is built first if needed (`posefinder demo` does the same).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: The query of the search screenshot, posed the way an artist poses the mannequin: from the standing
#: figure, bones turned about their joints (degrees, clockwise on screen), as dragging them does.
QUERY_BODY_TYPE = "teen"
QUERY_TURNS: tuple[tuple[str, float], ...] = (
    ("right_elbow", 115.0),  # the right arm swings up from the shoulder...
    ("right_wrist", 35.0),  # ...the forearm turns about the elbow
    ("left_elbow", -35.0),
    ("left_wrist", -70.0),
    ("left_knee", -30.0),  # a step: the thigh turns about the hip, the shin with it
    ("left_ankle", 45.0),
    ("right_knee", 8.0),
    ("nose", -10.0),  # the head turns about the neck
)


def pose_query(canvas) -> None:
    """Pose the canvas's skeleton as the screenshots' query, with the mannequin's moves."""
    canvas.reset()
    canvas.set_body_type(QUERY_BODY_TYPE)
    for joint, degrees in QUERY_TURNS:
        canvas.turn_joint(joint, degrees)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--library", type=Path, help="the demo library (default: build or reuse it)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)

    if args.library is None:
        from posefinder.app.demo import ensure_demo_library

        args.library = ensure_demo_library()
    home = Path(tempfile.mkdtemp(prefix="posefinder-shots-"))
    from posefinder.app.gui import SCREENSHOT_SIZE, application, save_screenshot, wait_until_settled
    from posefinder.models.editing.export import export_pose
    from posefinder.app.gui.main_window import MainWindow
    from posefinder.app.gui.settings import Settings

    application()

    def window() -> MainWindow:
        w = MainWindow(settings=Settings(home / "posefinder.ini"))
        w.resize(*SCREENSHOT_SIZE)
        w.show()
        return w

    # 1. the demo library searched with a pose set on the canvas (through the gui command)
    w = window()
    pose_query(w.canvas)
    query = home / "query.json"
    export_pose(w.canvas.pose(), w.canvas.joint_mask(), query, "posefinder")
    w.close()
    shot = args.out / "screenshot-demo.png"
    env = dict(os.environ, POSEFINDER_HOME=str(home))
    subprocess.run(
        [sys.executable, "-m", "posefinder", "gui", "--library", str(args.library), "--pose", str(query),
         "--screenshot", str(shot)],
        check=True, env=env,
    )  # fmt: skip

    # 2. a result opened for correction: its image under the skeleton, the save banner
    w = window()
    w.open_library(args.library)
    pose_query(w.canvas)
    wait_until_settled(w)
    w.correct_pose(w.results.results()[0])
    wait_until_settled(w)
    w.results.setCurrentIndex(w.results.model().index(0, 0))
    wait_until_settled(w)
    print(f"saved {save_screenshot(w, args.out / 'screenshot-correct.png')}")
    w.close()

    # 3. the welcome screen (no library yet)
    w = window()
    wait_until_settled(w)
    print(f"saved {save_screenshot(w, args.out / 'screenshot-welcome.png')}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
