"""The library panel: add a folder, index with progress and cancel, counts, close mid-index, remove."""

from __future__ import annotations

import pytest
import threading

from gui_helpers import HoldingEstimator, SlowContentEstimator, drag_joint, open_window, wait_search
from library_helpers import write_pngs

from posefinder.models import skeleton
from posefinder.models.errors import ModelError
from posefinder.models.estimators import chain
from posefinder.models.library import Library

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.torchfree]


def _cancel_event(panel):
    """The cancel event of the panel's index run (it has one while it indexes)."""
    assert panel._task is not None
    return panel._task.cancel_event


def test_index_a_folder_with_progress_and_cancel_then_finish(qtbot, tmp_path):
    write_pngs(tmp_path / "pics", 24)
    # image 9 waits for the cancel: two batches of 4 are in, the third is running when it comes
    est = HoldingEstimator(9, lambda: _cancel_event(window.library_panel).wait(10))
    window = open_window(qtbot, estimator=est)
    assert window.open_library(tmp_path / "lib", create=True)
    panel = window.library_panel
    progress = window.findChild(type(panel.progress), "indexProgress")
    assert progress is not None and progress is panel.progress and window.findChild(type(panel), "libraryPanel") is panel
    assert panel.add_folder(tmp_path / "pics", index=False)
    assert panel.folder_list.count() == 1

    seen = []
    assert panel.start_index(batch_size=4) and panel._task is not None
    panel._task.progress.connect(lambda done, total: seen.append((done, total)))
    assert progress.isVisible() and panel.cancel_button.isVisible() and not panel.index_button.isVisible()
    qtbot.waitUntil(lambda: est.held.is_set() and progress.value() == 8, timeout=10_000)
    assert progress.maximum() == 24 and panel.indexing()
    with qtbot.waitSignal(panel.indexFinished, timeout=10_000) as sig:
        panel.cancel_index()
    report = sig.args[0]
    assert report.cancelled and not progress.isVisible() and not panel.indexing()
    counts = panel.counts()
    assert counts is not None
    # cancel is honoured between images: the image estimating at the cancel is committed, the rest of
    # its batch waits for the next run
    assert counts.images == 9 and counts.poses == 9
    assert "Cancelled" in panel.status.text()
    assert seen and all(total == 24 for _, total in seen)

    done = window.searches_done()
    with qtbot.waitSignal(panel.indexFinished, timeout=20_000) as sig:
        panel.start_index(batch_size=4)
    assert not sig.args[0].cancelled and sig.args[0].added == 24 - counts.images
    assert panel.count_labels["images"].text() == "24" and panel.count_labels["poses"].text() == "24"
    assert len(wait_search(qtbot, window, done)) == 24  # the window searched the new poses


def test_closing_the_app_mid_index_returns_at_once_and_the_next_run_finishes(qtbot, tmp_path):
    pics = tmp_path / "pics"
    write_pngs(pics, 40, size=(40, 60))  # the fake's poses are in 400 x 600 pixels: a tenth
    libdir = tmp_path / "lib"
    # image 9 is held until the test lets it go, after the window has closed: closing must not wait for it
    gate = threading.Event()
    held = HoldingEstimator(9, lambda: gate.wait(20))
    window = open_window(qtbot, estimator=held)
    window.open_library(libdir, create=True)
    panel = window.library_panel
    panel.add_folder(pics, index=False)
    panel.start_index(batch_size=4)
    qtbot.waitUntil(held.held.is_set, timeout=20_000)
    counts = panel.counts()
    assert counts is not None and counts.images == 8
    window.close()  # cancels; the run stops in the background after the image it is on
    assert not gate.is_set() and not panel.indexing() and panel.stopping()

    # the old run still holds the library's writer: this process shares it, so a correction saves
    again = open_window(qtbot, libdir, estimator=SlowContentEstimator(0))
    target = again.results.results()[0]
    again.correct_pose(target)
    qtbot.waitUntil(lambda: again.correction is not None, timeout=10_000)
    drag_joint(qtbot, again.canvas, skeleton.INDEX["left_wrist"], 30, -20)
    assert again.save_corrected_pose(), again.banner.text()
    gate.set()
    assert panel.wait_stopped(20) and not panel.stopping()
    with Library.open(libdir) as lib:  # the writer lock is free again, nothing half-written
        c = lib.counts()
        assert c.images == 9 and c.poses == 9
        assert lib.get_pose(target.pose_id).source == "hand"
        assert lib._con().execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    est = SlowContentEstimator(0)
    again.library_panel.estimator = est
    with qtbot.waitSignal(again.library_panel.indexFinished, timeout=20_000) as sig:
        again.library_panel.start_index()
    assert sig.args[0].added == 40 - c.images and est.calls == 40 - c.images
    with Library.open(libdir, readonly=True) as lib:
        assert lib.counts().images == 40 and lib.counts().poses == 40
        assert lib._con().execute("SELECT count(DISTINCT path), count(*) FROM images").fetchone() == (40, 40)


