"""What the pose canvas draws: the frame, the guide image, limbs, joint handles and the busy indicator.

Items only paint and hold their look (on/off, hovered, pinned); the canvas owns the pose and moves them.
Handles and limb strokes keep their size on screen at any zoom (handles ignore the view's transform,
limb pens are cosmetic). Colours come from models/drawing.py, so thumbnails and canvas agree.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsRectItem, QWidget

from posefinder.models import skeleton
from posefinder.models.drawing import SIDE_COLORS, limb_color

#: The canvas palette (dark theme).
BACKGROUND = QColor(28, 29, 33)
FRAME_FILL = QColor(40, 42, 48)
FRAME_EDGE = QColor(70, 73, 82)
OFF_GREY = QColor(165, 168, 178)
OUTLINE = QColor(12, 12, 14, 200)
HOVER_RING = QColor(255, 255, 255)
ACCENT = QColor(110, 180, 255)

#: On-screen sizes in pixels (the same at every zoom).
JOINT_RADIUS_PX = 6.0
MIDPOINT_RADIUS_PX = 4.5
HOVER_GROW_PX = 2.5
LIMB_WIDTH_PX = 3.5
LIMB_OUTLINE_PX = 6.5
DASH_PX, GAP_PX = 5.0, 5.5  # the dashes of limbs touching a joint that is off

#: Opacity of the guide image over the frame.
GUIDE_OPACITY = 0.5

Z_FRAME, Z_GUIDE, Z_LIMB, Z_JOINT = -20.0, -10.0, 0.0, 10.0

#: The rotation handle: its radius and how far above the figure's box it sits, in screen pixels.
ROTATE_RADIUS_PX = 8.0
ROTATE_OFFSET_PX = 36.0


def _qcolor(rgb: tuple[int, int, int], alpha: int = 255) -> QColor:
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha)


def joint_label(index: int) -> str:
    """'Left elbow' for the keypoint index of left_elbow."""
    return skeleton.KEYPOINT_NAMES[index].replace("_", " ").capitalize()


class FrameItem(QGraphicsRectItem):
    """The pose's frame (the guide image's pixels, or the empty canvas's page)."""

    def __init__(self) -> None:
        super().__init__()
        self.setBrush(QBrush(FRAME_FILL))
        pen = QPen(FRAME_EDGE, 1.0)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(Z_FRAME)


class GuideImageItem(QGraphicsPixmapItem):
    """The dropped image, faint under the skeleton, at the scene's origin in its own pixel space."""

    def __init__(self) -> None:
        super().__init__()
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setOpacity(GUIDE_OPACITY)
        self.setZValue(Z_GUIDE)
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)


