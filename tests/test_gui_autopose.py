"""Dropping an image on the canvas: its pose is estimated off the GUI thread and the skeleton snaps to it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gui_helpers import FakeEstimator, make_library, open_window, varied_poses, wait_search

from posefinder.models.errors import ModelError
from posefinder.models.estimators import chain

pytestmark = pytest.mark.usefixtures("qapp")


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


def test_dropped_image_is_posed_by_the_estimator_and_searched(qtbot, tmp_path):
    poses = varied_poses(12, seed=3)
    lib = make_library(tmp_path / "lib", poses)
    expected = poses[5].copy()
    gate = threading.Event()
    fake = FakeEstimator([expected, poses[0]], gate=gate)
    window = open_window(qtbot, lib, estimator=fake)
    busy = _spy(window.canvas, "set_busy")
    guides = _spy(window.canvas, "set_guide_image")
    image = _image()

    window.canvas.imageDropped.emit(image, "figure.png")
    assert busy and busy[0][0] is True  # the busy indicator is on while the estimator runs
    assert guides and guides[-1][0] is image  # the image shows as the guide at once
    qtbot.wait(50)
    assert window.busy()  # the estimator waits on the gate: the GUI thread is free meanwhile
    done = window.searches_done()
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        gate.set()
    assert sig.args == [True] and fake.calls == 1
    assert busy[-1][0] is False
    assert window.canvas.pose().with_only(expected.present).allclose(expected, atol=1e-6)
    results = wait_search(qtbot, window, done)
    assert results[0].pose_id == 6 and results[0].distance < 1e-3  # the library's copy of that pose


def test_without_a_pose_model_a_banner_says_how_to_get_one(qtbot, tmp_path, monkeypatch):
    def refuse(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", refuse)
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(5)))
    before = window.canvas.pose()
    guides = _spy(window.canvas, "set_guide_image")
    image = _image()
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        window.canvas.imageDropped.emit(image, "figure.png")
    assert sig.args == [False]
    assert window.banner.isVisible() and chain.NO_MODEL_MESSAGE in window.banner.text()
    assert "guide" in window.banner.text()
    assert guides[-1][0] is image and window.canvas.pose().allclose(before)  # pose by hand over the image
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
    Image.fromarray(_image()).save(tmp_path / "figure.png")
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000):
        assert window.open_image(tmp_path / "figure.png")
    assert window.canvas.pose().with_only(pose.present).allclose(pose, atol=1e-6)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert not window.open_image(tmp_path / "broken.png")
    assert "broken.png" in window.banner.text() and "\n" not in window.banner.text()
