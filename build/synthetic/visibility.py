"""Which keypoints the body hides: a keypoint is occluded (v=1) when, along its pixel's line of sight, the
front surface of some solid part lies more than the body's own radius there (plus a tolerance) in front of it.
The parts a joint connects (an elbow's upper arm and forearm) do not hide it.

Solid parts are capsules (front surface: the sphere swept along the axis, at the axis point nearest the
pixel) and ellipsoids (the ray's first intersection), in screen space (x, y in pixels, z depth, smaller is
nearer).
"""

from __future__ import annotations

import numpy as np

from posefinder.build.synthetic.body import required
from posefinder.build.synthetic.shapes import Shape


def front_depths(shapes: list[Shape], xy: np.ndarray) -> np.ndarray:
    """(N, len(shapes)) depth of each shape's front surface at each of the (N, 2) pixels (inf where the
    shape does not cover the pixel)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full((len(xy), len(shapes)), np.inf)
    cap_idx = [i for i, s in enumerate(shapes) if s.kind == "capsule"]
    ell_idx = [i for i, s in enumerate(shapes) if s.kind == "ellipse"]
    caps = [shapes[i] for i in cap_idx]
    ells = [shapes[i] for i in ell_idx]
    if caps:
        A = np.stack([required(s.a, "a") for s in caps])  # (m, 3)
        B = np.stack([required(s.b, "b") for s in caps])
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
        out[:, cap_idx] = np.where(inside, q[..., 2] - np.sqrt(np.maximum(r**2 - dist2, 0.0)), np.inf)
    if ells:
        C = np.stack([required(s.center, "center") for s in ells])  # (m, 3)
        Q = np.stack([np.linalg.inv(axes @ axes.T) for axes in (required(s.axes3, "axes3") for s in ells)])  # (m, 3, 3)
        p = xy[:, None, :] - C[None, :, :2]  # (n, m, 2)
        a = Q[None, :, 2, 2]
        b = 2 * (Q[None, :, 0, 2] * p[..., 0] + Q[None, :, 1, 2] * p[..., 1])
        px, py = p[..., 0], p[..., 1]
        c = Q[None, :, 0, 0] * px**2 + 2 * Q[None, :, 0, 1] * px * py + Q[None, :, 1, 1] * py**2 - 1
        disc = b**2 - 4 * a * c
        ok = disc >= 0
        t = (-b - np.sqrt(np.where(ok, disc, 0.0))) / (2 * a)
        out[:, ell_idx] = np.where(ok, C[None, :, 2] + t, np.inf)
    return out


def occluded(shapes: list[Shape], keypoints: np.ndarray, radius: np.ndarray, tolerance: np.ndarray,
             own_parts: list[tuple[str, ...]] | None = None) -> np.ndarray:  # fmt: skip
    """(N,) bool: keypoints (N, 3) [x, y, z] hidden behind a solid part by more than radius + tolerance.

    own_parts[i]: the parts keypoint i joins (an ankle's shin and foot); they never hide it."""
    kp = np.asarray(keypoints, dtype=np.float64)
    lo, hi = kp[:, :2].min(axis=0), kp[:, :2].max(axis=0)
    near = []
    for s in shapes:  # only shapes that can cover some keypoint
        x0, y0, x1, y1 = s.bbox()
        if x1 >= lo[0] and x0 <= hi[0] and y1 >= lo[1] and y0 <= hi[1]:
            near.append(s)
    shapes = near
    front = front_depths(shapes, kp[:, :2])
    if own_parts is not None:
        names = [s.part.name for s in shapes]
        for i, own in enumerate(own_parts):
            for j, name in enumerate(names):
                if name in own:
                    front[i, j] = np.inf
    limit = kp[:, 2] - (np.asarray(radius) + np.asarray(tolerance))
    return front.min(axis=1, initial=np.inf) < limit