class LimbItem(QGraphicsItem):
    """One limb segment between two keypoints: a stroke in its side's colour, dashed when either end is off."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.a, self.b = a, b
        self._line = QLineF()
        self._dashed = False
        self._pad = 8.0  # scene units around the line, kept >= the stroke's half width by the canvas
        self._color = _qcolor(limb_color(a, b))
        self.setZValue(Z_LIMB)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    @property
    def dashed(self) -> bool:
        return self._dashed

    def set_ends(self, p1: QPointF, p2: QPointF, dashed: bool) -> None:
        if QLineF(p1, p2) != self._line:
            self.prepareGeometryChange()
            self._line = QLineF(p1, p2)
        if dashed != self._dashed:
            self._dashed = dashed
            self.update()

    def set_pad(self, pad: float) -> None:
        if pad != self._pad:
            self.prepareGeometryChange()
            self._pad = pad

    def boundingRect(self) -> QRectF:
        p = self._pad
        return QRectF(self._line.p1(), self._line.p2()).normalized().adjusted(-p, -p, p, p)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        outline = QPen(QColor(10, 10, 12, 110 if self._dashed else 170), LIMB_OUTLINE_PX)
        outline.setCosmetic(True)
        outline.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self._dashed:
            color = QColor(self._color)
            color.setAlpha(150)
            width = LIMB_WIDTH_PX * 0.7
            pen = QPen(color, width, Qt.PenStyle.CustomDashLine)
            pen.setDashPattern([DASH_PX / width, GAP_PX / width])  # dash patterns count in pen widths
            outline.setWidthF(width + 2.5)
            outline.setStyle(Qt.PenStyle.CustomDashLine)
            outline.setDashPattern([DASH_PX / (width + 2.5), GAP_PX / (width + 2.5)])
        else:
            pen = QPen(self._color, LIMB_WIDTH_PX)
        pen.setCosmetic(True)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(outline)
        painter.drawLine(self._line)
        painter.setPen(pen)
        painter.drawLine(self._line)


class JointHandle(QGraphicsItem):
    """A joint's handle: a dot (a diamond for limb midpoints) in its side's colour; hollow grey when off,
    ringed when hovered, with a centre dot when it is a midpoint moved by hand (pinned)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.is_midpoint = index in skeleton.MIDPOINT_ENDPOINTS
        self._color = _qcolor(SIDE_COLORS[skeleton.side(skeleton.KEYPOINT_NAMES[index])])
        self._on = True
        self._hovered = False
        self._pinned = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_JOINT + (0 if self.is_midpoint else 1))
        self._update_tooltip()

    # -- look ----------------------------------------------------------------------------------
    @property
    def is_on(self) -> bool:
        return self._on

    @property
    def hovered(self) -> bool:
        return self._hovered

    def set_look(self, on: bool, pinned: bool) -> None:
        if (on, pinned) != (self._on, self._pinned):
            self._on, self._pinned = on, pinned
            self._update_tooltip()
            self.update()

    def set_hovered(self, hovered: bool) -> None:
        if hovered != self._hovered:
            self._hovered = hovered
            self.setZValue(Z_JOINT + (5 if hovered else (0 if self.is_midpoint else 1)))
            self.update()

    def _update_tooltip(self) -> None:
        state = "on" if self._on else "off (left out of the search)"
        action = "off" if self._on else "on"
        extra = "\nmoved by hand: stays put until reset" if self._pinned else ""
        self.setToolTip(
            f"{joint_label(self.index)}: {state}\nclick to switch {action}, drag to turn its limb "
            f"(Alt-drag: move it alone){extra}"
        )

    # -- painting ------------------------------------------------------------------------------
    def radius(self) -> float:
        r = MIDPOINT_RADIUS_PX if self.is_midpoint else JOINT_RADIUS_PX
        return r + (HOVER_GROW_PX if self._hovered else 0.0)

    def boundingRect(self) -> QRectF:
        r = (MIDPOINT_RADIUS_PX if self.is_midpoint else JOINT_RADIUS_PX) * 1.45 + HOVER_GROW_PX + 4.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        r = self.radius() + 3.0
        path.addEllipse(QPointF(0, 0), r, r)
        return path

    def _outline_path(self, r: float) -> QPainterPath:
        path = QPainterPath()
        if self.is_midpoint:
            r *= 1.3
            path.addPolygon(QPolygonF([QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0), QPointF(0, -r)]))
        else:
            path.addEllipse(QPointF(0, 0), r, r)
        return path

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = self.radius()
        path = self._outline_path(r)
        if self._hovered:
            painter.setPen(QPen(HOVER_RING, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self._outline_path(r + 3.0))
        if self._on:
            painter.setPen(QPen(OUTLINE, 1.6))
            painter.setBrush(QBrush(self._color))
            painter.drawPath(path)
        else:  # hollow: a grey ring, edged dark so it reads on light and dark images alike
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(OUTLINE, 4.0))
            painter.drawPath(path)
            painter.setPen(QPen(OFF_GREY, 2.0))
            painter.drawPath(path)
        if self._pinned:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(OUTLINE if self._on else OFF_GREY))
            painter.drawEllipse(QPointF(0, 0), 1.6, 1.6)


