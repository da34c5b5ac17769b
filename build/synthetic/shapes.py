"""Screen-space shapes of a figure's parts and their drawing with OpenCV (anti-aliased, sub-pixel).

A capsule projects to the convex hull of its two end circles, an ellipsoid to an ellipse (its shape matrix's
top-left block), a hull to the convex hull of its projected points. Each Shape keeps its 3D screen-space
form too (ends and radii, or centre and semi-axes) for the keypoint visibility test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from posefinder.build.synthetic.body import Part, required
from posefinder.build.synthetic.camera import Projector

_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass
class Shape:
    part: Part
    kind: str  # "ellipse", "capsule" or "poly"
    depth: float  # camera z of the part's anchor (sorting)
    center: np.ndarray | None = None  # ellipse / ellipsoid centre (x, y, z)
    axes3: np.ndarray | None = None  # ellipsoid: 3x3 semi-axes in screen space (columns)
    a: np.ndarray | None = None  # capsule ends (x, y, z) and radii
    b: np.ndarray | None = None
    ra: float = 0.0
    rb: float = 0.0
    pts: np.ndarray | None = None  # poly: (N, 2)
    _outline: np.ndarray | None = None  # the capsule's polygon, made once

    # -- geometry --------------------------------------------------------------------------------------
    def ellipse_matrix(self) -> np.ndarray:
        A = required(self.axes3, "axes3")[:2]
        return A @ A.T

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the shape."""
        if self.kind == "ellipse":
            M = self.ellipse_matrix()
            ex, ey = math.sqrt(max(M[0, 0], 0.0)), math.sqrt(max(M[1, 1], 0.0))
            c = required(self.center, "center")
            return c[0] - ex, c[1] - ey, c[0] + ex, c[1] + ey
        if self.kind == "capsule":
            a, b, ra, rb = required(self.a, "a"), required(self.b, "b"), self.ra, self.rb
            x0, y0 = min(a[0] - ra, b[0] - rb), min(a[1] - ra, b[1] - rb)
            return x0, y0, max(a[0] + ra, b[0] + rb), max(a[1] + ra, b[1] + rb)
        pts = required(self.pts, "pts")
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return lo[0], lo[1], hi[0], hi[1]

    def transformed(self, scale: float, offset: np.ndarray) -> "Shape":
        """The shape scaled by `scale` about the origin, then moved by the 2D `offset` (depth scaled too)."""
        o3 = np.array([offset[0], offset[1], 0.0])
        out = Shape(self.part, self.kind, self.depth * scale)
        if self.center is not None:
            out.center = self.center * scale + o3
            out.axes3 = required(self.axes3, "axes3") * scale
        if self.a is not None:
            out.a, out.b = self.a * scale + o3, required(self.b, "b") * scale + o3
            out.ra, out.rb = self.ra * scale, self.rb * scale
        if self.pts is not None:
            out.pts = self.pts * scale + np.asarray(offset)[None, :]
        return out

    def polygon(self) -> np.ndarray:
        """(N, 2) outline points of a capsule or poly."""
        if self.kind == "poly":
            return required(self.pts, "pts")
        if self._outline is None:
            self._outline = capsule_polygon(required(self.a, "a")[:2], self.ra, required(self.b, "b")[:2], self.rb)
        return self._outline

    def inner(self, light: np.ndarray, factor: float) -> "Shape":
        """A smaller copy moved towards the light (its part of the shape is the lit side, the rest shadow)."""
        light = np.asarray(light, dtype=np.float64)
        out = Shape(self.part, self.kind, self.depth)
        if self.kind == "ellipse":
            M = self.ellipse_matrix()
            ext = math.sqrt(max(float(light @ M @ light), 0.0))
            out.center = required(self.center, "center") + np.append(light * (1 - factor) * ext, 0.0)
            out.axes3 = required(self.axes3, "axes3") * factor
        elif self.kind == "capsule":
            out.a = required(self.a, "a") + np.append(light * (1 - factor) * self.ra, 0.0)
            out.b = required(self.b, "b") + np.append(light * (1 - factor) * self.rb, 0.0)
            out.ra, out.rb = self.ra * factor, self.rb * factor
        else:
            pts = required(self.pts, "pts")
            c = pts.mean(axis=0)
            ext = float(np.max((pts - c) @ light))
            out.pts = c + (pts - c) * factor + light * (1 - factor) * ext
        return out


