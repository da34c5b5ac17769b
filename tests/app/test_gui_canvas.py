"""The pose canvas driven like a user does: real mouse and key events, drops and pastes, offscreen."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_helpers import shown_canvas  # noqa: E402

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from posefinder.app.gui.canvas import PoseCanvas  # noqa: E402
from posefinder.app.gui.canvas_items import JointHandle, LimbItem  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.imageio import save_image  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402

pytestmark = pytest.mark.torchfree


I = skeleton.INDEX  # noqa: E741
ALT = Qt.KeyboardModifier.AltModifier  # free mode for one drag: the joint moves alone


@pytest.fixture
def canvas(qtbot):
    return shown_canvas(qtbot)


@pytest.fixture
def clipboard(qapp):
    """The application clipboard, emptied afterwards (a QMimeData made in Python and left on the clipboard
    when the application quits crashes PySide's shutdown)."""
    board = QGuiApplication.clipboard()
    yield board
    board.clear()
    qapp.processEvents()


class Recorder:
    """Counts a canvas's signals."""

    def __init__(self, canvas: PoseCanvas) -> None:
        self.changed = 0
        self.finished = 0
        self.dropped: list[tuple[np.ndarray, str]] = []
        self.failed: list[str] = []
        canvas.poseChanged.connect(self._changed)
        canvas.editFinished.connect(self._finished)
        canvas.imageDropped.connect(lambda image, name: self.dropped.append((image, name)))
        canvas.dropFailed.connect(self.failed.append)

    def _changed(self) -> None:
        self.changed += 1

    def _finished(self) -> None:
        self.finished += 1


def drag(qtbot, canvas: PoseCanvas, joint: str, dx: int, dy: int, steps: int = 5, modifier=Qt.KeyboardModifier.NoModifier):
    """Press on a joint's handle, move in steps, release: what a user's drag sends."""
    vp = canvas.viewport()
    start = canvas.joint_view_pos(joint)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, start)
    for k in range(1, steps + 1):
        qtbot.mouseMove(vp, start + QPoint(round(dx * k / steps), round(dy * k / steps)))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, start + QPoint(dx, dy))


def click(qtbot, canvas: PoseCanvas, joint: str) -> None:
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, canvas.joint_view_pos(joint))


def hover(qtbot, canvas: PoseCanvas, joint: str) -> None:
    qtbot.mouseMove(canvas.viewport(), canvas.joint_view_pos(joint))


def mean_of_limb(xy: np.ndarray, midpoint: str) -> np.ndarray:
    a, b = skeleton.MIDPOINTS[midpoint]
    return (xy[I[a]] + xy[I[b]]) / 2.0


def handles(canvas):
    return {item.index: item for item in canvas.scene().items() if isinstance(item, JointHandle)}


def limbs(canvas):
    return {(item.a, item.b): item for item in canvas.scene().items() if isinstance(item, LimbItem)}


def test_the_canvas_starts_standing_with_every_joint_on(canvas):
    pose = canvas.pose()
    assert canvas.objectName() == "poseCanvas"
    assert pose.present.all() and canvas.joint_mask().all()
    assert pose.image_size == canvas.frame_size()
    xy = pose.xy
    assert xy[I["nose"], 1] < xy[I["left_hip"], 1] < xy[I["left_ankle"], 1]  # head up, feet down
    # facing the viewer: the character's left on the image's right
    assert xy[I["left_shoulder"], 0] > xy[I["right_shoulder"], 0]


def test_free_mode_alt_drag_moves_a_joint_alone_with_real_mouse_events(qtbot, canvas):
    rec = Recorder(canvas)
    before = canvas.pose().xy.copy()
    scale = canvas.view_scale()
    drag(qtbot, canvas, "left_wrist", 60, -40, modifier=ALT)
    after = canvas.pose().xy
    moved = after[I["left_wrist"]] - before[I["left_wrist"]]
    np.testing.assert_allclose(moved, np.array([60, -40]) / scale, atol=1e-6)
    untouched = [i for i in range(25) if i not in (I["left_wrist"], I["left_forearm"])]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    assert rec.changed >= 2  # live updates during the drag
    assert rec.finished == 1  # one "search now", on release
    assert canvas.undo_stack.count() == 1  # one undo step for the whole drag
    assert canvas.joint_mask().all()  # a drag is not a click


