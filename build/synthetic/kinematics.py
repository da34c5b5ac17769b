"""The figure's kinematic model: joint angles with limits (BodyPose), body proportions, forward kinematics.

Body frame (a standing figure before any rotation): +x is the character's own left, +y up, +z the way the
character faces; lengths are fractions of the standing height. The hip centre is the origin.

Angles, in degrees:
- root_pitch / root_roll: the whole body tipped forward (90 = lying face down, -90 = on the back, 180 =
  upside down) and sideways (90 = lying on the right side... or left, by sign).
- spine_bend (forward +), spine_side (towards the left +), spine_twist (chest turned left +).
- head_pitch (nod down +), head_yaw (turn left +), head_roll (tilt towards the left shoulder +).
- per arm and leg, a swing-twist shoulder or hip: `elevation` (angle from hanging straight down),
  `azimuth` (the direction it is raised: 0 forward, 90 out to the side, 180 backward, < 0 across the body),
  `twist` (rotation about the limb, inward +). Elbows bend the forearm towards the front of the upper arm,
  knees bend the shin towards the back of the thigh, both from 0 (straight) only one way.
- `wrist` flexes the hand, `ankle` points the foot (plantar flexion +).
The elevation a shoulder or hip can reach depends on its azimuth (nobody lifts a leg 130 degrees backward):
ARM_ELEVATION_MAX / LEG_ELEVATION_MAX.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from posefinder.build.synthetic.geometry import axis_angle, cross, rot_x, rot_y, rot_z, unit

SIDES = ("left", "right")
_LIMB_ANGLES_ARM = ("arm_elevation", "arm_azimuth", "arm_twist", "elbow", "wrist")
_LIMB_ANGLES_LEG = ("leg_elevation", "leg_azimuth", "leg_twist", "knee", "ankle")

ANGLE_NAMES: tuple[str, ...] = (
    ("root_pitch", "root_roll", "spine_bend", "spine_side", "spine_twist", "head_pitch", "head_yaw", "head_roll")
    + tuple(f"{s}_{a}" for s in SIDES for a in _LIMB_ANGLES_ARM)
    + tuple(f"{s}_{a}" for s in SIDES for a in _LIMB_ANGLES_LEG)
)
ANGLE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ANGLE_NAMES)}

_LIMITS_BY_KIND: dict[str, tuple[float, float]] = {
    "root_pitch": (-180.0, 180.0),
    "root_roll": (-90.0, 90.0),
    "spine_bend": (-30.0, 70.0),
    "spine_side": (-35.0, 35.0),
    "spine_twist": (-45.0, 45.0),
    "head_pitch": (-45.0, 60.0),
    "head_yaw": (-75.0, 75.0),
    "head_roll": (-35.0, 35.0),
    "arm_elevation": (0.0, 180.0),
    "arm_azimuth": (-45.0, 180.0),
    "arm_twist": (-90.0, 90.0),
    "elbow": (0.0, 150.0),
    "wrist": (-50.0, 60.0),
    "leg_elevation": (0.0, 140.0),
    "leg_azimuth": (-30.0, 180.0),
    "leg_twist": (-45.0, 50.0),
    "knee": (0.0, 155.0),
    "ankle": (-30.0, 55.0),
}


def _kind(name: str) -> str:
    for s in SIDES:
        if name.startswith(s + "_"):
            return name[len(s) + 1 :]
    return name


#: (len(ANGLE_NAMES), 2) lower and upper limit of every angle, degrees.
LIMITS_DEG: np.ndarray = np.array([_LIMITS_BY_KIND[_kind(n)] for n in ANGLE_NAMES])
LIMITS_DEG.setflags(write=False)

#: Highest elevation a shoulder reaches at an azimuth (degrees): (azimuths, max elevations), interpolated.
ARM_ELEVATION_MAX = ((-45.0, 0.0, 100.0, 180.0), (140.0, 180.0, 180.0, 60.0))
#: Highest elevation a hip reaches at an azimuth (degrees).
LEG_ELEVATION_MAX = ((-30.0, 0.0, 90.0, 180.0), (40.0, 135.0, 75.0, 35.0))

#: Angles whose sign flips when the figure is mirrored (left and right swapped).
_MIRROR_NEGATE = ("root_roll", "spine_side", "spine_twist", "head_yaw", "head_roll")


def elevation_max(kind: str, azimuth_deg: float | np.ndarray) -> float | np.ndarray:
    """Highest elevation an arm ("arm") or leg ("leg") reaches when raised towards `azimuth_deg`."""
    az, el = ARM_ELEVATION_MAX if kind == "arm" else LEG_ELEVATION_MAX
    return np.interp(azimuth_deg, az, el)


@dataclass
class BodyPose:
    """Joint angles (degrees, ANGLE_NAMES order) of the kinematic figure, and the kind of pose it shows."""

    angles_deg: np.ndarray
    kind: str = "random"
    extra: dict = field(default_factory=dict)  # e.g. "view": the View a prior pose was seen from

    def __post_init__(self) -> None:
        self.angles_deg = np.asarray(self.angles_deg, dtype=np.float64).reshape(len(ANGLE_NAMES)).copy()

    @classmethod
    def neutral(cls) -> "BodyPose":
        """Standing straight, arms hanging, looking ahead."""
        return cls(np.zeros(len(ANGLE_NAMES)), kind="standing")

    @classmethod
    def from_dict(cls, values: dict[str, float], kind: str = "random") -> "BodyPose":
        """A pose from {angle name: degrees}; names with `*_` set both sides (e.g. "*_knee")."""
        pose = cls.neutral()
        pose.kind = kind
        for name, value in values.items():
            pose[name] = value
        return pose

    def __getitem__(self, name: str) -> float:
        return float(self.angles_deg[ANGLE_INDEX[name]])

    def __setitem__(self, name: str, value: float) -> None:
        if name.startswith("*_"):
            for s in SIDES:
                self.angles_deg[ANGLE_INDEX[f"{s}_{name[2:]}"]] = value
            return
        if name not in ANGLE_INDEX:
            raise KeyError(f"unknown angle {name!r}; known: {', '.join(ANGLE_NAMES)}")
        self.angles_deg[ANGLE_INDEX[name]] = value

    def copy(self) -> "BodyPose":
        return BodyPose(self.angles_deg.copy(), self.kind, dict(self.extra))

    def mirrored(self) -> "BodyPose":
        """The same pose with the character's left and right swapped (a mirror image)."""
        out = self.copy()
        for i, name in enumerate(ANGLE_NAMES):
            for s, o in (("left_", "right_"), ("right_", "left_")):
                if name.startswith(s):
                    out.angles_deg[i] = self.angles_deg[ANGLE_INDEX[o + name[len(s) :]]]
        for name in _MIRROR_NEGATE:
            out[name] = -self[name]
        return out

    def clipped(self) -> "BodyPose":
        """The nearest pose within the joint limits (box limits, then the elevation-by-azimuth limits)."""
        out = self.copy()
        a = out.angles_deg
        np.clip(a, LIMITS_DEG[:, 0], LIMITS_DEG[:, 1], out=a)
        for s in SIDES:
            for limb in ("arm", "leg"):
                i_el, i_az = ANGLE_INDEX[f"{s}_{limb}_elevation"], ANGLE_INDEX[f"{s}_{limb}_azimuth"]
                a[i_el] = min(a[i_el], float(elevation_max(limb, a[i_az])))
        return out

    def limit_violations(self, tol_deg: float = 1e-6) -> list[str]:
        """Names of the angles outside their limits (empty when the pose is within every limit)."""
        a = self.angles_deg
        lo, hi = LIMITS_DEG[:, 0] - tol_deg, LIMITS_DEG[:, 1] + tol_deg
        bad = [n for i, n in enumerate(ANGLE_NAMES) if not (lo[i] <= a[i] <= hi[i])]
        for s in SIDES:
            for limb in ("arm", "leg"):
                el, az = self[f"{s}_{limb}_elevation"], self[f"{s}_{limb}_azimuth"]
                if el > float(elevation_max(limb, az)) + tol_deg:
                    bad.append(f"{s}_{limb}_elevation")
        return bad


