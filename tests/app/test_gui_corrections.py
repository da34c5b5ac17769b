"""Correcting a library pose on its image: exact (Save with no edit writes nothing), mapped by the image's
real scale, refused with a message when the image has other proportions."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import drag_joint, make_library, open_window
from library_helpers import random_pose, write_pngs

from posefinder.models import skeleton
from posefinder.models.library import Library

pytestmark = pytest.mark.usefixtures("qapp")


def _library(tmp_path, image_size, pose_size=(1000, 1500)):
    """A library of 3 poses made for pose_size images whose files are image_size."""
    pics = tmp_path / "pics"
    images = write_pngs(pics, 3, size=image_size)
    rng = np.random.default_rng(8)
    poses = [random_pose(rng, drop=0.15, size_px=pose_size) for _ in images]
    for p in poses:
        p.keypoints[p.present, :2] += 1 / 3  # not a multiple of the scale: a round trip would show
    return make_library(tmp_path / "lib", poses, names=[p.name for p in images], images_dir=pics)


def _start(qtbot, window, index: int = 0):
    target = window.results.results()[index]
    window.correct_pose(target)
    qtbot.waitUntil(lambda: window.correction is not None or window.banner.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    return target


def test_save_with_no_edit_changes_nothing_bit_for_bit(qtbot, tmp_path):
    lib = _library(tmp_path, image_size=(400, 600))  # the files were resized to 40 %
    window = open_window(qtbot, lib)
    target = _start(qtbot, window)
    guide = window.canvas.guide_image()
    assert window.correction is not None and guide is not None and guide.shape[:2] == (600, 400)
    with Library.open(lib, readonly=True) as check:
        before, gen = check.get_pose(target.pose_id), check.generation()
    window.actions_by_name["savePose"].trigger()  # Ctrl+S
    assert window.correction is None
    with Library.open(lib, readonly=True) as check:
        after = check.get_pose(target.pose_id)
        assert after == before and after.source == "annotation" and check.generation() == gen


def test_an_edit_is_mapped_back_by_the_real_scale_and_the_rest_stays_exact(qtbot, tmp_path):
    lib = _library(tmp_path, image_size=(400, 600))
    window = open_window(qtbot, lib)
    target = _start(qtbot, window, 1)
    with Library.open(lib, readonly=True) as check:
        before = check.get_pose(target.pose_id)
    present = before.present
    moved = int(np.flatnonzero(present[: skeleton.NUM_COCO])[-1])
    shown = window.canvas.pose().xy[present]
    assert np.allclose(shown, before.xy[present] * 0.4)  # on the image where the pose is, not refitted
    drag_joint(qtbot, window.canvas, moved, 30, -20)
    canvas_xy = window.canvas.pose().xy[moved].copy()
    assert window.save_corrected_pose()
    with Library.open(lib, readonly=True) as check:
        after = check.get_pose(target.pose_id)
    assert after.source == "hand" and after.image_size == (1000, 1500)
    assert np.allclose(after.xy[moved], canvas_xy / 0.4)
    followers = [m for m, ends in skeleton.MIDPOINT_ENDPOINTS.items() if moved in ends]
    same = present.copy()
    same[[moved, *followers]] = False
    assert np.array_equal(after.keypoints[same], before.keypoints[same])
    assert np.array_equal(after.present, present)


def test_an_image_of_other_proportions_is_refused_with_a_message(qtbot, tmp_path):
    lib = _library(tmp_path, image_size=(500, 500))
    window = open_window(qtbot, lib)
    target = _start(qtbot, window)
    assert window.correction is None and not window.actions_by_name["savePose"].isEnabled()
    assert "cannot be corrected" in window.banner.text() and "1000 x 1500" in window.banner.text()
    assert not window.save_corrected_pose()
    with Library.open(lib, readonly=True) as check:
        assert check.get_pose(target.pose_id).source == "annotation"
