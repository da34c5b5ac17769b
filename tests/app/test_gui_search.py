"""The app searches as the pose changes: drag, joints off, mirror, filters, use-as-query, corrections, tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import (
    SlowContentEstimator,
    drag_joint,
    make_library,
    open_window,
    pose_from_unit,
    result_ids,
    standing_pose,
    varied_poses,
    wait_search,
    with_joint_moved,
)
from library_helpers import standing_keypoints, write_pngs

from posefinder.models import skeleton
from posefinder.models.library import Library

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.torchfree]

LEGS = [skeleton.INDEX[n] for n in skeleton.GROUPS["legs"]]


def _arm_raised(kp_unit: np.ndarray, side: str = "right") -> np.ndarray:
    kp = kp_unit.copy()
    sx = -1 if side == "right" else 1
    kp[skeleton.INDEX[f"{side}_elbow"], :2] = (sx * 0.3, -0.85)
    kp[skeleton.INDEX[f"{side}_wrist"], :2] = (sx * 0.35, -1.15)
    return skeleton.fill_midpoints(kp)


def test_dragging_a_joint_searches_and_changes_the_results(qtbot, tmp_path):
    rng = np.random.default_rng(0)
    base = standing_keypoints()
    poses = []
    for i in range(30):  # half standing, half with the right arm raised, all slightly jittered
        kp = _arm_raised(base) if i % 2 else base.copy()
        kp[: skeleton.NUM_COCO, :2] += rng.normal(0, 0.02, (skeleton.NUM_COCO, 2))
        poses.append(pose_from_unit(skeleton.fill_midpoints(kp)))
    lib = make_library(tmp_path / "lib", poses)
    window = open_window(qtbot, lib)
    window.filters.mirror_box.setChecked(False)
    window.canvas.set_pose(standing_pose())
    done = window.searches_done()
    before = wait_search(qtbot, window, done)
    assert len(before) == 30 and all(r.pose_id % 2 == 1 for r in before[:10])  # standing ones first (ids 1, 3...)

    elbow, wrist = skeleton.INDEX["right_elbow"], skeleton.INDEX["right_wrist"]
    start = window.canvas.pose().xy[[elbow, wrist]].copy()
    done = window.searches_done()
    drag_joint(qtbot, window.canvas, elbow, 0, -300)  # the arm turns up about the shoulder, hand and all
    after = wait_search(qtbot, window, done)
    moved = window.canvas.pose().xy[[elbow, wrist]]
    assert (moved[:, 1] < start[:, 1] - 50).all()  # the elbow followed the mouse up, the wrist with it
    assert window.last_query is not None
    assert np.allclose(window.last_query.pose.xy[[elbow, wrist]], moved)  # the search used the dragged pose
    assert result_ids(window) != [r.pose_id for r in before]
    raised_first = sum(r.pose_id % 2 == 0 for r in after[:10])
    assert raised_first > sum(r.pose_id % 2 == 0 for r in before[:10])


def test_switching_joints_off_changes_the_query_and_the_ranking(qtbot, tmp_path):
    query = standing_pose()
    arms_moved = with_joint_moved(with_joint_moved(query, "left_wrist", 20, 10), "right_wrist", -20, 10)
    kneeling_kp = standing_keypoints()
    for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        kneeling_kp[skeleton.INDEX[name], :2] += (0.3 if name.startswith("left") else -0.3, -0.3)
    same_top_other_legs = pose_from_unit(skeleton.fill_midpoints(kneeling_kp))
    lib = make_library(tmp_path / "lib", [arms_moved, same_top_other_legs] + varied_poses(10, seed=4))
    window = open_window(qtbot, lib)
    window.filters.mirror_box.setChecked(False)
    done = window.searches_done()
    window.canvas.set_pose(query)
    results = wait_search(qtbot, window, done)
    assert results[0].pose_id == 1  # all joints: the one with the arms a little off wins
    assert window.last_query is not None and window.last_query.joint_mask().all()

    mask = np.ones(skeleton.NUM_KEYPOINTS, dtype=bool)
    mask[LEGS] = False
    done = window.searches_done()
    window.canvas.set_joint_mask(mask)
    results = wait_search(qtbot, window, done)
    assert window.last_query is not None and np.array_equal(window.last_query.joint_mask(), mask)
    assert results[0].pose_id == 2 and results[0].distance < 1e-3  # legs ignored: same upper body


def test_mirror_search_finds_the_mirrored_pose(qtbot, tmp_path):
    query = pose_from_unit(_arm_raised(standing_keypoints(), "right"))
    mirrored = pose_from_unit(_arm_raised(standing_keypoints(), "left"))
    lib = make_library(tmp_path / "lib", [mirrored] + varied_poses(12, seed=2))
    window = open_window(qtbot, lib)
    window.filters.mirror_box.setChecked(False)
    done = window.searches_done()
    window.canvas.set_pose(query)
    results = wait_search(qtbot, window, done)
    plain = next(r for r in results if r.pose_id == 1)
    assert plain.distance > 0.1 and not plain.mirrored

    done = window.searches_done()
    window.filters.mirror_box.setChecked(True)
    results = wait_search(qtbot, window, done)
    assert window.last_query is not None and window.last_query.mirror
    assert results[0].pose_id == 1 and results[0].mirrored and results[0].distance < 1e-3


def test_number_of_results_and_folder_filters(qtbot, tmp_path):
    write_pngs(tmp_path / "a", 5, seed=1)
    write_pngs(tmp_path / "b", 6, seed=2, start=100)
    with Library.open(tmp_path / "lib", create=True) as lib:
        from posefinder.models.library.indexer import default_runner

        lib.index([tmp_path / "a", tmp_path / "b"], runner=default_runner(SlowContentEstimator(0)))
    imported = open_window(qtbot, make_library(tmp_path / "imported", varied_poses(3)))
    assert imported.filters.folder_combo.count() == 1 and not imported.filters.folder_combo.isEnabled()
    assert "no image folders" in imported.filters.folder_combo.toolTip()  # says why it cannot filter
    imported.close()
    window = open_window(qtbot, tmp_path / "lib")
    assert len(window.results.results()) == 11
    assert window.filters.folder_combo.count() == 3 and window.filters.folder_combo.isEnabled()  # all, a, b

    done = window.searches_done()
    window.filters.k_spin.setValue(4)
    assert len(wait_search(qtbot, window, done)) == 4

    done = window.searches_done()
    window.filters.k_spin.setValue(50)
    window.filters.set_folder((tmp_path / "b").resolve())
    results = wait_search(qtbot, window, done)
    assert len(results) == 6 and all(r.path.parent == (tmp_path / "b").resolve() for r in results)


def test_use_a_result_as_the_query(qtbot, tmp_path):
    poses = varied_poses(15, seed=7)
    lib = make_library(tmp_path / "lib", poses)
    window = open_window(qtbot, lib)
    pick = window.results.results()[6]
    done = window.searches_done()
    window.use_as_query(pick)
    results = wait_search(qtbot, window, done)
    assert results[0].pose_id == pick.pose_id and results[0].distance < 1e-3
    assert window.canvas.pose().with_only(pick.pose.present).allclose(pick.pose, atol=1e-6)


def test_correct_a_pose_and_save_it_to_the_library(qtbot, tmp_path):
    pics = tmp_path / "pics"
    images = write_pngs(pics, 4, size=(400, 600))
    poses = varied_poses(4, seed=11)
    lib = make_library(tmp_path / "lib", poses, names=[p.name for p in images], images_dir=pics)
    window = open_window(qtbot, lib)
    target = window.results.results()[2]
    window.correct_pose(target)
    qtbot.waitUntil(lambda: window.correction is not None, timeout=5000)
    assert window.banner.isVisible() and window.actions_by_name["savePose"].isEnabled()
    assert window.canvas.pose().with_only(target.pose.present).allclose(target.pose, atol=1e-6)

    wrist = skeleton.INDEX["left_wrist"]
    before = window.canvas.pose().xy[wrist].copy()
    drag_joint(qtbot, window.canvas, wrist, 40, -30)
    mask = window.canvas.joint_mask()
    mask[skeleton.INDEX["right_ear"]] = False  # not visible in the drawing
    window.canvas.set_joint_mask(mask)
    edited = window.canvas.pose()
    assert not np.allclose(edited.xy[wrist], before)

    done = window.searches_done()
    assert window.save_corrected_pose()
    wait_search(qtbot, window, done)
    assert window.correction is None and not window.actions_by_name["savePose"].isEnabled()
    with Library.open(lib, readonly=True) as check:
        stored = check.get_pose(target.pose_id)
    assert stored.source == "hand"
    assert not stored.present[skeleton.INDEX["right_ear"]]
    keep = mask & edited.present
    assert np.allclose(stored.xy[keep], edited.xy[keep])
    assert stored.image_size == target.pose.image_size


def test_tiles_show_the_thumbnail_or_a_neutral_tile_with_the_skeleton(qtbot, tmp_path):
    from posefinder.app.gui.results import tile_array
    from posefinder.models.drawing import SIDE_COLORS

    pics = tmp_path / "pics"
    images = write_pngs(pics, 2, size=(400, 600))
    poses = varied_poses(3, seed=5)
    names = [images[0].name, images[1].name, "gone.png"]  # the third has no image file
    lib = make_library(tmp_path / "lib", poses, names=names, images_dir=pics)
    window = open_window(qtbot, lib)
    results = {r.image: r for r in window.results.results()}
    with Library.open(lib, readonly=True) as check:
        with_thumb = results[images[0].name]
        tile = tile_array(check, with_thumb)
        thumb_h, thumb_w = 256, 171  # 400 x 600 scaled to a longest side of 256
        assert tile.shape == (thumb_h, thumb_w, 3)
        neutral = tile_array(check, results["gone.png"])
        assert neutral.shape == (256, 256, 3)
    for arr in (tile, neutral):
        for side in ("left", "right"):
            assert (arr == np.array(SIDE_COLORS[side], np.uint8)).all(axis=-1).any(), side
    # the grid loads them off the GUI thread, once painted, and caches them
    qtbot.waitUntil(lambda: window.results.thumbnails_idle(), timeout=5000)
    for r in window.results.results():
        image = window.results.thumbnail(r)
        assert image is not None and not image.isNull()


def test_context_menu_copies_the_path_and_offers_the_pose_actions(qtbot, tmp_path):
    from PySide6.QtGui import QGuiApplication

    pics = tmp_path / "pics"
    images = write_pngs(pics, 3)
    lib = make_library(tmp_path / "lib", varied_poses(3, seed=1), names=[p.name for p in images], images_dir=pics)
    window = open_window(qtbot, lib)
    result = window.results.results()[0]
    menu = window.results.context_menu(result)
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert {"Open", "Show in folder", "Copy path", "Use this pose as the query", "Correct this pose…"} <= set(actions)
    actions["Copy path"].trigger()
    assert QGuiApplication.clipboard().text() == str(result.path)
    with qtbot.waitSignal(window.results.useAsQueryRequested) as sig:
        actions["Use this pose as the query"].trigger()
    assert sig.args[0] is result


def test_too_few_joints_on_says_what_to_do(qtbot, tmp_path):
    window = open_window(qtbot, make_library(tmp_path / "lib", varied_poses(5)))
    mask = np.zeros(skeleton.NUM_KEYPOINTS, dtype=bool)
    mask[[skeleton.INDEX["left_wrist"], skeleton.INDEX["right_wrist"]]] = True
    done = window.searches_done()
    window.canvas.set_joint_mask(mask)
    assert wait_search(qtbot, window, done) == []
    assert "switch on at least 3 joints" in window.results.empty_text()
    done = window.searches_done()
    window.canvas.undo_stack.undo()  # all joints on again
    assert len(wait_search(qtbot, window, done)) == 5


def test_orientation_option_tells_a_handstand_from_standing(qtbot, tmp_path):
    query = standing_pose()
    upside_down = query.copy()
    upside_down.keypoints[:, :2] = np.array(query.image_size) - query.keypoints[:, :2]  # rotated 180 degrees
    upright_near = with_joint_moved(query, "left_wrist", 12, 0)
    lib = make_library(tmp_path / "lib", [upside_down, upright_near])
    window = open_window(qtbot, lib)
    window.filters.mirror_box.setChecked(False)
    window.filters.orientation_combo.setCurrentIndex(0)  # any rotation: the paper's ranking
    done = window.searches_done()
    window.canvas.set_pose(query)
    results = wait_search(qtbot, window, done)
    assert window.last_query is not None
    assert window.last_query.orientation_weight == 0 and results[0].pose_id == 1 and results[0].distance < 1e-3

    done = window.searches_done()
    window.filters.orientation_combo.setCurrentIndex(2)  # same rotation
    results = wait_search(qtbot, window, done)
    assert window.last_query is not None
    assert window.last_query.orientation_weight == 2.0 and results[0].pose_id == 2


def test_double_click_or_enter_opens_the_file_and_the_menu_opens_reveals_and_corrects(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QObject, Qt, QUrl, Slot
    from PySide6.QtGui import QDesktopServices

    from posefinder.app.gui import results as results_mod

    class Opened(QObject):
        def __init__(self):
            super().__init__()
            self.paths = []

        @Slot(QUrl)
        def open(self, url):
            self.paths.append(Path(url.toLocalFile()))

    pics = tmp_path / "pics"
    images = write_pngs(pics, 2, size=(40, 60))  # a tenth of the poses' 400 x 600 images
    poses = varied_poses(3, seed=3)
    lib = make_library(tmp_path / "lib", poses, names=[images[0].name, images[1].name, "gone.png"], images_dir=pics)
    revealed = []
    monkeypatch.setattr(results_mod, "reveal_in_folder", lambda path: revealed.append(path) or True)
    opened = Opened()
    # what the system would open; PySide6 takes the slot's name as a str (its stub says bytes, which it refuses)
    QDesktopServices.setUrlHandler("file", opened, "open")  # pyright: ignore[reportArgumentType]
    try:
        window = open_window(qtbot, lib)
        view = window.results
        shown = view.results()
        with_file = [r for r in shown if r.path is not None]
        row = shown.index(with_file[0])
        tile = view.visualRect(view.model().index(row, 0)).center()
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=tile)  # QTest's double click is
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=tile)  # only its second press
        assert opened.paths == [with_file[0].path]
        view.setCurrentIndex(view.model().index(shown.index(with_file[1]), 0))
        qtbot.keyClick(view, Qt.Key.Key_Return)
        assert opened.paths[-1] == with_file[1].path

        actions = {a.text(): a for a in view.context_menu(with_file[0]).actions() if a.text()}
        actions["Open"].trigger()
        actions["Show in folder"].trigger()
        assert opened.paths[-1] == with_file[0].path and revealed == [with_file[0].path]
        actions["Correct this pose…"].trigger()
        qtbot.waitUntil(lambda: window.correction is not None, timeout=5000)
        assert window.correction is not None and window.correction.pose_id == with_file[0].pose_id and window.canvas.guide_image() is not None

        no_file = next(r for r in shown if r.path is None)  # imported without its image
        actions = {a.text(): a for a in view.context_menu(no_file).actions() if a.text()}
        assert not actions["Open"].isEnabled() and not actions["Show in folder"].isEnabled()
        with qtbot.waitSignal(view.message) as sig:
            assert not view.open_result(no_file)
        assert "no image file" in sig.args[0] and len(opened.paths) == 3
    finally:
        QDesktopServices.unsetUrlHandler("file")


def test_a_correction_still_loading_its_image_loses_to_a_newer_request(qtbot, tmp_path, monkeypatch):
    """Correct a pose, then use another as the query (or open another library) while its image loads:
    the late image must not start the correction (its Save would write that pose id into whatever
    library is open then)."""
    import threading

    from posefinder.models import imageio

    pics = tmp_path / "pics"
    images = write_pngs(pics, 3, size=(400, 600))
    lib = make_library(tmp_path / "lib", varied_poses(3, seed=8), names=[p.name for p in images], images_dir=pics)
    other = make_library(tmp_path / "other", varied_poses(3, seed=9))
    real_load = imageio.load_image
    gate = threading.Event()

    def slow_load(path, *args, **kw):
        gate.wait(10)
        return real_load(path, *args, **kw)

    monkeypatch.setattr(imageio, "load_image", slow_load)
    window = open_window(qtbot, lib)
    target, chosen = window.results.results()[:2]
    window.correct_pose(target)
    window.use_as_query(chosen)
    gate.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    assert window.correction is None and not window.actions_by_name["savePose"].isEnabled()
    assert window.canvas.pose().with_only(chosen.pose.present).allclose(chosen.pose, atol=1e-6)
    assert window.canvas.guide_image() is None

    gate.clear()
    window.correct_pose(target)
    assert window.open_library(other)
    gate.set()
    qtbot.waitUntil(lambda: not window.busy(), timeout=10_000)
    assert window.correction is None and not window.actions_by_name["savePose"].isEnabled()
    assert not window.save_corrected_pose()


def test_the_characters_filter_keeps_solo_or_group_images(qtbot, tmp_path):
    poses = varied_poses(6, seed=5)
    names = ["solo_a.png", "solo_b.png", "pair.png", "pair.png", "group.png", "group.png"]
    window = open_window(qtbot, make_library(tmp_path / "lib", poses, names))
    combo = window.filters.characters_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["Solo or group", "Solo", "Group"]
    everything = {r.image for r in window.results.results()}
    assert everything == set(names)
    done = window.searches_done()
    window.filters.set_characters("one")
    assert {r.image for r in wait_search(qtbot, window, done)} == {"solo_a.png", "solo_b.png"}
    done = window.searches_done()
    window.filters.set_characters("several")
    several = wait_search(qtbot, window, done)
    assert {r.image for r in several} == {"pair.png", "group.png"} and len(several) == 4
    done = window.searches_done()
    window.filters.set_characters(None)
    assert {r.image for r in wait_search(qtbot, window, done)} == everything
