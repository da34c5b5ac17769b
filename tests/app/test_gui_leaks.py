"""Nothing leaks: dropped images are freed once their estimate is done, finished tasks keep nothing they
captured, and quick drops share one auto-pose worker that loads the model once."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
from gui_helpers import FakeEstimator, make_library, open_window, varied_poses

from posefinder.models.estimators import chain

pytestmark = pytest.mark.usefixtures("qapp")


def _drop_image(canvas, seed: int):
    """Drop image data (as from a browser or another app) onto the canvas's viewport."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from posefinder.app.gui.image_drop import rgb_to_qimage

    rgb = np.random.default_rng(seed).integers(0, 255, (120, 80, 3), dtype=np.uint8)
    mime = QMimeData()
    mime.setImageData(rgb_to_qimage(rgb))
    centre = canvas.viewport().rect().center()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), QDragEnterEvent(QPoint(centre), *args))
    QApplication.sendEvent(canvas.viewport(), QDropEvent(QPointF(centre), *args))


def test_twenty_dropped_images_are_freed(qtbot, tmp_path):
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(4)),
                         estimator=FakeEstimator(varied_poses(1, seed=5)))  # fmt: skip
    refs = []
    window.canvas.imageDropped.connect(lambda image, _name: refs.append(weakref.ref(image)))
    for i in range(20):
        _drop_image(window.canvas, i)
        if i % 3 == 0:  # some finish before the next drop, some are replaced while waiting
            qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    window.canvas.imageDropped.disconnect()
    window.canvas.imageDropped.connect(window.on_image_dropped)
    _drop_image(window.canvas, 99)  # the guide now shows another image
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    gc.collect()
    assert len(refs) == 20 and [r for r in refs if r() is not None] == []


def test_finished_tasks_keep_nothing_they_captured(qtbot):
    from posefinder.app.gui.tasks import TaskBook
    from posefinder.app.gui.workers import Task

    book = TaskBook()
    refs, outcomes = [], []
    for i in range(5):
        big = np.zeros((300, 400, 3), np.uint8)
        refs.append(weakref.ref(big))
        book.start(lambda _t, big=big: int(big.shape[0]), outcomes.append, name=f"t{i}")
        del big
    plain = np.zeros(10)
    ref_plain = weakref.ref(plain)
    task = Task(lambda _t, plain=plain: plain.sum()).start()
    del plain
    qtbot.waitUntil(lambda: book.running() == 0 and task.wait(0), timeout=10_000)
    gc.collect()
    assert outcomes == [300] * 5 and all(r() is None for r in refs) and ref_plain() is None


def test_two_quick_drops_load_the_model_once(qtbot, tmp_path, monkeypatch):
    gate = threading.Event()
    loads = []

    def select(name=None, device="cpu"):
        loads.append(name)
        gate.wait(10)  # loading is slow: the second drop comes meanwhile
        return FakeEstimator(varied_poses(1, seed=2))

    monkeypatch.setattr(chain, "select_estimator", select)
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(4)))
    done = []
    window.autoPoseFinished.connect(done.append)
    _drop_image(window.canvas, 1)
    qtbot.waitUntil(lambda: len(loads) == 1, timeout=10_000)
    _drop_image(window.canvas, 2)
    _drop_image(window.canvas, 3)  # replaces the second, which never runs
    gate.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    assert len(loads) == 1 and done == [True] and window.auto_poser.loads == 1