def test_midpoints_follow_their_limb_unless_moved_by_hand_in_free_mode(qtbot, canvas):
    drag(qtbot, canvas, "left_elbow", 50, 30, modifier=ALT)
    xy = canvas.pose().xy
    for mid in ("left_upper_arm", "left_forearm"):
        np.testing.assert_allclose(xy[I[mid]], mean_of_limb(xy, mid), atol=1e-9)

    drag(qtbot, canvas, "left_upper_arm", -25, 0, modifier=ALT)  # the midpoint itself: it stays where put
    put = canvas.pose().xy[I["left_upper_arm"]].copy()
    assert not np.allclose(put, mean_of_limb(canvas.pose().xy, "left_upper_arm"))
    drag(qtbot, canvas, "left_elbow", 0, 45, modifier=ALT)
    xy = canvas.pose().xy
    np.testing.assert_array_equal(xy[I["left_upper_arm"]], put)
    np.testing.assert_allclose(xy[I["left_forearm"]], mean_of_limb(xy, "left_forearm"), atol=1e-9)

    canvas.reset()
    xy = canvas.pose().xy
    drag(qtbot, canvas, "left_elbow", 30, 0)
    xy = canvas.pose().xy
    np.testing.assert_allclose(xy[I["left_upper_arm"]], mean_of_limb(xy, "left_upper_arm"), atol=1e-9)


def test_a_midpoint_keeps_its_offset_from_its_limb_when_an_endpoint_moves(qtbot, canvas):
    kp = canvas.pose().keypoints.copy()
    sh, el, mid = I["right_shoulder"], I["right_elbow"], I["right_upper_arm"]
    limb = kp[el, :2] - kp[sh, :2]
    across = np.array([-limb[1], limb[0]])
    kp[mid, :2] = kp[sh, :2] + 0.4 * limb + 0.1 * across  # an estimate off the straight line
    canvas.set_pose(Pose(keypoints=kp, image_size=canvas.frame_size()))
    drag(qtbot, canvas, "right_elbow", -40, 25)
    xy = canvas.pose().xy
    limb = xy[el] - xy[sh]
    across = np.array([-limb[1], limb[0]])
    np.testing.assert_allclose(xy[mid], xy[sh] + 0.4 * limb + 0.1 * across, atol=1e-9)


def test_shift_drag_moves_the_whole_figure(qtbot, canvas):
    before = canvas.pose().xy.copy()
    drag(qtbot, canvas, "left_hip", 30, 20, modifier=Qt.KeyboardModifier.ShiftModifier)
    shift = canvas.pose().xy - before
    np.testing.assert_allclose(shift, np.tile(np.array([30, 20]) / canvas.view_scale(), (25, 1)), atol=1e-6)


def test_clicking_a_joint_switches_it_off_and_on(qtbot, canvas):
    rec = Recorder(canvas)
    before = canvas.pose()
    click(qtbot, canvas, "left_knee")
    mask = canvas.joint_mask()
    assert not mask[I["left_knee"]] and mask.sum() == 24
    assert canvas.pose().allclose(before)  # still present in pose(), unmoved
    assert rec.finished == 1 and rec.changed == 1
    assert not handles(canvas)[I["left_knee"]].is_on
    lims = limbs(canvas)
    touching = [k for k in lims if I["left_knee"] in k]
    assert touching and all(lims[k].dashed for k in touching)
    assert not any(lims[k].dashed for k in lims if I["left_knee"] not in k)

    click(qtbot, canvas, "left_knee")
    assert canvas.joint_mask().all() and handles(canvas)[I["left_knee"]].is_on
    assert rec.finished == 2


