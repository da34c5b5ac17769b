"""The pose canvas's editable skeleton as plain numpy: positions, switched-on joints, pinned midpoints.

`SkeletonState` is immutable: every edit returns a new state, so an undo command keeps the states before
and after it and nothing else. No Qt here; the canvas draws a state and the tests can check one directly.

Midpoints follow their limb: each remembers where it sits in its limb's frame (`limb_frame`: t along the
limb from the first endpoint, s across it, both in units of the limb's length), so dragging an elbow carries
the upper-arm and forearm midpoints with it, keeping an estimated pose's offsets. A midpoint the user moved
(`pinned`) stays where it was put until a reset, a preset or a new pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models import skeleton
from posefinder.models.pose import VISIBLE, Pose

_N = skeleton.NUM_KEYPOINTS
_MIDPOINTS = tuple(skeleton.MIDPOINT_ENDPOINTS.items())
#: Midpoints that follow each endpoint.
_FOLLOWERS: dict[int, tuple[int, ...]] = {
    j: tuple(m for m, ends in _MIDPOINTS if j in ends) for j in range(_N)
}
_IS_MIDPOINT = np.zeros(_N, dtype=bool)
_IS_MIDPOINT[list(skeleton.MIDPOINT_ENDPOINTS)] = True


def _perp(d: np.ndarray) -> np.ndarray:
    return np.array([-d[1], d[0]])


def _limb_coords(xy: np.ndarray, m: int) -> tuple[float, float]:
    """(t, s) of midpoint m in its limb's frame; (0.5, 0) for a limb of zero length."""
    a, b = skeleton.MIDPOINT_ENDPOINTS[m]
    d = xy[b] - xy[a]
    length2 = float(d @ d)
    if length2 < 1e-12:
        return 0.5, 0.0
    rel = xy[m] - xy[a]
    return float(rel @ d) / length2, float(rel @ _perp(d)) / length2