@dataclass
class Proportions:
    """Body measurements as fractions of the standing height (1.0): lengths, widths and limb radii."""

    head_h: float = 0.13
    head_w: float = 0.1
    head_d: float = 0.115
    neck_len: float = 0.04
    torso_len: float = 0.34  # hip centre to the base of the neck
    waist_frac: float = 0.32  # height of the waist (the spine's bend) above the hip centre, of torso_len
    shoulder_w: float = 0.24  # between the shoulder joints
    hip_w: float = 0.14  # between the hip joints
    upper_arm: float = 0.18
    forearm: float = 0.15
    hand: float = 0.1
    thigh: float = 0.24
    shin: float = 0.24
    ankle_h: float = 0.03
    foot: float = 0.14
    r_neck: float = 0.022
    r_shoulder: float = 0.033
    r_elbow: float = 0.025
    r_wrist: float = 0.018
    r_hip: float = 0.052
    r_knee: float = 0.034
    r_ankle: float = 0.022
    waist_hw: float = 0.075  # half widths / half depths of the torso
    chest_hd: float = 0.06
    pelvis_hd: float = 0.065
    extra: dict = field(default_factory=dict)

    def scaled(self, k: float) -> "Proportions":
        vals = {f.name: getattr(self, f.name) * k for f in fields(self) if f.name != "extra"}
        return Proportions(**vals, extra=dict(self.extra))