def test_hovering_a_joint_highlights_it_and_names_it(qtbot, canvas):
    hover(qtbot, canvas, "right_elbow")
    h = handles(canvas)[I["right_elbow"]]
    assert canvas.hovered_joint() == I["right_elbow"] and h.hovered
    assert h.toolTip().startswith("Right elbow")
    qtbot.mouseMove(canvas.viewport(), QPoint(3, 3))  # the empty corner
    assert canvas.hovered_joint() is None and not h.hovered


def test_keys_toggle_the_hovered_joint_mirror_reset_undo_and_redo(qtbot, canvas):
    canvas.setFocus()
    hover(qtbot, canvas, "nose")
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert not canvas.joint_mask()[I["nose"]]
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert canvas.joint_mask()[I["nose"]]
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not canvas.joint_mask()[I["nose"]]
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert canvas.joint_mask()[I["nose"]]

    canvas.apply_preset("running")
    running = canvas.pose().xy.copy()
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert not np.allclose(canvas.pose().xy, running)
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    np.testing.assert_allclose(canvas.pose().xy, running, atol=1e-9)
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    canvas2 = PoseCanvas()
    np.testing.assert_allclose(canvas.pose().xy, canvas2.pose().xy, atol=1e-9)
    canvas2.deleteLater()


def test_mirror_swaps_left_and_right_in_place(canvas):
    canvas.apply_preset("walking")
    canvas.set_joint_on("left_wrist", False)
    before = canvas.pose().xy.copy()
    rec = Recorder(canvas)
    canvas.mirror()
    after = canvas.pose().xy
    centre = (before[:, 0].min() + before[:, 0].max()) / 2.0
    for name in ("left_wrist", "right_knee", "nose", "left_thigh"):
        j, k = I[name], skeleton.FLIP_INDEX[I[name]]
        np.testing.assert_allclose(after[k], [2 * centre - before[j, 0], before[j, 1]], atol=1e-9)
    assert not canvas.joint_mask()[I["right_wrist"]] and canvas.joint_mask()[I["left_wrist"]]
    assert (after[:, 0].min() + after[:, 0].max()) / 2.0 == pytest.approx(centre)  # in place
    assert rec.finished == 1


def test_reset_and_presets(canvas):
    names = canvas.preset_names()
    assert names[0] == "standing" and len(names) >= 10
    for expected in ("contrapposto", "walking", "running", "sitting", "kneeling", "arms raised", "jumping",
                     "fighting stance", "lying"):  # fmt: skip
        assert expected in names
    seen = []
    w, h = canvas.frame_size()
    for name in names:
        canvas.set_joint_on("nose", False)
        canvas.apply_preset(name)
        xy = canvas.pose().xy
        assert canvas.joint_mask().all()  # a preset switches every joint on
        assert (xy >= 0).all() and (xy[:, 0] <= w).all() and (xy[:, 1] <= h).all()
        assert not any(np.allclose(xy, other, atol=1.0) for other in seen), name
        seen.append(xy.copy())
    lying = seen[names.index("lying")]
    assert np.ptp(lying[:, 0]) > np.ptp(lying[:, 1])  # lying is wide, not tall
    canvas.reset()
    np.testing.assert_allclose(canvas.pose().xy, seen[0], atol=1e-9)
    with pytest.raises(ValueError, match="unknown preset"):
        canvas.apply_preset("handstand on a unicycle")


