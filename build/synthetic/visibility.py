"""Which keypoints the body hides: a keypoint is occluded (v=1) when, along its pixel's line of sight, the
front surface of some solid part lies more than the body's own radius there (plus a tolerance) in front of it.

Solid parts are capsules (front surface: the sphere swept along the axis, at the axis point nearest the
pixel) and ellipsoids (the ray's first intersection), in screen space (x, y in pixels, z depth, smaller is
nearer).
"""

from __future__ import annotations

import numpy as np

from posefinder.build.synthetic.shapes import Shape


def front_depths(shapes: list[Shape], xy: np.ndarray) -> np.ndarray:
    """(N,) depth of the nearest solid surface at each of the (N, 2) pixels (inf where none covers it)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    best = np.full(len(xy), np.inf)
    caps = [s for s in shapes if s.kind == "capsule"]
    ells = [s for s in shapes if s.kind == "ellipse"]
    if caps:
        A = np.stack([s.a for s in caps])  # (m, 3)
        B = np.stack([s.b for s in caps])
        RA = np.array([s.ra for s in caps])
        RB = np.array([s.rb for s in caps])
        d = B[:, :2] - A[:, :2]  # (m, 2)
        L2 = np.maximum((d**2).sum(axis=1), 1e-12)
        rel = xy[:, None, :] - A[None, :, :2]  # (n, m, 2)
        t = np.clip((rel * d[None]).sum(axis=2) / L2[None], 0.0, 1.0)  # (n, m)
        q = A[None] + t[..., None] * (B - A)[None]  # (n, m, 3)
        r = RA[None] + t * (RB - RA)[None]
        dist2 = ((xy[:, None, :] - q[..., :2]) ** 2).sum(axis=2)
        inside = dist2 <= r**2
        z = np.where(inside, q[..., 2] - np.sqrt(np.maximum(r**2 - dist2, 0.0)), np.inf)
        best = np.minimum(best, z.min(axis=1))
    if ells:
        C = np.stack([s.center for s in ells])  # (m, 3)
        Q = np.stack([np.linalg.inv(s.axes3 @ s.axes3.T) for s in ells])  # (m, 3, 3)
        p = xy[:, None, :] - C[None, :, :2]  # (n, m, 2)
        a = Q[None, :, 2, 2]
        b = 2 * (Q[None, :, 0, 2] * p[..., 0] + Q[None, :, 1, 2] * p[..., 1])
        c = Q[None, :, 0, 0] * p[..., 0] ** 2 + 2 * Q[None, :, 0, 1] * p[..., 0] * p[..., 1] + Q[None, :, 1, 1] * p[..., 1] ** 2 - 1
        disc = b**2 - 4 * a * c
        ok = disc >= 0
        t = (-b - np.sqrt(np.where(ok, disc, 0.0))) / (2 * a)
        z = np.where(ok, C[None, :, 2] + t, np.inf)
        best = np.minimum(best, z.min(axis=1))
    return best


def occluded(shapes: list[Shape], keypoints: np.ndarray, radius: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """(N,) bool: keypoints (N, 3) [x, y, z] hidden behind a solid part by more than radius + tolerance."""
    kp = np.asarray(keypoints, dtype=np.float64)
    front = front_depths(shapes, kp[:, :2])
    return front < kp[:, 2] - (np.asarray(radius) + np.asarray(tolerance))