def _place_midpoint(xy: np.ndarray, m: int, t: float, s: float) -> np.ndarray:
    a, b = skeleton.MIDPOINT_ENDPOINTS[m]
    d = xy[b] - xy[a]
    return xy[a] + t * d + s * _perp(d)


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class SkeletonState:
    """One state of the canvas skeleton (all arrays read-only, in skeleton.KEYPOINT_NAMES order).

    xy: (25, 2) scene pixels. visibility: (25,) 1 (guessed/occluded) or 2 (visible), kept from a set pose.
    on: (25,) bool, the joints switched on (searched). pinned: (25,) bool, midpoints the user moved.
    limb_frame: (25, 2) (t, s) of each midpoint in its limb's frame (zero rows for the other joints).
    """

    xy: np.ndarray
    visibility: np.ndarray
    on: np.ndarray
    pinned: np.ndarray
    limb_frame: np.ndarray

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_xy(cls, xy, on=None, visibility=None) -> "SkeletonState":
        """A state with midpoints following their limbs at their current offsets, none pinned."""
        xy = np.array(xy, dtype=np.float64).reshape(_N, 2)
        on = np.ones(_N, dtype=bool) if on is None else np.array(on, dtype=bool).reshape(_N)
        vis = np.full(_N, float(VISIBLE)) if visibility is None else np.array(visibility, np.float64).reshape(_N)
        frame = np.zeros((_N, 2))
        for m, _ in _MIDPOINTS:
            frame[m] = _limb_coords(xy, m)
        return cls(_frozen(xy), _frozen(vis), _frozen(on), _frozen(np.zeros(_N, dtype=bool)), _frozen(frame))

    @classmethod
    def from_pose(cls, pose: Pose, template_xy: np.ndarray) -> "SkeletonState":
        """The state of a Pose: its present joints where it has them, switched on; its absent joints placed
        where the template (e.g. the standing pose) puts them after the best similarity fit to the present
        ones, and switched off. Absent midpoints sit at the mean of their endpoints.
        """
        present = pose.present.copy()
        xy = pose.xy.copy()
        xy[~present] = place_missing(pose.xy, present, np.asarray(template_xy, np.float64))[~present]
        for m, (a, b) in _MIDPOINTS:
            if not present[m]:
                xy[m] = (xy[a] + xy[b]) / 2.0
        vis = np.where(present, pose.keypoints[:, 2], float(VISIBLE))
        return cls.from_xy(xy, on=present, visibility=vis)

    # -- edits ---------------------------------------------------------------------------------
    def _replace(self, **arrays) -> "SkeletonState":
        fields = {
            "xy": self.xy, "visibility": self.visibility, "on": self.on, "pinned": self.pinned,
            "limb_frame": self.limb_frame,
        }  # fmt: skip
        for key, value in arrays.items():
            fields[key] = _frozen(value)
        return SkeletonState(**fields)

    def with_joint_moved(self, joint: int, xy) -> "SkeletonState":
        """Joint moved to xy. A midpoint moved by hand is pinned; the unpinned midpoints of the limbs a
        moved endpoint belongs to follow it at their offsets."""
        new_xy = self.xy.copy()
        new_xy[joint] = np.asarray(xy, dtype=np.float64)
        if _IS_MIDPOINT[joint]:
            pinned = self.pinned.copy()
            pinned[joint] = True
            frame = self.limb_frame.copy()
            frame[joint] = _limb_coords(new_xy, joint)
            return self._replace(xy=new_xy, pinned=pinned, limb_frame=frame)
        for m in _FOLLOWERS[joint]:
            if not self.pinned[m]:
                new_xy[m] = _place_midpoint(new_xy, m, *self.limb_frame[m])
        return self._replace(xy=new_xy)

    def translated(self, delta) -> "SkeletonState":
        """Every joint moved by delta (dx, dy): the whole figure."""
        return self._replace(xy=self.xy + np.asarray(delta, dtype=np.float64))

    def with_mask(self, on) -> "SkeletonState":
        return self._replace(on=np.array(on, dtype=bool).reshape(_N))

    def with_toggled(self, joint: int) -> "SkeletonState":
        on = self.on.copy()
        on[joint] = not on[joint]
        return self._replace(on=on)

    def mirrored(self) -> "SkeletonState":
        """Left and right swapped in place: reflected about the vertical line through the figure's centre."""
        flip = skeleton.FLIP_INDEX
        xy = self.xy[flip].copy()
        centre_x = (self.xy[:, 0].min() + self.xy[:, 0].max()) / 2.0
        xy[:, 0] = 2.0 * centre_x - xy[:, 0]
        frame = self.limb_frame[flip].copy()
        for m, _ in _MIDPOINTS:
            frame[m] = _limb_coords(xy, m)
        return self._replace(
            xy=xy, visibility=self.visibility[flip].copy(), on=self.on[flip].copy(),
            pinned=self.pinned[flip].copy(), limb_frame=frame,
        )  # fmt: skip

    def mapped(self, scale: float, offset) -> "SkeletonState":
        """xy * scale + offset (a uniform scale keeps every midpoint's limb frame)."""
        return self._replace(xy=self.xy * float(scale) + np.asarray(offset, dtype=np.float64))

    # -- views ---------------------------------------------------------------------------------
    def keypoints(self) -> np.ndarray:
        """(25, 3) x, y, visibility: every joint present, switched on or not."""
        return np.concatenate([self.xy, self.visibility[:, None]], axis=1)

    def same_as(self, other: "SkeletonState") -> bool:
        return all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("xy", "visibility", "on", "pinned", "limb_frame")
        )


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (scale, 2x2 rotation or reflection, translation) mapping src onto dst.

    Umeyama's method; a reflection is allowed, since a figure seen from the back is the mirror image of
    the front template. Returns (scale, R, t) with dst ~ scale * src @ R.T + t.
    """
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    cs, cd = src - mu_s, dst - mu_d
    var_s = float((cs**2).sum()) / len(src)
    if var_s < 1e-12:
        return 1.0, np.eye(2), mu_d - mu_s
    u, sig, vt = np.linalg.svd(cd.T @ cs / len(src))
    rot = u @ vt
    scale = float(sig.sum()) / var_s
    return scale, rot, mu_d - scale * mu_s @ rot.T


def place_missing(xy: np.ndarray, present: np.ndarray, template_xy: np.ndarray) -> np.ndarray:
    """(25, 2): the template fitted onto the present joints (all of xy where fewer than 2 are present
    the template is only moved onto the one joint there is, or returned as is)."""
    present = np.asarray(present, dtype=bool)
    coco = present & ~_IS_MIDPOINT
    use = coco if coco.sum() >= 2 else present
    if use.sum() >= 2:
        scale, rot, shift = similarity_fit(template_xy[use], xy[use])
        return scale * template_xy @ rot.T + shift
    if use.sum() == 1:
        j = int(np.flatnonzero(use)[0])
        return template_xy - template_xy[j] + xy[j]
    return template_xy.copy()

