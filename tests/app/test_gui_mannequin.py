"""Mannequin posing on the canvas, driven with real mouse events on its viewport: bones that turn about
their joints, free mode, the figure turned and scaled, body types."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui_helpers import make_library, open_window, shown_canvas  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from posefinder.app.gui.canvas import FIGURE_SCALE_STEP  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.descriptor import Query, torso_up  # noqa: E402
from posefinder.models.editing import mannequin  # noqa: E402
from posefinder.models.library import Library  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402

I = skeleton.INDEX  # noqa: E741
ALT = Qt.KeyboardModifier.AltModifier
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def canvas(qtbot):
    return shown_canvas(qtbot)


def drag_from(qtbot, canvas, start: QPoint, path: list[QPoint], modifier=NONE) -> None:
    """Press at start, move through path, release at its end: a user's drag."""
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, start)
    for p in path:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, path[-1])


def drag(qtbot, canvas, joint: str, dx: int, dy: int, steps: int = 5, modifier=NONE) -> None:
    start = canvas.joint_view_pos(joint)
    path = [start + QPoint(round(dx * k / steps), round(dy * k / steps)) for k in range(1, steps + 1)]
    drag_from(qtbot, canvas, start, path, modifier)


def wheel(canvas, pos: QPoint, steps: int = 1, modifier=NONE) -> None:
    event = QWheelEvent(QPointF(pos), canvas.viewport().mapToGlobal(QPointF(pos)), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, modifier,
                        Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(canvas.viewport(), event)


def dist(xy: np.ndarray, a: str, b: str) -> float:
    return float(np.hypot(*(xy[I[a]] - xy[I[b]])))


def pairwise(xy: np.ndarray, names) -> np.ndarray:
    pts = xy[[I[n] for n in names]]
    return np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))


def direction_deg(v) -> float:
    return math.degrees(math.atan2(v[1], v[0]))


def joint_angle(xy: np.ndarray, a: str, joint: str, b: str) -> float:
    """The signed angle at `joint` between its bones to a and to b, in degrees."""
    u, v = xy[I[a]] - xy[I[joint]], xy[I[b]] - xy[I[joint]]
    return math.degrees(math.atan2(u[0] * v[1] - u[1] * v[0], u @ v))


def test_forearm_keeps_its_length_when_the_wrist_is_dragged(qtbot, canvas):
    before = canvas.pose().xy.copy()
    changed, finished = [], []
    canvas.poseChanged.connect(lambda: changed.append(1))
    canvas.editFinished.connect(lambda: finished.append(1))
    drag(qtbot, canvas, "left_wrist", 70, -90)
    after = canvas.pose().xy
    assert abs(dist(after, "left_elbow", "left_wrist") - dist(before, "left_elbow", "left_wrist")) < 0.5
    assert np.hypot(*(after[I["left_wrist"]] - before[I["left_wrist"]])) > 20  # it did turn
    # the forearm points where the mouse went, turning about the elbow; nothing else moves
    target = canvas.mapToScene(canvas.mapFromScene(QPointF(*before[I["left_wrist"]])) + QPoint(70, -90))
    aim = np.array([target.x(), target.y()]) - before[I["left_elbow"]]
    assert direction_deg(after[I["left_wrist"]] - after[I["left_elbow"]]) == pytest.approx(direction_deg(aim), abs=1.0)
    still = [i for i in range(25) if i not in (I["left_wrist"], I["left_forearm"])]
    np.testing.assert_array_equal(after[still], before[still])
    mid = after[I["left_forearm"]]
    np.testing.assert_allclose(mid, (after[I["left_elbow"]] + after[I["left_wrist"]]) / 2, atol=1e-9)
    # live updates while dragging, one search and one undo step for the whole drag
    assert len(changed) >= 2 and len(finished) == 1 and canvas.undo_stack.count() == 1
    canvas.undo_stack.undo()
    np.testing.assert_array_equal(canvas.pose().xy, before)
    canvas.undo_stack.redo()
    np.testing.assert_array_equal(canvas.pose().xy, after)


