"""Dropping an image on the canvas: its pose is estimated off the GUI thread and the skeleton snaps to it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gui_helpers import FakeEstimator, drag_joint, drop_file, make_library, open_window, varied_poses, wait_search

from posefinder.models import skeleton

from posefinder.models.errors import ModelError
from posefinder.models.estimators import chain

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.torchfree]


def _spy(obj, name):
    """Record the arguments of every call of obj.name (still calling it)."""
    calls = []
    original = getattr(obj, name)

    def spy(*args, **kw):
        calls.append(args)
        return original(*args, **kw)

    setattr(obj, name, spy)
    return calls


def _image(h=300, w=200):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_dropped_figure_is_posed_by_the_estimator_and_searched(qtbot, tmp_path):
    from PIL import Image

    from posefinder.build.synthetic import render_figure

    figure = render_figure(3, size=(400, 600))  # a synthetic character with its exact pose
    lib = make_library(tmp_path / "lib", varied_poses(11, seed=3) + [figure.pose])
    gate = threading.Event()
    fake = FakeEstimator([figure.pose], gate=gate)  # answers like a perfect model
    window = open_window(qtbot, lib, estimator=fake)
    busy = _spy(window.canvas, "set_busy")
    Image.fromarray(figure.image).save(tmp_path / "figure.png")

    drop_file(window.canvas, tmp_path / "figure.png")
    assert busy and busy[0][0] is True and window.canvas.is_busy()  # busy while the estimator runs
    guide = window.canvas.guide_image()
    assert guide is not None and np.array_equal(guide, figure.image)  # the image shows as the guide at once
    qtbot.wait(50)
    assert window.busy()  # the estimator waits on the gate: the GUI thread is free meanwhile
    done = window.searches_done()
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        gate.set()
    assert sig.args == [True] and fake.calls == 1
    assert busy[-1][0] is False and not window.canvas.is_busy()
    expected = figure.pose
    on = window.canvas.joint_mask()
    assert np.array_equal(on, expected.present)  # joints the figure lacks are switched off
    assert np.allclose(window.canvas.pose().xy[on], expected.xy[on], atol=1e-6)  # snapped, in image pixels
    results = wait_search(qtbot, window, done)
    assert results[0].pose_id == 12 and results[0].distance < 1e-3  # the library's copy of that pose


def test_without_a_pose_model_a_banner_says_how_to_get_one(qtbot, tmp_path, monkeypatch):
    def refuse(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", refuse)
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(5)))
    from PySide6.QtGui import QGuiApplication

    from posefinder.app.gui.image_drop import rgb_to_qimage

    image = _image()
    QGuiApplication.clipboard().setImage(rgb_to_qimage(image))
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        assert window.paste_image()
    assert sig.args == [False]
    assert window.banner.isVisible() and chain.NO_MODEL_MESSAGE[1:] in window.banner.text()
    assert "guide" in window.banner.text() and not window.canvas.is_busy()
    guide = window.canvas.guide_image()
    assert guide is not None and np.array_equal(guide, image)  # it stays, to pose by hand over it
    before = window.canvas.pose()
    drag_joint(qtbot, window.canvas, skeleton.INDEX["left_wrist"], 30, -30)
    assert not window.canvas.pose().allclose(before)
    window.banner.dismiss()
    assert not window.banner.isVisible()


def test_an_image_without_a_character_leaves_the_pose_and_says_so(qtbot, tmp_path):
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(5)), estimator=FakeEstimator([]))
    before = window.canvas.pose()
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        window.canvas.imageDropped.emit(_image(), "landscape.png")
    assert sig.args == [False] and "No character found in landscape.png" in window.banner.text()
    assert window.canvas.pose().allclose(before)


def test_open_image_file_runs_auto_pose_and_a_bad_file_gets_one_line(qtbot, tmp_path):
    from PIL import Image

    pose = varied_poses(1, seed=9)[0]
    window = open_window(qtbot, estimator=FakeEstimator([pose]))
    Image.fromarray(_image(600, 400)).save(tmp_path / "figure.png")  # the pose's image size
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000):
        assert window.open_image(tmp_path / "figure.png")
    assert window.canvas.pose().with_only(pose.present).allclose(pose, atol=1e-6)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert not window.open_image(tmp_path / "broken.png")
    assert "broken.png" in window.banner.text() and "\n" not in window.banner.text()


def test_a_second_drop_wins_over_a_slower_first_one(qtbot, tmp_path):
    first_gate, second_gate = threading.Event(), threading.Event()
    slow, fast = varied_poses(2, seed=21)
    answers = iter([(slow, first_gate), (fast, second_gate)])
    started = []

    class TwoAnswers:
        name = "two"

        def estimate(self, image):
            pose, gate = next(answers)
            started.append(pose)
            gate.wait(10)
            return [pose]

    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(4)), estimator=TwoAnswers())
    window.canvas.imageDropped.emit(_image(600, 400), "first.png")
    qtbot.waitUntil(lambda: len(started) == 1, timeout=10_000)  # the first drop's estimate took the slow answer
    window.canvas.imageDropped.emit(_image(600, 400), "second.png")  # waits for the one auto-pose worker
    finished = []
    window.autoPoseFinished.connect(finished.append)
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000):
        first_gate.set()  # the first estimate ends: its answer is stale and never shown
        second_gate.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    assert finished == [True] and started == [slow, fast]
    assert window.canvas.pose().allclose(fast, atol=1e-6) and not window.canvas.is_busy()


def test_using_a_result_while_an_estimate_runs_wins_and_ends_the_busy_indicator(qtbot, tmp_path):
    gate = threading.Event()
    estimated = varied_poses(1, seed=30)[0]
    lib = make_library(tmp_path / "lib", varied_poses(4))
    window = open_window(qtbot, lib, estimator=FakeEstimator([estimated], gate=gate))
    window.canvas.imageDropped.emit(_image(600, 400), "drop.png")
    assert window.canvas.is_busy()
    chosen = window.results.results()[1]
    window.use_as_query(chosen)  # the user changed their mind before the estimate came
    assert not window.canvas.is_busy()
    gate.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    assert window.canvas.pose().with_only(chosen.pose.present).allclose(chosen.pose, atol=1e-6)


def test_an_estimate_still_counts_after_opening_another_library(qtbot, tmp_path):
    gate = threading.Event()
    estimated = varied_poses(1, seed=31)[0]
    lib = make_library(tmp_path / "lib", varied_poses(4))
    window = open_window(qtbot, lib, estimator=FakeEstimator([estimated], gate=gate))
    window.canvas.imageDropped.emit(_image(600, 400), "drop.png")
    assert window.open_library(make_library(tmp_path / "other", varied_poses(3, seed=5)))
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        gate.set()
    assert sig.args == [True] and not window.canvas.is_busy()
    assert window.canvas.pose().with_only(estimated.present).allclose(estimated, atol=1e-6)