def test_undo_and_redo_restore_every_edit_exactly(qtbot, canvas):
    snapshots = [(canvas.pose().keypoints.copy(), canvas.joint_mask())]

    def snap():
        snapshots.append((canvas.pose().keypoints.copy(), canvas.joint_mask()))

    drag(qtbot, canvas, "right_ankle", -35, -60)
    snap()
    click(qtbot, canvas, "left_eye")
    snap()
    canvas.mirror()
    snap()
    canvas.apply_preset("sitting")
    snap()
    drag(qtbot, canvas, "left_forearm", 20, 20)
    snap()
    mask = canvas.joint_mask()
    mask[:5] = False
    canvas.set_joint_mask(mask)
    snap()
    other = canvas.pose().keypoints.copy()
    other[:, :2] += 7.25
    canvas.set_pose(Pose(keypoints=other, image_size=canvas.frame_size()))
    snap()
    canvas.reset()
    snap()
    assert canvas.undo_stack.count() == len(snapshots) - 1

    rec = Recorder(canvas)
    for kp, mask in reversed(snapshots[:-1]):
        canvas.undo_stack.undo()
        np.testing.assert_array_equal(canvas.pose().keypoints, kp)
        np.testing.assert_array_equal(canvas.joint_mask(), mask)
    assert rec.finished == len(snapshots) - 1  # every undo asks for a search
    for kp, mask in snapshots[1:]:
        canvas.undo_stack.redo()
        np.testing.assert_array_equal(canvas.pose().keypoints, kp)
        np.testing.assert_array_equal(canvas.joint_mask(), mask)


def test_a_drag_back_to_its_start_leaves_no_undo_step(qtbot, canvas):
    vp = canvas.viewport()
    start = canvas.joint_view_pos("left_ankle")
    before = canvas.pose().keypoints.copy()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    qtbot.mouseMove(vp, start + QPoint(30, 0))
    qtbot.mouseMove(vp, start)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    np.testing.assert_array_equal(canvas.pose().keypoints, before)
    assert canvas.undo_stack.count() == 0
    assert canvas.joint_mask().all()


def test_set_pose_places_absent_joints_and_switches_them_off(canvas):
    rec = Recorder(canvas)
    kp = np.zeros((25, 3))
    src = canvas.pose().keypoints.copy()
    keep = [I[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_elbow", "nose")]
    kp[keep] = src[keep]
    kp[keep, :2] = kp[keep, :2] * 0.5 + 40.0  # smaller and elsewhere in the frame
    kp[I["nose"], 2] = 1  # occluded: kept as such
    canvas.set_pose(Pose(keypoints=kp, image_size=canvas.frame_size()))
    pose, mask = canvas.pose(), canvas.joint_mask()
    np.testing.assert_array_equal(mask, kp[:, 2] > 0)
    np.testing.assert_array_equal(pose.keypoints[keep], kp[keep])
    assert pose.present.all()  # off joints are placed, not dropped
    # placed plausibly: the standing template fitted to the present joints
    np.testing.assert_allclose(pose.xy[I["left_ankle"]], src[I["left_ankle"], :2] * 0.5 + 40.0, atol=1e-6)
    assert rec.finished == 1 and canvas.undo_stack.count() == 1

    canvas.set_pose(Pose(keypoints=src, image_size=canvas.frame_size()), undoable=False)
    assert canvas.undo_stack.count() == 0 and canvas.joint_mask().all()


def test_set_pose_of_another_frame(canvas):
    kp = canvas.pose().keypoints.copy()
    kp[:, :2] = kp[:, :2] * 3.0
    canvas.set_pose(Pose(keypoints=kp, image_size=(1536, 1536)))  # no guide: the frame follows the pose
    assert canvas.frame_size() == (1536, 1536)
    np.testing.assert_array_equal(canvas.pose().keypoints, kp)

    canvas.set_guide_image(np.zeros((300, 200, 3), np.uint8))
    canvas.set_pose(Pose(keypoints=kp, image_size=(1536, 1536)))  # another image's pose: scaled in
    xy = canvas.pose().xy
    assert (xy >= 0).all() and (xy[:, 0] <= 200).all() and (xy[:, 1] <= 300).all()


def test_a_guide_image_becomes_the_scene_and_an_estimate_overlays_it_exactly(canvas):
    image = np.zeros((300, 200, 3), np.uint8)
    image[..., 0] = 200
    canvas.set_guide_image(image)
    assert canvas.frame_size() == (200, 300) and canvas.pose().image_size == (200, 300)
    xy = canvas.pose().xy
    assert (xy >= 0).all() and (xy[:, 0] <= 200).all() and (xy[:, 1] <= 300).all()  # refitted
    estimate = Pose(keypoints=np.c_[np.linspace(10, 190, 25), np.linspace(5, 295, 25), np.full(25, 2)],
                    image_size=(200, 300), source="model:test")  # fmt: skip
    canvas.set_pose(estimate)
    np.testing.assert_array_equal(canvas.pose().xy, estimate.xy)
    canvas.set_guide_image(None)
    assert canvas.guide_image() is None and canvas.frame_size() == (200, 300)


def make_png(path, width=64, height=48):
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 4 % 256, yy * 5 % 256, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    save_image(image, path)
    return image


def send_drop(canvas: PoseCanvas, mime: QMimeData) -> None:
    """What a drop from the file manager sends: drag enter, move, drop (Qt delivers a drop only to the
    widget that accepted the drag's enter)."""
    pos = QPointF(canvas.viewport().rect().center())
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    for event_type in (QDragEnterEvent, QDragMoveEvent):
        try:
            # PySide6 >= 6.12 takes the QPointF; the stubs of older ones know only QPoint
            event = event_type(pos, *args)  # pyright: ignore[reportArgumentType]
        except TypeError:
            event = event_type(pos.toPoint(), *args)
        QApplication.sendEvent(canvas.viewport(), event)
    QApplication.sendEvent(canvas.viewport(), QDropEvent(pos, *args))


def test_dropping_an_image_file_shows_it_as_the_guide(canvas, tmp_path):
    image = make_png(tmp_path / "figure.png")
    rec = Recorder(canvas)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "figure.png"))])
    send_drop(canvas, mime)
    assert len(rec.dropped) == 1
    dropped, name = rec.dropped[0]
    assert name == "figure.png"
    np.testing.assert_array_equal(dropped, image)
    np.testing.assert_array_equal(canvas.guide_image(), image)
    assert canvas.frame_size() == (64, 48)
    assert not rec.failed