def test_mannequin_drag_of_the_shoulder_moves_elbow_and_wrist_rigidly(qtbot, canvas):
    before = canvas.pose().xy.copy()
    drag(qtbot, canvas, "left_shoulder", 40, 25)
    after = canvas.pose().xy
    arm = ("left_shoulder", "left_elbow", "left_wrist", "left_upper_arm", "left_forearm", "right_shoulder", "nose")
    np.testing.assert_allclose(pairwise(after, arm), pairwise(before, arm), atol=0.5)  # a rigid turn
    for name in ("left_elbow", "left_wrist", "nose"):
        assert np.hypot(*(after[I[name]] - before[I[name]])) > 5, name
    pelvis = (before[I["left_hip"]] + before[I["right_hip"]]) / 2
    for name in ("left_shoulder", "left_elbow", "left_wrist"):  # the torso turned about the pelvis
        assert np.hypot(*(after[I[name]] - pelvis)) == pytest.approx(np.hypot(*(before[I[name]] - pelvis)), abs=0.5)
    legs = [I[n] for n in skeleton.GROUPS["legs"]]
    np.testing.assert_array_equal(after[legs], before[legs])
    assert canvas.undo_stack.count() == 1


def test_mannequin_elbow_swings_the_forearm_and_the_head_turns_about_the_neck(qtbot, canvas):
    before = canvas.pose().xy.copy()
    drag(qtbot, canvas, "right_elbow", -60, -30)
    after = canvas.pose().xy
    forearm = ("right_shoulder", "right_elbow", "right_wrist", "right_forearm")
    np.testing.assert_allclose(pairwise(after, forearm), pairwise(before, forearm), atol=0.5)
    assert np.hypot(*(after[I["right_wrist"]] - before[I["right_wrist"]])) > 20

    before = after.copy()
    drag(qtbot, canvas, "nose", 25, 0)
    after = canvas.pose().xy
    neck = (before[I["left_shoulder"]] + before[I["right_shoulder"]]) / 2
    for name in skeleton.GROUPS["head"]:
        assert np.hypot(*(after[I[name]] - neck)) == pytest.approx(np.hypot(*(before[I[name]] - neck)), abs=0.5)
    body = [i for i in range(25) if skeleton.KEYPOINT_NAMES[i] not in skeleton.GROUPS["head"]]
    np.testing.assert_array_equal(after[body], before[body])


def test_free_mode_moves_one_joint_only(qtbot, canvas):
    toggles = []
    canvas.freeModeChanged.connect(toggles.append)
    canvas.set_free_mode(True)
    assert canvas.free_mode() and toggles == [True]
    before = canvas.pose().xy.copy()
    scale = canvas.view_scale()
    drag(qtbot, canvas, "left_wrist", 0, -60)
    after = canvas.pose().xy
    np.testing.assert_allclose(after[I["left_wrist"]] - before[I["left_wrist"]], [0, -60 / scale], atol=1e-6)
    still = [i for i in range(25) if i not in (I["left_wrist"], I["left_forearm"])]  # the midpoint follows
    np.testing.assert_array_equal(after[still], before[still])
    assert dist(after, "left_elbow", "left_wrist") < dist(before, "left_elbow", "left_wrist") - 10  # foreshortened

    before = after.copy()
    drag(qtbot, canvas, "left_wrist", 40, 0, modifier=ALT)  # Alt inverts the toggle: this drag turns
    after = canvas.pose().xy
    assert dist(after, "left_elbow", "left_wrist") == pytest.approx(dist(before, "left_elbow", "left_wrist"), abs=0.5)
    canvas.set_free_mode(False)
    assert not canvas.free_mode() and toggles == [True, False]


def test_free_mode_toolbar_toggle_shows_its_state(qtbot):
    window = open_window(qtbot)
    action = window.actions_by_name["freeMode"]
    assert action.isCheckable() and not action.isChecked() and not window.canvas.free_mode()
    action.trigger()
    assert action.isChecked() and window.canvas.free_mode()
    window.canvas.set_free_mode(False)  # from the canvas's menu: the toggle follows
    assert not action.isChecked()