def sample_proportions(rng: np.random.Generator, heads_range: tuple[float, float] = (5.0, 8.0)) -> Proportions:
    """Proportions from child-like (5 heads tall) to tall (8 heads), slim to stocky; heads_range sets how
    many heads tall (e.g. (2.5, 3.5): chibi figures, whose limbs are as short as a 5-head figure's)."""
    heads = rng.uniform(*heads_range)
    t = (heads - 5.0) / 3.0  # 0 child-like .. 1 tall
    head_h = 1.0 / heads
    head_w = head_h * rng.uniform(0.74, 0.86) * (1.04 - 0.06 * t)
    head_d = head_h * rng.uniform(0.86, 0.95)
    neck_len = rng.uniform(0.025, 0.045) * (0.8 + 0.3 * t)
    leg = np.interp(heads, (5.0, 8.0), (0.42, 0.5)) + rng.uniform(-0.025, 0.025)
    ankle_h = 0.045 * leg
    split = rng.uniform(0.47, 0.53)
    thigh = (leg - ankle_h) * split
    shin = (leg - ankle_h) - thigh
    torso = 1.0 - leg - 0.9 * head_h - neck_len
    shoulder_w = head_h * np.interp(heads, (5.0, 8.0), (1.45, 2.0)) * rng.uniform(0.88, 1.14)
    hip_w = shoulder_w * rng.uniform(0.5, 0.7)
    upper_arm = torso * rng.uniform(0.5, 0.58)
    forearm = upper_arm * rng.uniform(0.8, 0.9)
    hand = forearm * rng.uniform(0.58, 0.7)
    foot = leg * rng.uniform(0.26, 0.31)
    build = rng.uniform(0.8, 1.25) * (1.15 - 0.15 * t)
    return Proportions(
        head_h=head_h, head_w=head_w, head_d=head_d, neck_len=neck_len, torso_len=torso,
        waist_frac=rng.uniform(0.28, 0.36), shoulder_w=shoulder_w, hip_w=hip_w,
        upper_arm=upper_arm, forearm=forearm, hand=hand, thigh=thigh, shin=shin, ankle_h=ankle_h, foot=foot,
        r_neck=head_w * rng.uniform(0.2, 0.26), r_shoulder=0.031 * build, r_elbow=0.023 * build,
        r_wrist=0.016 * build, r_hip=0.05 * build, r_knee=0.032 * build, r_ankle=0.021 * build,
        waist_hw=shoulder_w / 2 * rng.uniform(0.5, 0.68) * build ** 0.5,
        chest_hd=shoulder_w * rng.uniform(0.2, 0.27) * build ** 0.5,
        pelvis_hd=shoulder_w * rng.uniform(0.2, 0.26) * build ** 0.5,
        extra={"heads": float(heads), "build": float(build)},
    )  # fmt: skip