class RotationHandle(QGraphicsItem):
    """The handle that turns the whole figure: a ring with a curved arrow, ROTATE_OFFSET_PX above the
    scene point it is placed at (the top centre of the figure's box), joined to it by a thin stem."""

    def __init__(self) -> None:
        super().__init__()
        self._hovered = False
        self._stem = True
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_JOINT + 6)
        self.setToolTip("Drag to turn the whole figure about its centre (or Ctrl-drag any joint)")

    @staticmethod
    def offset() -> QPointF:
        """Where the ring's centre is relative to the item's position, in screen pixels."""
        return QPointF(0.0, -ROTATE_OFFSET_PX)

    def set_hovered(self, hovered: bool) -> None:
        if hovered != self._hovered:
            self._hovered = hovered
            self.update()

    def set_stem(self, stem: bool) -> None:
        """Draw the stem to the figure (not while the handle follows the mouse through a turn)."""
        if stem != self._stem:
            self._stem = stem
            self.update()

    def boundingRect(self) -> QRectF:
        r = ROTATE_RADIUS_PX + 6.0
        return QRectF(-r, -ROTATE_OFFSET_PX - r, 2 * r, ROTATE_OFFSET_PX + 2 * r)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        c = self.offset()
        r = ROTATE_RADIUS_PX + (2.0 if self._hovered else 0.0)
        if self._stem:
            stem = QPen(QColor(ACCENT.red(), ACCENT.green(), ACCENT.blue(), 140), 1.4, Qt.PenStyle.DashLine)
            painter.setPen(stem)
            painter.drawLine(QPointF(0.0, 0.0), QPointF(c.x(), c.y() + r))
        painter.setPen(QPen(OUTLINE, 1.6))
        painter.setBrush(QBrush(QColor(28, 29, 33, 220)))
        painter.drawEllipse(c, r, r)
        arrow = QPen(HOVER_RING if self._hovered else ACCENT, 2.0)
        arrow.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(arrow)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        inner = QRectF(c.x() - r * 0.55, c.y() - r * 0.55, r * 1.1, r * 1.1)
        painter.drawArc(inner, 30 * 16, 280 * 16)
        tip = QPointF(c.x() + r * 0.55 * 0.866, c.y() - r * 0.55 * 0.5)  # the arc's end at 30 degrees
        painter.drawLine(tip, tip + QPointF(-3.2, -1.2))
        painter.drawLine(tip, tip + QPointF(0.6, -3.4))


class BusyOverlay(QWidget):
    """A spinner with a line of text at the top of the canvas while the window estimates a pose."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("canvasBusy")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self._text = ""
        self._angle = 0
        self._timer = QTimer(self)
        self._timer.setInterval(40)
        self._timer.timeout.connect(self._spin)
        self.hide()

    def text(self) -> str:
        return self._text

    def set_busy(self, busy: bool, text: str) -> None:
        self._text = text
        if busy:
            if (parent := self.parentWidget()) is not None:
                self.setGeometry(parent.rect())
            self.show()
            self.raise_()
            self._timer.start()
        else:
            self._timer.stop()
            self.hide()
        self.update()

    def _spin(self) -> None:
        self._angle = (self._angle + 12) % 360
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 10.0))
        painter.setFont(font)
        text_w = painter.fontMetrics().horizontalAdvance(self._text)
        pill = QRectF(0, 0, text_w + 58, 36)
        pill.moveCenter(QPointF(self.width() / 2.0, 32.0))
        painter.setPen(QPen(QColor(255, 255, 255, 40), 1.0))
        painter.setBrush(QColor(18, 19, 22, 225))
        painter.drawRoundedRect(pill, 18, 18)
        spin = QRectF(pill.left() + 14, pill.center().y() - 8, 16, 16)
        painter.setPen(QPen(QColor(255, 255, 255, 50), 2.5))
        painter.drawEllipse(spin)
        arc = QPen(ACCENT, 2.5)
        arc.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(arc)
        painter.drawArc(spin, int(-self._angle * 16), int(100 * 16))
        painter.setPen(QColor(235, 236, 240))
        painter.drawText(
            QRectF(spin.right() + 10, pill.top(), text_w + 10, pill.height()),
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
            self._text,
        )
        painter.end()