def test_mannequin_rotation_handle_turns_the_figure_upside_down_for_the_orientation_filter(qtbot, canvas, tmp_path):
    before = canvas.pose().xy.copy()
    centre = mannequin.figure_centre(before)
    c = canvas.mapFromScene(QPointF(*centre))
    start = canvas.rotation_handle_view_pos()
    radius = math.hypot(start.x() - c.x(), start.y() - c.y())
    start_angle = math.atan2(start.y() - c.y(), start.x() - c.x())
    arc = [QPoint(round(c.x() + radius * math.cos(start_angle + math.pi * k / 12)),
                  round(c.y() + radius * math.sin(start_angle + math.pi * k / 12))) for k in range(1, 13)]  # fmt: skip
    drag_from(qtbot, canvas, start, arc)
    after = canvas.pose().xy
    assert canvas.undo_stack.count() == 1
    np.testing.assert_allclose(pairwise(after, skeleton.KEYPOINT_NAMES), pairwise(before, skeleton.KEYPOINT_NAMES), atol=1e-6)
    np.testing.assert_allclose(mannequin.figure_centre(after), centre, atol=1.0)
    up = torso_up(after, np.ones(25, bool))
    assert up is not None and up[1] > 0.99  # the shoulders are below the hips: upside down (image y points down)

    # the orientation filter ("Same rotation") finds the upside-down figure first, "Any rotation" cannot tell
    upright = Pose(np.concatenate([before, np.full((25, 1), 2.0)], axis=1), image_size=canvas.frame_size())
    flipped = Pose(np.concatenate([mannequin.rotate_figure(before, math.pi), np.full((25, 1), 2.0)], axis=1),
                   image_size=canvas.frame_size())  # fmt: skip
    lib = make_library(tmp_path / "lib", [upright, flipped], names=["upright.png", "upside_down.png"])
    with Library.open(lib, readonly=True) as library:
        same = library.search(Query(canvas.pose(), orientation_weight=2.0), k=2)
        anyway = library.search(Query(canvas.pose(), orientation_weight=0.0), k=2)
    assert Path(same[0].image).name == "upside_down.png"
    assert same[0].distance < 0.05 < same[1].distance
    assert abs(anyway[0].distance - anyway[1].distance) < 1e-3


def test_mannequin_ctrl_drag_turns_the_figure_about_its_centre(qtbot, canvas):
    before = canvas.pose().xy.copy()
    centre = mannequin.figure_centre(before)
    c = canvas.mapFromScene(QPointF(*centre))
    start = canvas.joint_view_pos("left_ankle")
    v = (start.x() - c.x(), start.y() - c.y())
    path = [QPoint(round(c.x() + v[0] * math.cos(a) - v[1] * math.sin(a)), round(c.y() + v[0] * math.sin(a) + v[1] * math.cos(a)))
            for a in np.linspace(0, math.pi / 2, 7)[1:]]  # fmt: skip
    drag_from(qtbot, canvas, start, path, Qt.KeyboardModifier.ControlModifier)
    after = canvas.pose().xy
    turned = direction_deg(after[I["left_ankle"]] - centre) - direction_deg(before[I["left_ankle"]] - centre)
    assert (turned + 180) % 360 - 180 == pytest.approx(90, abs=2)
    np.testing.assert_allclose(pairwise(after, skeleton.KEYPOINT_NAMES), pairwise(before, skeleton.KEYPOINT_NAMES), atol=1e-6)
    assert canvas.undo_stack.count() == 1 and canvas.joint_mask().all()


