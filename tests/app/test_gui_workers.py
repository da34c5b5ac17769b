"""The GUI's worker threads: outcomes reach the GUI thread in order, and "idle" means they all have."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.torchfree]

#: How long a test looks for a worker that calls itself idle before its outcome reached the GUI thread.
#: Without the GUI thread processing events, a correct worker never does: the test waits this long.
RACE_WINDOW_S = 0.1


def _idle_without_events(is_idle) -> bool:
    """Whether is_idle() turns True within RACE_WINDOW_S while the GUI thread processes no events."""
    deadline = time.monotonic() + RACE_WINDOW_S
    while time.monotonic() < deadline:
        if is_idle():
            return True
        time.sleep(0.002)
    return False


def test_latest_only_worker_drops_stale_results(qtbot):
    from posefinder.app.gui.workers import LatestOnlyWorker

    worker = LatestOnlyWorker("test")
    gate = threading.Event()
    got = []
    worker.finished.connect(lambda ticket, result, _s: got.append(result))
    worker.submit(lambda: gate.wait(5) and "first")  # running, becomes stale
    for i in range(5):
        worker.submit(lambda i=i: f"queued {i}")  # each replaces the one before
    last = worker.submit(lambda: "latest")
    gate.set()
    qtbot.waitUntil(worker.idle, timeout=5000)  # idle: every outcome is handled, none can come later
    assert got == ["latest"] and worker.is_current(last)
    worker.stop()


def test_latest_only_worker_is_not_idle_until_the_result_reached_the_gui_thread(qtbot):
    """The bug behind `assert 12 == 24` in the indexing test: the worker said idle as soon as its thread
    finished the job, so a waiter took the results of an older search for the latest one."""
    from posefinder.app.gui.workers import LatestOnlyWorker

    worker = LatestOnlyWorker("test")
    got = []
    worker.finished.connect(lambda ticket, result, _s: got.append(result))
    ran = threading.Event()
    worker.submit(lambda: ran.set() or "result")
    assert ran.wait(5)
    assert not _idle_without_events(worker.idle) and got == []
    qtbot.waitUntil(worker.idle, timeout=5000)
    assert got == ["result"]
    worker.stop()


def test_thumbnail_loader_is_not_idle_until_the_tile_reached_the_gui_thread(qtbot):
    from posefinder.app.gui.workers import ThumbnailLoader

    loader = ThumbnailLoader(threads=1)
    got = []
    loader.loaded.connect(lambda key, image: got.append(key))
    ran = threading.Event()
    loader.request("tile", lambda: ran.set() or "image")
    assert ran.wait(5)
    assert not _idle_without_events(loader.idle) and got == []
    qtbot.waitUntil(loader.idle, timeout=5000)
    assert got == ["tile"]
    loader.stop()


def test_a_task_posts_its_outcome_before_wait_returns(qapp):
    """Whoever waited for a task (the library panel closing or switching libraries) and then processes
    events receives its outcome: it is posted before wait() returns, even when the task's thread is
    preempted right after its job."""
    from PySide6.QtCore import Qt

    from posefinder.app.gui.workers import Task

    task = Task(lambda _t: "done")
    preempted = []
    # runs on the task's thread inside the emit, before the GUI thread's delivery is posted: a slow thread
    task.finished.connect(lambda _r: preempted.append(time.sleep(0.1)), Qt.ConnectionType.DirectConnection)
    got = []
    task.finished.connect(got.append)
    task.start()
    assert task.wait(5)
    qapp.processEvents()
    assert got == ["done"]