def test_dropping_a_broken_file_says_why_and_changes_nothing(canvas, tmp_path, clipboard):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    before = canvas.pose().keypoints.copy()
    rec = Recorder(canvas)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    send_drop(canvas, mime)
    assert len(rec.failed) == 1 and "broken.png" in rec.failed[0] and "\n" not in rec.failed[0]
    assert not rec.dropped and canvas.guide_image() is None
    np.testing.assert_array_equal(canvas.pose().keypoints, before)

    clipboard.setText("just some words")
    assert not canvas.paste()
    assert len(rec.failed) == 2 and "image" in rec.failed[1] and canvas.guide_image() is None


def test_pasting_an_image_or_an_image_file(qtbot, canvas, tmp_path, clipboard):
    rec = Recorder(canvas)
    qimage = QImage(40, 30, QImage.Format.Format_RGB888)
    qimage.fill(Qt.GlobalColor.green)
    clipboard.setImage(qimage)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(rec.dropped) == 1, rec.failed
    image, name = rec.dropped[0]
    assert image.shape == (30, 40, 3) and name == "clipboard"
    assert tuple(image[0, 0]) == (0, 255, 0)

    make_png(tmp_path / "copied.png", 20, 10)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "copied.png"))])
    clipboard.setMimeData(mime)
    qtbot.keyClick(canvas, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert rec.dropped[-1][1] == "copied.png" and canvas.frame_size() == (20, 10)


def test_busy_indicator(canvas):
    overlay = canvas.findChild(type(canvas._busy), "canvasBusy")
    assert overlay is not None and not overlay.isVisible()
    canvas.set_busy(True, "Estimating the pose of figure.png")
    assert canvas.is_busy() and overlay.isVisible() and overlay.text() == "Estimating the pose of figure.png"
    canvas.set_busy(False)
    assert not canvas.is_busy()


def test_zoom_keeps_handles_the_same_size_on_screen_and_pan_moves_the_view(qtbot, canvas):
    a, b = canvas.joint_view_pos("left_ankle"), canvas.joint_view_pos("left_shoulder")
    size = handles(canvas)[I["left_ankle"]].boundingRect()
    scale = canvas.view_scale()
    canvas.zoom_in()
    assert canvas.view_scale() == pytest.approx(scale * 1.25)
    a2, b2 = canvas.joint_view_pos("left_ankle"), canvas.joint_view_pos("left_shoulder")
    assert (b2 - a2).manhattanLength() > (b - a).manhattanLength()
    assert handles(canvas)[I["left_ankle"]].boundingRect() == size  # ignores the view's scale
    canvas.zoom_out()
    assert canvas.view_scale() == pytest.approx(scale)

    wheel = QWheelEvent(QPointF(100, 100), canvas.viewport().mapToGlobal(QPointF(100, 100)), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.view_scale() == pytest.approx(scale * 1.25)

    vp = canvas.viewport()
    before = canvas.joint_view_pos("nose")
    empty = QPoint(5, vp.height() - 5)
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, empty)
    qtbot.mouseMove(vp, empty + QPoint(20, -10))
    qtbot.mouseMove(vp, empty + QPoint(40, -30))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, empty + QPoint(40, -30))
    assert canvas.joint_view_pos("nose") - before == QPoint(40, -30)
    assert canvas.pose().allclose(canvas.pose())  # panning edits nothing
    assert canvas.undo_stack.count() == 0

    canvas.fit()
    vr = canvas.viewport().rect()
    for name in skeleton.KEYPOINT_NAMES:
        assert vr.contains(canvas.joint_view_pos(name))