@dataclass
class Skeleton3D:
    """3D joint positions (body frame after the root rotation; y up) and the frames the body model needs."""

    points: dict[str, np.ndarray]  # joint name -> (3,)
    frames: dict[str, np.ndarray]  # "pelvis", "chest", "head": 3x3 rotations (columns: x, y, z axes)
    limb_axes: dict[str, tuple[np.ndarray, np.ndarray]]  # segment -> (direction, its "front" normal)


def _limb(parent_R: np.ndarray, base: np.ndarray, side: float, el: float, az: float, twist: float,
          bend: float, len1: float, len2: float, bend_forward: bool):  # fmt: skip
    """Swing-twist shoulder or hip, then a one-way hinge. Returns (mid, end, upper dir, lower dir,
    the upper segment's front normal, the lower segment's front normal)."""
    down = np.array([0.0, -1.0, 0.0])
    raise_dir = np.array([side * np.sin(np.radians(az)), 0.0, np.cos(np.radians(az))])
    swing = axis_angle(cross(down, raise_dir), el)
    u = swing @ down
    front = axis_angle(u, side * twist) @ (swing @ np.array([0.0, 0.0, 1.0]))
    bend_dir = front if bend_forward else -front
    b = np.radians(bend)
    lower = np.cos(b) * u + np.sin(b) * bend_dir
    # the lower segment's own front: the upper front carried along by the hinge
    lower_front = -np.sin(b) * u + np.cos(b) * front if bend_forward else np.sin(b) * u + np.cos(b) * front
    U, L = parent_R @ u, parent_R @ lower
    mid = base + len1 * U
    end = mid + len2 * L
    return mid, end, U, L, parent_R @ front, parent_R @ lower_front


def limb_angles(parent_R: np.ndarray, base: np.ndarray, mid: np.ndarray, end: np.ndarray, side: float,
                bend_forward: bool) -> tuple[float, float, float, float]:  # fmt: skip
    """The inverse of the swing-twist limb of forward_kinematics: (elevation, azimuth, twist, bend) in degrees
    that carry a limb from `base` through `mid` to `end` (3D points, in the parent's frame `parent_R`)."""
    down = np.array([0.0, -1.0, 0.0])
    u = unit(parent_R.T @ (np.asarray(mid, float) - base))
    el = float(np.degrees(np.arccos(np.clip(-u[1], -1.0, 1.0))))
    hx, hz = u[0] * side, u[2]
    az = 0.0 if np.hypot(hx, hz) < 1e-9 else float(np.degrees(np.arctan2(hx, hz)))
    raise_dir = np.array([side * np.sin(np.radians(az)), 0.0, np.cos(np.radians(az))])
    front0 = axis_angle(cross(down, raise_dir), el) @ np.array([0.0, 0.0, 1.0])
    low = unit(parent_R.T @ (np.asarray(end, float) - mid))
    bend = float(np.degrees(np.arccos(np.clip(u @ low, -1.0, 1.0))))
    if bend < 0.5:
        return el, az, 0.0, bend
    b = unit(low - (low @ u) * u)
    target = b if bend_forward else -b
    theta = float(np.degrees(np.arctan2(u @ cross(front0, target), front0 @ target)))
    return el, az, theta * side, bend


