"""Helpers for the app's tests: small libraries, a main window on them, a fake estimator, mouse drags."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from library_helpers import random_pose, standing_keypoints

from posefinder.models import skeleton
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library
from posefinder.models.pose import Pose

SEARCH_TIMEOUT_MS = 10_000


def pose_from_unit(kp_unit: np.ndarray, size_px=(400, 600), scale: float = 220.0, source="annotation") -> Pose:
    """A pose from keypoints in the unit figure frame (library_helpers' standing figure), placed in an image."""
    kp = np.array(kp_unit, dtype=np.float64)
    present = kp[:, 2] > 0
    kp[present, :2] = kp[present, :2] * scale + np.array(size_px) / 2
    return Pose(kp, image_size=size_px, source=source)


def varied_poses(n: int, seed: int = 0) -> list[Pose]:
    """n distinct plausible poses (jittered standing figures)."""
    rng = np.random.default_rng(seed)
    return [random_pose(rng, jitter=0.08) for _ in range(n)]


def make_library(path: Path, poses: list[Pose], names: list[str] | None = None, images_dir: Path | None = None) -> Path:
    """A library at path holding these poses (imported; image names default to pose0000.png, ...)."""
    names = names or [f"pose{i:04d}.png" for i in range(len(poses))]
    with Library.open(path, create=True) as lib:
        lib.import_records([PoseRecord(p, n) for p, n in zip(poses, names)], images_dir=images_dir)
    return path


def open_window(qtbot, library: Path | None = None, estimator=None, settings=None, size=(1200, 800)):
    """A shown MainWindow (on library, first search done), closed at the test's end; size None keeps the
    restored one."""
    from posefinder.app.gui.main_window import MainWindow

    window = MainWindow(settings=settings, estimator=estimator)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    if library is not None:
        assert window.open_library(library)
        wait_search(qtbot, window, 0)
    return window


def shown_canvas(qtbot, size=(520, 560)):
    """A shown PoseCanvas of `size` on its own, closed at the test's end."""
    from posefinder.app.gui.canvas import PoseCanvas

    widget = PoseCanvas()
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def wait_search(qtbot, window, done_before: int) -> list:
    """Wait until a search newer than `done_before` finished and none is pending; the results shown."""
    qtbot.waitUntil(lambda: window.searches_done() > done_before and window.search_idle(), timeout=SEARCH_TIMEOUT_MS)
    return window.results.results()


def result_ids(window) -> list[int]:
    return [r.pose_id for r in window.results.results()]


def joint_view_pos(canvas, joint: int):
    """Where joint sits in the canvas's viewport (pixels)."""
    from PySide6.QtCore import QPointF

    x, y = canvas.pose().xy[joint]
    return canvas.mapFromScene(QPointF(float(x), float(y)))


def drag_joint(qtbot, canvas, joint: int, dx_px: float, dy_px: float, steps: int = 6) -> None:
    """Press on a joint, move the mouse by (dx, dy) viewport pixels in steps, release: a user's drag."""
    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    vp = canvas.viewport()
    start = joint_view_pos(canvas, joint)

    def send(kind, pos: QPoint, buttons):
        local = QPointF(pos)
        event = QMouseEvent(kind, local, QPointF(vp.mapToGlobal(pos)), Qt.MouseButton.LeftButton, buttons,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
        QApplication.sendEvent(vp, event)

    send(QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for i in range(1, steps + 1):
        p = QPoint(int(round(start.x() + dx_px * i / steps)), int(round(start.y() + dy_px * i / steps)))
        send(QEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
        qtbot.wait(5)
    end = QPoint(int(round(start.x() + dx_px)), int(round(start.y() + dy_px)))
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


class FakeEstimator:
    """The estimator interface with a known answer: the given poses, after an optional gate opens."""

    name = "fake"

    def __init__(self, poses: list[Pose], gate: threading.Event | None = None):
        self.poses = poses
        self.gate = gate
        self.calls = 0

    def estimate(self, image):
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        return [p.copy(source="model:fake") for p in self.poses]


class SlowContentEstimator:
    """One pose per image, from its content (deterministic), slowly: for indexing runs to interrupt."""

    name = "slow-fake"

    def __init__(self, delay_s: float = 0.02):
        self.delay_s = delay_s
        self.calls = 0

    def estimate(self, image):
        import time

        self.calls += 1
        time.sleep(self.delay_s)
        seed = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
        pose = random_pose(np.random.default_rng(seed))
        pose.source = "model:slow-fake"
        return [pose]


class HoldingEstimator(SlowContentEstimator):
    """SlowContentEstimator whose image number `hold_at` (counting every call) first sets `held` and runs
    `hold()`, e.g. waiting for the index run's cancel event: once `held` is set, the run is mid-batch,
    however slow the machine."""

    def __init__(self, hold_at: int, hold, delay_s: float = 0.0):
        super().__init__(delay_s)
        self.hold_at = hold_at
        self.hold = hold
        self.held = threading.Event()

    def estimate(self, image):
        if self.calls + 1 == self.hold_at:
            self.held.set()
            self.hold()
        return super().estimate(image)


def standing_pose(**kw) -> Pose:
    return pose_from_unit(standing_keypoints(), **kw)


def with_joint_moved(pose: Pose, name: str, dx: float, dy: float) -> Pose:
    out = pose.copy()
    out.keypoints[skeleton.INDEX[name], :2] += (dx, dy)
    return out