def test_qt_calls_do_not_eat_references_to_none(canvas):
    """PySide6 6.12.0 under Python < 3.12 drops a reference to None on every void call, and the app aborts
    ("none_dealloc") after a few thousand; pyproject.toml excludes it. Guard that the installed one does not."""
    import sys

    before = sys.getrefcount(None)
    for _ in range(200):
        canvas.viewport().update()
    assert sys.getrefcount(None) >= before - 20


def test_zoom_and_fit_keys(qtbot, canvas):
    canvas.setFocus()
    scale = canvas.view_scale()
    qtbot.keyClick(canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view_scale() == pytest.approx(scale * 1.25)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view_scale() == pytest.approx(scale / 1.25)
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.view_scale() == pytest.approx(scale)


def test_space_drag_pans_even_over_a_joint(qtbot, canvas):
    canvas.setFocus()
    vp = canvas.viewport()
    qtbot.mouseMove(vp, QPoint(3, 3))  # nothing hovered: Space means "pan"
    before = canvas.pose().keypoints.copy()
    start = canvas.joint_view_pos("left_hip")
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    qtbot.mouseMove(vp, start + QPoint(15, 10))
    qtbot.mouseMove(vp, start + QPoint(30, 20))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(30, 20))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    np.testing.assert_array_equal(canvas.pose().keypoints, before)
    assert canvas.joint_view_pos("left_hip") - start == QPoint(30, 20)
    assert canvas.joint_mask().all() and canvas.undo_stack.count() == 0


def test_right_click_on_a_joint_offers_a_menu(qtbot, canvas):
    from PySide6.QtWidgets import QMenu

    vp = canvas.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, canvas.joint_view_pos("right_wrist"))
    menu = next(m for m in canvas.findChildren(QMenu) if m.isVisible())
    texts = [a.text() for a in menu.actions()]
    assert "Switch off right wrist" in texts and "Presets" in texts
    next(a for a in menu.actions() if a.text() == "Switch off right wrist").trigger()
    menu.close()
    assert not canvas.joint_mask()[I["right_wrist"]]