def forward_kinematics(pose: BodyPose, prop: Proportions) -> Skeleton3D:
    """3D joints of a figure with these proportions in this pose (see the module docstring for frames)."""
    a = pose
    R_pelvis = rot_x(a["root_pitch"]) @ rot_z(-a["root_roll"])
    R_chest = R_pelvis @ rot_y(a["spine_twist"]) @ rot_z(-a["spine_side"]) @ rot_x(a["spine_bend"])
    T = prop.torso_len
    pts: dict[str, np.ndarray] = {}
    pts["pelvis"] = np.zeros(3)
    pts["waist"] = R_pelvis @ np.array([0.0, prop.waist_frac * T, 0.0])
    up_chest = (1.0 - prop.waist_frac) * T
    pts["neck_base"] = pts["waist"] + R_chest @ np.array([0.0, up_chest, 0.0])
    shoulder_y = up_chest - 0.16 * T
    # the head: the neck takes a third of the nod and tilt, the head the rest
    R_neck = R_chest @ rot_y(a["head_yaw"] / 3) @ rot_z(-a["head_roll"] / 3) @ rot_x(a["head_pitch"] / 3)
    R_head = R_chest @ rot_y(a["head_yaw"]) @ rot_z(-a["head_roll"]) @ rot_x(a["head_pitch"])
    pts["neck_top"] = pts["neck_base"] + R_neck @ np.array([0.0, prop.neck_len, 0.0])
    pts["head"] = pts["neck_top"] + R_head @ np.array([0.0, 0.42 * prop.head_h, 0.06 * prop.head_d])
    limb_axes = {}
    for s, side in (("left", 1.0), ("right", -1.0)):
        sh = pts["waist"] + R_chest @ np.array([side * prop.shoulder_w / 2, shoulder_y, -0.01 * T])
        el, wr, U, L, Uf, Lf = _limb(
            R_chest, sh, side, a[f"{s}_arm_elevation"], a[f"{s}_arm_azimuth"], a[f"{s}_arm_twist"],
            a[f"{s}_elbow"], prop.upper_arm, prop.forearm, bend_forward=True,
        )  # fmt: skip
        # the hand continues the forearm, flexed towards the palm (the forearm's front) by the wrist angle
        w = np.radians(a[f"{s}_wrist"])
        hand_dir = np.cos(w) * L + np.sin(w) * Lf
        pts[f"{s}_shoulder"], pts[f"{s}_elbow"], pts[f"{s}_wrist"] = sh, el, wr
        pts[f"{s}_hand"] = wr + prop.hand * hand_dir
        limb_axes[f"{s}_upper_arm"], limb_axes[f"{s}_forearm"] = (U, Uf), (L, Lf)
        limb_axes[f"{s}_hand"] = (hand_dir, unit(-np.sin(w) * L + np.cos(w) * Lf))
        hip = R_pelvis @ np.array([side * prop.hip_w / 2, 0.0, 0.0])
        kn, an, U, L, Uf, Lf = _limb(
            R_pelvis, hip, side, a[f"{s}_leg_elevation"], a[f"{s}_leg_azimuth"], a[f"{s}_leg_twist"],
            a[f"{s}_knee"], prop.thigh, prop.shin, bend_forward=False,
        )  # fmt: skip
        # the foot: perpendicular to the shin, pointing forward, turned down by the ankle angle
        t = np.radians(a[f"{s}_ankle"])
        foot_dir = np.cos(t) * Lf + np.sin(t) * L
        pts[f"{s}_hip"], pts[f"{s}_knee"], pts[f"{s}_ankle"] = hip, kn, an
        sole = unit(L - np.dot(L, foot_dir) * foot_dir)
        pts[f"{s}_toe"] = an + prop.foot * 0.8 * foot_dir - prop.ankle_h * 0.6 * sole
        limb_axes[f"{s}_thigh"], limb_axes[f"{s}_shin"] = (U, Uf), (L, Lf)
        limb_axes[f"{s}_foot"] = (foot_dir, unit(L - np.dot(L, foot_dir) * foot_dir))
    frames = {"pelvis": R_pelvis, "chest": R_chest, "head": R_head, "neck": R_neck}
    return Skeleton3D(points=pts, frames=frames, limb_axes=limb_axes)