_CIRCLES: dict[int, np.ndarray] = {}


def _circle(n: int) -> np.ndarray:
    c = _CIRCLES.get(n)
    if c is None:
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        c = _CIRCLES[n] = np.stack([np.cos(t), np.sin(t)], axis=1)
    return c


def capsule_polygon(c1: np.ndarray, r1: float, c2: np.ndarray, r2: float) -> np.ndarray:
    """(N, 2) points of the convex hull of two circles."""
    circ = _circle(int(min(max(max(r1, r2) * 0.8 + 10, 12), 40)) // 4 * 4)
    pts = np.concatenate([c1 + r1 * circ, c2 + r2 * circ]).astype(np.float32)
    return cv2.convexHull(pts)[:, 0, :].astype(np.float64)


def project_part(part: Part, proj: Projector) -> Shape:
    """The screen-space shape of a body part."""
    if part.kind == "capsule":
        pts, k = proj.screen(np.stack([required(part.a, "a"), required(part.b, "b")]))
        depth = float((pts[0, 2] + pts[1, 2]) / 2)
        return Shape(part, "capsule", depth, a=pts[0], b=pts[1], ra=part.ra * k[0], rb=part.rb * k[1])
    if part.kind == "ellipsoid":
        c, k = proj.screen(required(part.center, "center")[None, :])
        axes = proj.R @ part.axes * k[0]
        return Shape(part, "ellipse", float(c[0, 2]), center=c[0], axes3=axes)
    pts, _ = proj.screen(required(part.points, "points"))
    hull2 = cv2.convexHull(pts[:, :2].astype(np.float32))[:, 0, :].astype(np.float64)
    return Shape(part, "poly", float(pts[:, 2].mean()), pts=hull2)


# -- drawing ---------------------------------------------------------------------------------------------
def _fixed(v) -> tuple[int, int]:
    return int(round(v[0] * _ONE)), int(round(v[1] * _ONE))


def _ellipse_args(shape: Shape):
    """cv2.ellipse's centre, axes (fixed point) and angle of an ellipse shape (closed-form 2x2 eigen)."""
    (a, b), (_, c) = shape.ellipse_matrix()
    mean, diff = (a + c) / 2, math.hypot((a - c) / 2, b)
    big, small = math.sqrt(max(mean + diff, 1e-12)), math.sqrt(max(mean - diff, 1e-12))
    angle = 0.5 * math.degrees(math.atan2(2 * b, a - c))  # direction of the larger axis
    axes = (max(1, int(round(big * _ONE))), max(1, int(round(small * _ONE))))
    return _fixed(shape.center), axes, angle


def fill(canvas: np.ndarray, shape: Shape, color) -> None:
    """Fill a shape onto an (H, W, C) uint8 canvas, anti-aliased."""
    if shape.kind == "ellipse":
        c, axes, angle = _ellipse_args(shape)
        cv2.ellipse(canvas, c, axes, angle, 0, 360, color, -1, cv2.LINE_AA, _SHIFT)
    else:
        cv2.fillConvexPoly(canvas, _fixed_points(shape), color, cv2.LINE_AA, _SHIFT)


def stroke(canvas: np.ndarray, shape: Shape, color, width_px: int) -> None:
    """Draw a shape's outline (width_px wide, centred on the edge), anti-aliased."""
    if width_px <= 0:
        return
    if shape.kind == "ellipse":
        c, axes, angle = _ellipse_args(shape)
        cv2.ellipse(canvas, c, axes, angle, 0, 360, color, int(width_px), cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(canvas, [_fixed_points(shape)], True, color, int(width_px), cv2.LINE_AA, _SHIFT)


def _fixed_points(shape: Shape) -> np.ndarray:
    return np.round(shape.polygon() * _ONE).astype(np.int32)
