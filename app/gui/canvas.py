"""PoseCanvas: the skeleton editor artists pose a query with (drag, switch joints off, mirror, presets, undo).

The canvas knows nothing of search: it holds a SkeletonState (pose_state.py), draws it with the items of
canvas_items.py, records every edit as a QUndoCommand (pose_commands.py) and tells the window through
signals. The scene's coordinates are pixels of the pose's frame: the guide image's pixels when one is
shown (so an estimated pose overlays it exactly), else an empty page of DEFAULT_FRAME_SIZE.

The skeleton poses like a mannequin (models/editing/mannequin.py). Rotate mode, the default: dragging a
joint turns its bone about the parent joint, keeping its length and carrying every joint below it (the
wrist turns the forearm about the elbow, a shoulder the torso about the pelvis, an eye the head about the
neck). Free mode (hold Alt while dragging, or set_free_mode / the toolbar toggle): the joint moves alone
and lengths change, for foreshortened limbs.

Mouse: drag a joint (see above); Shift-drag moves the whole figure; Ctrl-drag, or the rotation handle above
the figure, turns it about its centre; the wheel over the figure (its joints and bones) scales it, the
wheel elsewhere or Ctrl+wheel anywhere zooms; click a joint to switch it off or on; drag the background
(or middle/right drag, or Space+drag) to pan; right-click for a menu. Every drag, and every run of wheel
steps, is one undo step. Keys: Delete/Space switch the hovered joint, Ctrl+Z / Ctrl+Shift+Z undo/redo,
M mirror, R reset, F fit, Ctrl++/Ctrl+- zoom, Ctrl+V pastes an image (or an image file) as the guide.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QUndoStack,
)
from PySide6.QtWidgets import QApplication, QFrame, QGraphicsScene, QGraphicsView, QMenu

from posefinder.models.editing import presets
from posefinder.app.gui.canvas_items import (
    ACCENT,
    BACKGROUND,
    FrameItem,
    GuideImageItem,
    JointHandle,
    LimbItem,
    BusyOverlay,
    RotationHandle,
    joint_label,
)
from posefinder.app.gui.image_drop import has_image, image_from_mime, rgb_to_qimage
from posefinder.app.gui.pose_commands import BodyTypeCommand, PoseEditCommand
from posefinder.models.editing.pose_state import SkeletonState
from posefinder.models import skeleton
from posefinder.models.editing import mannequin
from posefinder.models.errors import PoseFinderError
from posefinder.models.pose import SOURCE_HAND, Pose

#: The empty canvas's frame, (width, height) in pixels: ControlNet's usual square.
DEFAULT_FRAME_SIZE = (512, 512)
#: How much of the frame a preset (or the reset pose) fills.
PRESET_FILL = 0.82
#: A joint is under the mouse within this many screen pixels of its centre.
HIT_RADIUS_PX = 12.0
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.02, 64.0)  # view scale limits (screen pixels per scene pixel)
#: How much one wheel step (120 units) over the figure scales it.
FIGURE_SCALE_STEP = 1.08
#: The figure's longest side stays within these fractions of the frame's longest side when scaled.
FIGURE_SCALE_RANGE = (0.05, 4.0)
#: Wheel steps over the figure closer together than this make one undo step (and one search at the end).
WHEEL_GESTURE_MS = 500

_N = skeleton.NUM_KEYPOINTS


#: What a drag does (_Press.mode).
TURN, FREE, MOVE_FIGURE, TURN_FIGURE = "turn", "free", "move figure", "turn figure"


@dataclass
class _Press:
    """A left press on a joint or the rotation handle, until release: a click (toggle) or, once it moves, a
    drag of `mode`."""

    joint: int | None  # None: the rotation handle
    start_px: QPointF  # viewport position of the press
    grab: QPointF  # joint position minus the scene position under the press
    before: SkeletonState
    mode: str
    centre: np.ndarray  # the figure's centre at the press (what TURN_FIGURE turns about)
    drag: int | None = None  # drag number once the press became a drag


def _with_xy(state: SkeletonState, xy: np.ndarray) -> SkeletonState:
    """The state with new positions and everything else kept (mannequin moves are rigid or keep each
    midpoint's place along its limb, so the midpoints' limb frames hold)."""
    xy = np.array(xy, dtype=np.float64)
    xy.setflags(write=False)
    return dataclasses.replace(state, xy=xy)


def _segment_distance(p: QPointF, a: QPointF, b: QPointF) -> float:
    """Distance from p to the segment a-b (viewport pixels)."""
    ax, ay, bx, by, px, py = a.x(), a.y(), b.x(), b.y(), p.x(), p.y()
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = 0.0 if l2 < 1e-12 else min(max(((px - ax) * dx + (py - ay) * dy) / l2, 0.0), 1.0)
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


class PoseCanvas(QGraphicsView):
    """The pose editor widget (objectName "poseCanvas"); see the module docstring and TEAM.md's contract."""

    #: Any change of the pose or the joint mask, also during a drag.
    poseChanged = Signal()
    #: A drag released or a discrete edit (toggle, mirror, reset, preset, undo/redo, set_pose): search now.
    editFinished = Signal()
    #: (RGB uint8 array, name) after a dropped or pasted image was decoded and shown as the guide.
    imageDropped = Signal(object, str)
    #: One line saying why a dropped or pasted thing could not be used.
    dropFailed = Signal(str)
    #: Free mode switched on (True) or off (False) by set_free_mode.
    freeModeChanged = Signal(bool)
    #: The body type's name after a switch (or its undo/redo).
    bodyTypeChanged = Signal(str)

    def __init__(self, parent=None, frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> None:
        super().__init__(parent)
        self.setObjectName("poseCanvas")
        self.setAccessibleName("Pose canvas")
        self.undo_stack = QUndoStack(self)
        self._frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._guide: np.ndarray | None = None
        self._press: _Press | None = None
        self._drag_count = 0
        self._pan_last: QPointF | None = None
        self._pan_moved = False
        self._space_held = False
        self._hover: int | None = None
        self._drop_hover = False
        self._auto_fit = True
        self._free_mode = False
        self._body_type = mannequin.DEFAULT_BODY_TYPE
        self._handle_hover = False
        self._wheel_drag: int | None = None  # drag number of the wheel steps scaling the figure now
        self._wheel_timer = QTimer(self)
        self._wheel_timer.setSingleShot(True)
        self._wheel_timer.setInterval(WHEEL_GESTURE_MS)
        self._wheel_timer.timeout.connect(self._end_wheel)

        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setScene(scene)
        self._frame_item = FrameItem()
        self._guide_item = GuideImageItem()
        self._guide_item.hide()
        scene.addItem(self._frame_item)
        scene.addItem(self._guide_item)
        self._limbs = [LimbItem(a, b) for a, b in skeleton.LIMBS]
        self._handles = [JointHandle(i) for i in range(_N)]
        self._rotate_handle = RotationHandle()
        for item in self._limbs + self._handles + [self._rotate_handle]:
            scene.addItem(item)

        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.viewport().setMouseTracking(True)
        self.setMinimumSize(200, 200)
        self._busy = BusyOverlay(self.viewport())

        self._update_frame_items()
        self._state = SkeletonState.from_xy(self._preset_xy(presets.DEFAULT_PRESET))
        self._sync_items()

    # == the contract ===========================================================================
    def pose(self) -> Pose:
        """The skeleton as a Pose in scene pixels; joints switched off are still present (see joint_mask)."""
        return Pose(keypoints=self._state.keypoints(), image_size=self._frame_size, source=SOURCE_HAND)

    def joint_mask(self) -> np.ndarray:
        """(25,) bool: the joints switched on (the ones a search uses)."""
        return self._state.on.copy()

    def set_pose(self, pose: Pose, *, undoable: bool = True, exact: bool = False) -> None:
        """Show a pose (an estimate, a result's pose, a file's): absent joints are placed plausibly and off.

        Coordinates are kept when the pose belongs to the frame (its image_size is the frame's, or unknown
        and it lies inside the frame); without a guide image the frame takes the pose's image_size; a pose
        of another image than the guide is scaled into the frame. undoable=False makes it the new start of
        the undo history (the stack is cleared). exact: the present joints stay where the pose has them,
        never scaled (a library pose being corrected, already in the guide's pixels).
        """
        xy, present = pose.xy.copy(), pose.present
        size = pose.image_size
        if self._guide is None and size is not None and tuple(size) != self._frame_size:
            self._set_frame((size[0], size[1]), refit=False)
        elif not exact and present.any() and not self._fits_frame(xy[present], size):
            xy[present] = presets.fit_into(xy[present], self._frame_size, PRESET_FILL)
        fitted = pose.copy(keypoints=np.concatenate([xy, pose.keypoints[:, 2:]], axis=1))
        template = self._preset_xy(presets.DEFAULT_PRESET)
        after = SkeletonState.from_pose(fitted, template)
        if undoable:
            self._push(after, "Set pose")
        else:
            self.undo_stack.clear()
            self._apply_state(after)

    def set_joint_mask(self, mask) -> None:
        """Switch joints on (True) and off (False) from a (25,) bool mask; undoable."""
        mask = np.asarray(mask, dtype=bool).reshape(_N)
        self._push(self._state.with_mask(mask), "Switch joints")

    def set_joint_on(self, joint: int | str, on: bool) -> None:
        """Switch one joint (index or name) on or off; undoable."""
        j = skeleton.INDEX[joint] if isinstance(joint, str) else int(joint)
        if bool(self._state.on[j]) != bool(on):
            self.toggle_joint(j)

    def toggle_joint(self, joint: int) -> None:
        """Switch a joint off if it is on, on if it is off; undoable."""
        word = "off" if self._state.on[joint] else "on"
        self._push(self._state.with_toggled(joint), f"Switch {word} {joint_label(joint).lower()}")

    def mirror(self) -> None:
        """Swap left and right in place, around the figure's centre; undoable."""
        self._push(self._state.mirrored(), "Mirror")

    def reset(self) -> None:
        """Back to the standing pose, every joint on, no midpoint pinned; undoable."""
        self._push(SkeletonState.from_xy(self._preset_xy(presets.DEFAULT_PRESET)), "Reset pose")

    def apply_preset(self, name: str) -> None:
        """Pose the skeleton as a named preset (see preset_names()), fitted into the frame; undoable."""
        self._push(SkeletonState.from_xy(self._preset_xy(name)), f"Preset: {name}")

    @staticmethod
    def preset_names() -> list[str]:
        return presets.preset_names()

    def free_mode(self) -> bool:
        """True when a drag moves one joint alone (free mode), False when it turns its bone (rotate mode)."""
        return self._free_mode

    def set_free_mode(self, free: bool) -> None:
        """Free mode on (joints move alone, lengths change) or off (rotate mode); Alt inverts it per drag."""
        free = bool(free)
        if free != self._free_mode:
            self._free_mode = free
            self.viewport().update()
            self.freeModeChanged.emit(free)

    def body_type(self) -> str:
        """The body type's name (see body_type_names())."""
        return self._body_type

    @staticmethod
    def body_type_names() -> list[str]:
        return list(mannequin.BODY_TYPES)

    def set_body_type(self, name: str) -> None:
        """Re-proportion the skeleton as body type `name` (head size, limb ratios), keeping every joint
        angle, the pelvis and the figure's height; presets and reset use it from now on. Undoable;
        ValueError naming the body types for an unknown one."""
        new = mannequin.body_type(name)
        if name == self._body_type:
            return
        after = _with_xy(self._state, mannequin.with_body_type(self._state.xy, self._body_type, new))
        self.undo_stack.push(
            BodyTypeCommand(self._apply_state, self._show_body_type, (self._state, self._body_type),
                            (after, name), f"Body type: {new.label.lower()}")
        )  # fmt: skip

    def _show_body_type(self, name: str) -> None:
        if name != self._body_type:
            self._body_type = name
            self.bodyTypeChanged.emit(name)

    def turn_joint(self, joint: int | str, degrees: float) -> None:
        """Rotate mode without the mouse: turn the bone that `joint` (index or name) ends, with everything
        below it, by `degrees` about its parent joint (clockwise on screen for positive degrees); undoable."""
        j = skeleton.INDEX[joint] if isinstance(joint, str) else int(joint)
        xy = mannequin.turn_segment(self._state.xy, mannequin.segment_of(j), math.radians(degrees))
        self._push(_with_xy(self._state, xy), f"Turn {joint_label(j).lower()}")

    def rotate_figure(self, degrees: float) -> None:
        """Turn the whole figure about its centre (clockwise on screen for positive degrees); undoable."""
        xy = mannequin.rotate_figure(self._state.xy, math.radians(degrees))
        self._push(_with_xy(self._state, xy), "Turn figure")

    def scale_figure(self, factor: float) -> None:
        """Scale the whole figure about its centre (kept within FIGURE_SCALE_RANGE of the frame); undoable."""
        self._push(_with_xy(self._state, self._scaled_xy(self._state.xy, factor)), "Scale figure")

    def rotation_handle_view_pos(self) -> QPoint:
        """Where the rotation handle's ring is in the viewport, in pixels (for tests and tools)."""
        return self._handle_view_pos().toPoint()

    def set_guide_image(self, image: np.ndarray | None) -> None:
        """Show an (H, W, 3) uint8 RGB image faint under the skeleton; the frame becomes its pixels.

        The skeleton is scaled into the new frame when the frame's size changes (undoable). None removes
        the guide and keeps the frame.
        """
        if image is None:
            self._guide = None
            self._guide_item.setPixmap(QPixmap())
            self._guide_item.hide()
            self.viewport().update()
            return
        qimage = rgb_to_qimage(image)
        self._guide = np.ascontiguousarray(image[:, :, :3] if image.ndim == 3 else image, dtype=np.uint8)
        self._guide_item.setPixmap(QPixmap.fromImage(qimage))
        self._guide_item.show()
        self._set_frame((qimage.width(), qimage.height()), refit=True)
        self.viewport().update()

    def set_guide_opacity(self, opacity: float) -> None:
        """How strongly the guide image shows through (0 hidden .. 1 opaque; default GUIDE_OPACITY)."""
        self._guide_item.setOpacity(min(max(float(opacity), 0.0), 1.0))

    def guide_image(self) -> np.ndarray | None:
        """The guide image shown (RGB array) or None."""
        return self._guide

    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the frame in pixels: the guide image's size, else the page's."""
        return self._frame_size

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Show (or hide) a busy indicator over the canvas, e.g. while the window estimates a pose."""
        self._busy.set_busy(busy, text or "Estimating the pose\u2026")
        self._update_cursor()

    def is_busy(self) -> bool:
        return self._busy.isVisible()

    def zoom_in(self) -> None:
        self._zoom(ZOOM_STEP, anchor_under_mouse=False)

    def zoom_out(self) -> None:
        self._zoom(1.0 / ZOOM_STEP, anchor_under_mouse=False)

    def fit(self) -> None:
        """Zoom and centre so the whole frame and figure are in view (and stay so when resized)."""
        self._auto_fit = True
        self._fit_view()

    # == drop and paste =========================================================================
    def drop_mime_data(self, mime, default_name: str = "clipboard") -> bool:
        """Take a drop's or the clipboard's image as the guide; imageDropped, or dropFailed and False."""
        try:
            image, name = image_from_mime(mime, default_name)
        except PoseFinderError as exc:
            self.dropFailed.emit(" ".join(str(exc).split()))
            return False
        self.set_guide_image(image)
        self.imageDropped.emit(image, name)
        return True

    def paste(self) -> bool:
        """Ctrl+V: the clipboard's image (or image file) as the guide."""
        return self.drop_mime_data(QGuiApplication.clipboard().mimeData(), "clipboard")

    def dragEnterEvent(self, event) -> None:
        if has_image(event.mimeData()):
            self._drop_hover = True
            self.viewport().update()
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if has_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:
        self._drop_hover = False
        self.viewport().update()

    def dropEvent(self, event) -> None:
        self._drop_hover = False
        self.viewport().update()
        event.acceptProposedAction()
        self.drop_mime_data(event.mimeData(), "dropped image")

    # == state and items ========================================================================
    def _push(self, after: SkeletonState, text: str, drag: int | None = None) -> None:
        if drag is None or drag != self._wheel_drag:
            self._end_wheel()  # another edit ends a run of wheel steps (its search runs now)
        if drag is None and after.same_as(self._state):
            return  # nothing changes: no undo step, no search
        self.undo_stack.push(PoseEditCommand(self._apply_state, self._state, after, text, drag))

    def _apply_state(self, state: SkeletonState) -> None:
        """Show a state (the undo commands' way in); poseChanged, and editFinished unless mid-drag (or mid
        wheel-scaling)."""
        self._state = state
        self._sync_items()
        self.poseChanged.emit()
        if (self._press is None or self._press.drag is None) and self._wheel_drag is None:
            self.editFinished.emit()

    def _sync_items(self) -> None:
        st = self._state
        points = [QPointF(float(x), float(y)) for x, y in st.xy]
        for i, handle in enumerate(self._handles):
            handle.setPos(points[i])
            handle.set_look(bool(st.on[i]), bool(st.pinned[i]))
        for limb in self._limbs:
            limb.set_ends(points[limb.a], points[limb.b], dashed=not (st.on[limb.a] and st.on[limb.b]))
        self._place_rotate_handle()

    def _place_rotate_handle(self, mouse_scene: QPointF | None = None) -> None:
        """Above the figure's box, or under the mouse while it turns the figure."""
        handle = self._rotate_handle
        if mouse_scene is not None:
            offset = handle.offset() / max(self.view_scale(), 1e-9)
            handle.setPos(mouse_scene - offset)
            handle.set_stem(False)
            return
        xy = self._state.xy
        handle.setPos(QPointF(float((xy[:, 0].min() + xy[:, 0].max()) / 2.0), float(xy[:, 1].min())))
        handle.set_stem(True)

    def _handle_view_pos(self) -> QPointF:
        return QPointF(self.mapFromScene(self._rotate_handle.pos())) + self._rotate_handle.offset()

    def _scaled_xy(self, xy: np.ndarray, factor: float, centre=None) -> np.ndarray:
        extent = float(np.ptp(xy, axis=0).max())
        frame = float(max(self._frame_size))
        lo, hi = FIGURE_SCALE_RANGE[0] * frame, FIGURE_SCALE_RANGE[1] * frame
        if extent > 1e-9:
            factor = min(max(extent * factor, min(lo, extent)), max(hi, extent)) / extent
        return mannequin.scale_figure(xy, factor, centre)

    def _preset_xy(self, name: str) -> np.ndarray:
        xy = presets.preset_keypoints(name)
        if self._body_type != mannequin.DEFAULT_BODY_TYPE:
            xy = mannequin.with_body_type(xy, mannequin.DEFAULT_BODY_TYPE, self._body_type)
        return presets.fit_into(xy, self._frame_size, PRESET_FILL)

    def _fits_frame(self, xy: np.ndarray, size) -> bool:
        if size is not None:
            return tuple(size) == self._frame_size
        w, h = self._frame_size
        return bool((xy >= 0).all() and (xy[:, 0] <= w).all() and (xy[:, 1] <= h).all())

    def _set_frame(self, size: tuple[int, int], refit: bool) -> None:
        old = self._frame_size
        size = (int(size[0]), int(size[1]))
        if size == old:
            return
        self._frame_size = size
        self._update_frame_items()
        if refit:
            scale = min(size[0] / old[0], size[1] / old[1])
            offset = np.array(size, np.float64) / 2.0 - scale * np.array(old, np.float64) / 2.0
            self._push(self._state.mapped(scale, offset), "Fit skeleton to image")
        self.fit()  # a new frame (a new image): show all of it

    def _update_frame_items(self) -> None:
        w, h = self._frame_size
        frame = QRectF(0, 0, w, h)
        self._frame_item.setRect(frame)
        margin = 3.0 * max(w, h)
        self.scene().setSceneRect(frame.adjusted(-margin, -margin, margin, margin))

    # == view: zoom, pan, fit ===================================================================
    def view_scale(self) -> float:
        """Screen pixels per scene pixel."""
        return float(self.transform().m11())

    def joint_view_pos(self, joint: int | str) -> QPoint:
        """Where a joint (index or name) is in the viewport, in pixels (for tests and tools)."""
        j = skeleton.INDEX[joint] if isinstance(joint, str) else int(joint)
        x, y = self._state.xy[j]
        return self.mapFromScene(QPointF(float(x), float(y)))

    def _content_rect(self) -> QRectF:
        w, h = self._frame_size
        rect = QRectF(0, 0, w, h)
        xy = self._state.xy
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        rect = rect.united(QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])))
        pad = 0.04 * max(rect.width(), rect.height())
        top = max(pad, 0.1 * rect.height())  # room for the rotation handle above the figure
        return rect.adjusted(-pad, -top, pad, pad)

    def _fit_view(self) -> None:
        if self.viewport().width() < 2 or self.viewport().height() < 2:
            return
        self.fitInView(self._content_rect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def _zoom(self, factor: float, anchor_under_mouse: bool) -> None:
        current = self.view_scale()
        target = min(max(current * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        if target == current:
            return
        self.setTransformationAnchor(
            QGraphicsView.ViewportAnchor.AnchorUnderMouse
            if anchor_under_mouse
            else QGraphicsView.ViewportAnchor.AnchorViewCenter
        )
        self.scale(target / current, target / current)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._auto_fit = False
        self._after_zoom()

    def _after_zoom(self) -> None:
        pad = 8.0 / max(self.view_scale(), 1e-6)  # limb strokes are cosmetic: ~4 px either side on screen
        for limb in self._limbs:
            limb.set_pad(pad)

    def _pan_by(self, delta: QPointF) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - round(delta.x()))
        v.setValue(v.value() - round(delta.y()))
        self._auto_fit = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._busy.isVisible():
            self._busy.setGeometry(self.viewport().rect())
        if self._auto_fit:
            self._fit_view()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._auto_fit:
            self._fit_view()

    def wheelEvent(self, event) -> None:
        """Over the figure the wheel scales it (the way a 3D posing tool's wheel scales the selected model);
        elsewhere, and with Ctrl anywhere, it zooms the view."""
        steps = event.angleDelta().y() / 120.0
        if steps:
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if not ctrl and self._press is None and self.figure_at(event.position()):
                self._wheel_scale(FIGURE_SCALE_STEP**steps)
            else:
                self._zoom(ZOOM_STEP**steps, anchor_under_mouse=True)
        event.accept()

    def _wheel_scale(self, factor: float) -> None:
        """One wheel step scaling the figure: steps in quick succession merge into one undo step, and the
        search runs when they stop (as at the end of a drag)."""
        if self._wheel_drag is None:
            self._drag_count += 1
            self._wheel_drag = self._drag_count
        self._wheel_timer.start()
        after = _with_xy(self._state, self._scaled_xy(self._state.xy, factor))
        self._push(after, "Scale figure", drag=self._wheel_drag)

    def _end_wheel(self) -> None:
        if self._wheel_drag is not None:
            self._wheel_drag = None
            self._wheel_timer.stop()
            self.editFinished.emit()

    # == mouse ==================================================================================
    def joint_at(self, pos_px: QPointF) -> int | None:
        """The joint whose handle is under a viewport position (the nearest within HIT_RADIUS_PX)."""
        best, best_d = None, HIT_RADIUS_PX
        for i, (x, y) in enumerate(self._state.xy):
            p = self.mapFromScene(QPointF(float(x), float(y)))
            d = QLineF(QPointF(p), pos_px).length()
            if d <= best_d:
                best, best_d = i, d
        return best

    def figure_at(self, pos_px: QPointF) -> bool:
        """Whether a viewport position is over the figure: on a joint or within HIT_RADIUS_PX of a bone."""
        if self.joint_at(pos_px) is not None:
            return True
        points = [QPointF(self.mapFromScene(QPointF(float(x), float(y)))) for x, y in self._state.xy]
        p = QPointF(pos_px)
        return any(_segment_distance(p, points[a], points[b]) <= HIT_RADIUS_PX for a, b in skeleton.LIMBS)

    def _on_rotate_handle(self, pos_px: QPointF) -> bool:
        return QLineF(self._handle_view_pos(), QPointF(pos_px)).length() <= HIT_RADIUS_PX

    def _scene_at(self, pos_px: QPointF) -> QPointF:
        return self.mapToScene(pos_px.toPoint())

    def _drag_mode(self, modifiers) -> str:
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            return MOVE_FIGURE
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            return TURN_FIGURE
        alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
        return FREE if self._free_mode != alt else TURN

    def _dragged(self, press: _Press, pos: QPointF) -> tuple[SkeletonState, str]:
        """The state a drag to viewport position pos makes, and its undo text."""
        before = press.before
        if press.mode == TURN_FIGURE or press.joint is None:  # (the rotation handle has no joint)
            start = self._scene_at(press.start_px)
            now = self._scene_at(pos)
            c = press.centre
            angle = mannequin.angle_between((start.x() - c[0], start.y() - c[1]), (now.x() - c[0], now.y() - c[1]))
            return _with_xy(before, mannequin.rotate_figure(before.xy, angle, c)), "Turn figure"
        target = self._scene_at(pos) + press.grab
        xy = np.array([target.x(), target.y()])
        label = joint_label(press.joint).lower()
        if press.mode == MOVE_FIGURE:
            return before.translated(xy - before.xy[press.joint]), "Move figure"
        if press.mode == FREE:
            return self._state.with_joint_moved(press.joint, xy), f"Move {label}"
        return _with_xy(before, mannequin.turn_towards(before.xy, press.joint, xy)), f"Turn {label}"

    def mousePressEvent(self, event) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        pos = event.position()
        button = event.button()
        left = button == Qt.MouseButton.LeftButton and not self._space_held
        joint = self.joint_at(pos) if left else None
        on_handle = left and joint is None and self._on_rotate_handle(pos)
        if joint is not None or on_handle:
            self._end_wheel()
            grab = QPointF(0.0, 0.0)
            if joint is not None:
                jx, jy = self._state.xy[joint]
                grab = QPointF(float(jx), float(jy)) - self._scene_at(pos)
            self._press = _Press(
                joint=joint,
                start_px=QPointF(pos),
                grab=grab,
                before=self._state,
                mode=TURN_FIGURE if on_handle else self._drag_mode(event.modifiers()),
                centre=mannequin.figure_centre(self._state.xy),
            )
            event.accept()
            return
        if button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_last = QPointF(pos)
            self._pan_moved = False
            self._update_cursor()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._pan_last is not None:
            delta = pos - self._pan_last
            if self._pan_moved or delta.manhattanLength() >= QApplication.startDragDistance():
                self._pan_moved = True
                self._pan_by(delta)
                self._pan_last = QPointF(pos)
            event.accept()
            return
        press = self._press
        if press is not None:
            if press.drag is None:
                if (pos - press.start_px).manhattanLength() < QApplication.startDragDistance():
                    event.accept()
                    return
                self._drag_count += 1
                press.drag = self._drag_count
                self._update_cursor()
            after, text = self._dragged(press, pos)
            self._push(after, text, drag=press.drag)
            if press.joint is None:
                self._place_rotate_handle(self._scene_at(pos))
            event.accept()
            return
        joint = self.joint_at(pos)
        self._set_hover(joint)
        self._set_handle_hover(joint is None and self._on_rotate_handle(pos))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        pos = event.position()
        if self._pan_last is not None:
            was_click = not self._pan_moved
            self._pan_last = None
            self._update_cursor()
            if was_click and event.button() == Qt.MouseButton.RightButton:
                self._context_menu(event.globalPosition().toPoint(), self.joint_at(pos))
            event.accept()
            return
        press = self._press
        if press is not None and event.button() == Qt.MouseButton.LeftButton:
            self._press = None
            if press.joint is None:
                self._place_rotate_handle()
            if press.drag is None:
                if press.joint is not None:
                    self.toggle_joint(press.joint)
            else:
                self.editFinished.emit()  # the drag's moves only said poseChanged
            self._set_hover(self.joint_at(pos))
            self._update_cursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        self.mousePressEvent(event)  # a double click is two clicks: it switches a joint twice

    def leaveEvent(self, event) -> None:
        if self._press is None:
            self._set_hover(None)
            self._set_handle_hover(False)
        super().leaveEvent(event)

    def _set_handle_hover(self, on_handle: bool) -> None:
        if on_handle != self._handle_hover:
            self._handle_hover = on_handle
            self._rotate_handle.set_hovered(on_handle)
            self._update_cursor()

    def _set_hover(self, joint: int | None) -> None:
        if joint == self._hover:
            return
        if self._hover is not None:
            self._handles[self._hover].set_hovered(False)
        self._hover = joint
        if joint is not None:
            self._handles[joint].set_hovered(True)
        self._update_cursor()
        self.viewport().update()

    def _update_cursor(self) -> None:
        dragging = self._pan_last is not None or (self._press is not None and self._press.drag is not None)
        if dragging:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._space_held:
            shape = Qt.CursorShape.OpenHandCursor
        elif self._hover is not None or self._handle_hover:
            shape = Qt.CursorShape.PointingHandCursor
        elif self._busy.isVisible():
            shape = Qt.CursorShape.BusyCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    def hovered_joint(self) -> int | None:
        return self._hover

    def _cancel_press(self) -> None:
        self._end_wheel()
        if self._press is not None:
            dragged = self._press.drag is not None
            self._press = None
            self._place_rotate_handle()
            if dragged:
                self.editFinished.emit()

    # == keys ===================================================================================
    def _key_action(self, event):
        """The canvas's action for a key event, or None (then the event goes on to the window)."""
        key, mods = event.key(), event.modifiers()
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        ctrl = Qt.KeyboardModifier.ControlModifier
        shift = Qt.KeyboardModifier.ShiftModifier
        if event.matches(QKeySequence.StandardKey.Undo):
            return self._undo
        if event.matches(QKeySequence.StandardKey.Redo) or (
            key == Qt.Key.Key_Z and mods & ctrl and mods & shift
        ):
            return self._redo
        if event.matches(QKeySequence.StandardKey.Paste):
            return self.paste
        if event.matches(QKeySequence.StandardKey.ZoomIn) or (mods & ctrl and key in (Qt.Key.Key_Equal, Qt.Key.Key_Plus)):
            return self.zoom_in
        if event.matches(QKeySequence.StandardKey.ZoomOut) or (mods & ctrl and key == Qt.Key.Key_Minus):
            return self.zoom_out
        if mods & ctrl and key == Qt.Key.Key_0:
            return self.fit
        if not plain:
            return None
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self._hover is not None:
            return self._toggle_hovered
        if key == Qt.Key.Key_Space:
            return self._space_down
        return {
            Qt.Key.Key_M: self.mirror,
            Qt.Key.Key_R: self.reset,
            Qt.Key.Key_F: self.fit,
            Qt.Key.Key_Plus: self.zoom_in,
            Qt.Key.Key_Minus: self.zoom_out,
        }.get(key)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._key_action(event) is not None:
            event.accept()  # the canvas's keys win over the window's shortcuts while it has focus
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        action = self._key_action(event)
        if action is None:
            super().keyPressEvent(event)
            return
        if event.isAutoRepeat() and action in (self._toggle_hovered, self._space_down, self.mirror, self.reset):
            event.accept()
            return
        action()
        event.accept()

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def _space_down(self) -> None:
        if self._hover is not None and self._press is None:
            self._toggle_hovered()
        else:
            self._space_held = True
            self._update_cursor()

    def _toggle_hovered(self) -> None:
        if self._hover is not None:
            self.toggle_joint(self._hover)

    def _undo(self) -> None:
        self._cancel_press()
        self.undo_stack.undo()

    def _redo(self) -> None:
        self._cancel_press()
        self.undo_stack.redo()

    # == menu ===================================================================================
    def _context_menu(self, global_pos: QPoint, joint: int | None) -> None:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        if joint is not None:
            word = "off" if self._state.on[joint] else "on"
            menu.addAction(f"Switch {word} {joint_label(joint).lower()}", lambda: self.toggle_joint(joint))
            menu.addSeparator()
        undo = menu.addAction("Undo", self._undo)
        undo.setEnabled(self.undo_stack.canUndo())
        redo = menu.addAction("Redo", self._redo)
        redo.setEnabled(self.undo_stack.canRedo())
        menu.addSeparator()
        menu.addAction("Mirror\tM", self.mirror)
        menu.addAction("Reset to standing\tR", self.reset)
        preset_menu = menu.addMenu("Presets")
        for name in self.preset_names():
            preset_menu.addAction(name, lambda n=name: self.apply_preset(n))
        body_menu = menu.addMenu("Body type")
        for name, body in mannequin.BODY_TYPES.items():
            a = body_menu.addAction(body.label, lambda n=name: self.set_body_type(n))
            a.setCheckable(True)
            a.setChecked(name == self._body_type)
        free = menu.addAction("Free joints (Alt while dragging)", lambda: self.set_free_mode(not self._free_mode))
        free.setCheckable(True)
        free.setChecked(self._free_mode)
        menu.addSeparator()
        menu.addAction("Paste image as guide\tCtrl+V", self.paste)
        clear = menu.addAction("Remove guide image", lambda: self.set_guide_image(None))
        clear.setEnabled(self._guide is not None)
        menu.addAction("Fit to view\tF", self.fit)
        menu.popup(global_pos)

    # == painting over the scene ================================================================
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        vp = self.viewport().rect()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 9.5))
        painter.setFont(font)
        if self._hover is not None:
            on = self._state.on[self._hover]
            label = joint_label(self._hover) + ("" if on else "  (off)")
            painter.setPen(QColor(235, 236, 240) if on else QColor(150, 152, 160))
            painter.drawText(QRectF(vp).adjusted(12, 8, -12, -8), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), label)
        if self._free_mode:
            painter.setPen(QColor(255, 196, 90))
            painter.drawText(
                QRectF(vp).adjusted(12, 8, -12, -8), int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop),
                "Free joints: lengths change",
            )
        if self._guide is None and not self._busy.isVisible():
            painter.setPen(QColor(150, 152, 160, 170))
            painter.drawText(
                QRectF(vp).adjusted(12, 8, -12, -10),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom),
                "Drop or paste (Ctrl+V) an image to trace over it",
            )
        if self._drop_hover:
            pen = QPen(ACCENT, 3.0)
            pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor(ACCENT.red(), ACCENT.green(), ACCENT.blue(), 28))
            painter.drawRoundedRect(QRectF(vp).adjusted(6, 6, -6, -6), 10, 10)
        painter.restore()