def test_counts_show_images_waiting_for_a_model_and_unreadable_ones(qtbot, tmp_path, monkeypatch):
    def refuse(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", refuse)
    pics = tmp_path / "pics"
    write_pngs(pics, 3)
    (pics / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    window = open_window(qtbot)
    window.open_library(tmp_path / "lib", create=True)
    panel = window.library_panel
    done = window.searches_done()
    with qtbot.waitSignal(panel.indexFinished, timeout=10_000):
        assert panel.add_folder(pics)
    wait_search(qtbot, window, done)  # the search the finished run started
    labels = {k: v.text() for k, v in panel.count_labels.items()}
    assert labels == {"images": "3", "poses": "0", "images_without_character": "0",
                      "images_not_estimated": "3", "images_bad": "1"}  # fmt: skip
    assert chain.NO_MODEL_MESSAGE in panel.status.text()
    assert "no poses yet" in window.results.empty_text()


def test_remove_a_folder_removes_its_poses(qtbot, tmp_path):
    write_pngs(tmp_path / "a", 3, seed=1)
    write_pngs(tmp_path / "b", 2, seed=2, start=50)
    with Library.open(tmp_path / "lib", create=True) as lib:
        from posefinder.models.library.indexer import default_runner

        lib.index([tmp_path / "a", tmp_path / "b"], runner=default_runner(SlowContentEstimator(0)))
    window = open_window(qtbot, tmp_path / "lib")
    assert len(window.results.results()) == 5
    done = window.searches_done()
    assert window.library_panel.remove_folder((tmp_path / "a").resolve())
    assert len(wait_search(qtbot, window, done)) == 2
    assert window.library_panel.folder_list.count() == 1 and window.filters.folder_combo.count() == 2


def test_a_run_stopped_by_opening_another_library_does_not_end_the_next_run(qtbot, qapp, tmp_path):
    """Opening library B stops A's run; A's report, arriving late, must not end or show as B's run."""
    write_pngs(tmp_path / "a", 12, seed=1)
    write_pngs(tmp_path / "b", 6, seed=2, start=50)
    window = open_window(qtbot, estimator=SlowContentEstimator(0))
    panel = window.library_panel
    assert window.open_library(tmp_path / "A", create=True)
    # A's image 5 waits for the cancel that opening B sends
    panel.estimator = held = HoldingEstimator(5, lambda: _cancel_event(panel).wait(10))
    panel.add_folder(tmp_path / "a", index=False)
    assert panel.start_index(batch_size=4)
    qtbot.waitUntil(held.held.is_set, timeout=10_000)
    assert window.open_library(tmp_path / "B", create=True)  # stops A's run (after the image it is on)
    assert not panel.indexing() and window.actions_by_name["indexNow"].isEnabled()

    gate = threading.Event()
    panel.estimator = HoldingEstimator(1, lambda: gate.wait(10))  # B's run waits until the test lets it go
    panel.add_folder(tmp_path / "b", index=False)
    assert panel.start_index(batch_size=4)
    finished = []
    panel.indexFinished.connect(finished.append)
    qapp.processEvents()  # deliver what A's run posted before it stopped
    assert panel.indexing() and panel.progress.isVisible() and panel.cancel_button.isVisible()
    assert not panel.start_index() and not window.actions_by_name["indexNow"].isEnabled()
    assert finished == [] and "Cancelled" not in panel.status.text()
    with qtbot.waitSignal(panel.indexFinished, timeout=10_000) as sig:
        gate.set()
    assert not sig.args[0].cancelled and sig.args[0].added == 6 and finished == [sig.args[0]]
    assert panel.count_labels["images"].text() == "6"
    assert panel.wait_stopped(10)
    with Library.open(tmp_path / "A", readonly=True) as lib:
        assert lib.counts().images == 5  # A's run committed the image it was on, then stopped