def test_mannequin_wheel_over_the_figure_scales_it_and_elsewhere_zooms(qtbot, canvas):
    before = canvas.pose().xy.copy()
    scale = canvas.view_scale()
    finished = []
    canvas.editFinished.connect(lambda: finished.append(1))
    a, b = canvas.joint_view_pos("left_hip"), canvas.joint_view_pos("left_knee")
    on_thigh_bone = QPoint((a.x() + b.x()) // 2 + 3, (a.y() * 3 + b.y()) // 4)  # on the bone, off any joint
    assert canvas.joint_at(QPointF(on_thigh_bone)) is None and canvas.figure_at(QPointF(on_thigh_bone))
    with qtbot.waitSignal(canvas.editFinished, timeout=5000):
        wheel(canvas, on_thigh_bone)
        wheel(canvas, on_thigh_bone)
        assert not finished  # the search waits for the wheel to stop, as for a drag's release
    after = canvas.pose().xy
    assert canvas.view_scale() == pytest.approx(scale)
    centre = mannequin.figure_centre(before)
    np.testing.assert_allclose(after - centre, (before - centre) * FIGURE_SCALE_STEP**2, atol=1e-9)
    assert canvas.undo_stack.count() == 1  # the run of wheel steps is one undo step
    canvas.undo_stack.undo()
    np.testing.assert_array_equal(canvas.pose().xy, before)

    wheel(canvas, QPoint(4, 4))  # the empty corner: zoom
    assert canvas.view_scale() == pytest.approx(scale * 1.25)
    wheel(canvas, canvas.joint_view_pos("nose"), modifier=Qt.KeyboardModifier.ControlModifier)  # Ctrl: zoom
    assert canvas.view_scale() == pytest.approx(scale * 1.25**2)
    np.testing.assert_array_equal(canvas.pose().xy, before)

    finished.clear()
    wheel(canvas, canvas.joint_view_pos("nose"))
    assert not finished
    canvas.mirror()  # another edit ends the run of wheel steps: both searched at once, two undo steps
    assert len(finished) == 2 and canvas.undo_stack.index() == 2


def test_body_type_switch_keeps_every_joint_angle(qtbot, canvas):
    canvas.apply_preset("running")
    drag(qtbot, canvas, "right_wrist", 30, -40)
    drag(qtbot, canvas, "left_knee", 20, 10, modifier=ALT)  # a foreshortened thigh stays foreshortened
    seen = [canvas.body_type()]
    canvas.bodyTypeChanged.connect(seen.append)
    for name in ("teen", "child", "chibi", "adult", "chibi"):
        before = canvas.pose().xy.copy()
        canvas.set_body_type(name)
        after = canvas.pose().xy
        diff = (mannequin.bone_angles(after) - mannequin.bone_angles(before) + 180) % 360 - 180
        assert np.abs(diff).max() < 0.5, name
        # the angle at every joint between its two bones, e.g. the elbow's, is kept too
        for a, j, b in (("left_shoulder", "left_elbow", "left_wrist"), ("right_hip", "right_knee", "right_ankle")):
            assert joint_angle(after, a, j, b) == pytest.approx(joint_angle(before, a, j, b), abs=0.5)
    assert seen == ["adult", "teen", "child", "chibi", "adult", "chibi"] and canvas.body_type() == "chibi"
    xy = canvas.pose().xy
    head = dist(xy, "left_ear", "right_ear") / dist(xy, "left_hip", "left_knee")
    canvas.set_body_type("adult")
    xy = canvas.pose().xy
    assert head > 2 * dist(xy, "left_ear", "right_ear") / dist(xy, "left_hip", "left_knee")  # chibi: big head
    canvas.undo_stack.undo()
    assert canvas.body_type() == "chibi"
    def head_to_thigh(xy):
        return dist(xy, "left_ear", "right_ear") / dist(xy, "left_hip", "left_knee")

    canvas.reset()  # presets and reset take the body type
    chibi_standing = head_to_thigh(canvas.pose().xy)
    canvas.set_body_type("adult")
    assert chibi_standing > 2 * head_to_thigh(canvas.pose().xy)
    with pytest.raises(ValueError, match="unknown body type"):
        canvas.set_body_type("giant")


def test_mannequin_turns_and_scales_without_the_mouse(canvas):
    before = canvas.pose().xy.copy()
    canvas.turn_joint("left_elbow", 90)  # the upper arm turns about the shoulder, the forearm with it
    after = canvas.pose().xy
    v0, v1 = before[I["left_elbow"]] - before[I["left_shoulder"]], after[I["left_elbow"]] - after[I["left_shoulder"]]
    assert (direction_deg(v1) - direction_deg(v0)) % 360 == pytest.approx(90, abs=1e-6)
    assert dist(after, "left_elbow", "left_wrist") == pytest.approx(dist(before, "left_elbow", "left_wrist"))
    canvas.rotate_figure(180)
    up = torso_up(canvas.pose().xy, np.ones(25, bool))
    assert up is not None and up[1] > 0.99
    canvas.scale_figure(1e6)  # clamped: the figure stays a few frames big at most
    assert np.ptp(canvas.pose().xy, axis=0).max() <= 4.0 * max(canvas.frame_size()) + 1e-6
    assert canvas.undo_stack.count() == 3
