"""Small 3D geometry helpers of the figure generator: rotation matrices and vector utilities."""

from __future__ import annotations

import math

import numpy as np


def rot_x(deg: float) -> np.ndarray:
    """Rotation about the x axis; positive turns +y towards +z."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    """Rotation about the y axis; positive turns +z towards +x."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    """Rotation about the z axis; positive turns +x towards +y."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def axis_angle(axis: np.ndarray, deg: float) -> np.ndarray:
    """Rotation by `deg` about `axis` (Rodrigues); identity for a zero axis."""
    axis = np.asarray(axis, dtype=np.float64)
    n = math.sqrt(float(axis @ axis))
    if n < 1e-12:
        return np.eye(3)
    x, y, z = axis / n
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    C = 1.0 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def cross(a, b) -> np.ndarray:
    """The cross product of two 3-vectors (np.cross is slow on single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = math.sqrt(float(v @ v))
    return v / n if n > 1e-12 else v


def frame_from_axis(axis: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """An orthonormal 3x3 frame whose columns are (hint made perpendicular, axis x that, axis)."""
    a = unit(axis)
    h = np.asarray(hint, dtype=np.float64) - np.dot(hint, a) * a
    if h @ h < 1e-18:
        h = cross(a, [1.0, 0.0, 0.0])
        if h @ h < 1e-18:
            h = cross(a, [0.0, 1.0, 0.0])
    h = unit(h)
    return np.column_stack([h, cross(a, h), a])
