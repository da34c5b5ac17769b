"""A pose prior from 2D annotations (e.g. ADD's hand-labelled illustration poses): each 2D pose is lifted to
the kinematic model's joint angles and a camera view, so that synthetic figures follow poses people draw.

Lifting (in the spirit of Taylor, "Reconstruction of articulated objects from point correspondences in a
single uncalibrated image", 2000): the torso's tilt in the picture becomes the camera's roll, the apparent
shoulder width gives the body's turn (yaw; the nose says which way), and each limb segment's depth follows
from its drawn length and its length in 3D (the longer of the left/right pair, at least the reference
proportion): dz = +-sqrt(L^2 - l^2). Of the four depth signs of each arm and leg, one within the joint
limits is chosen at random (else the least violating one, clipped). Spine and ankles are left near neutral.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posefinder.build.synthetic.camera import View
from posefinder.build.synthetic.kinematics import (
    LIMITS_DEG,
    ANGLE_INDEX,
    SIDES,
    BodyPose,
    Proportions,
    elevation_max,
    forward_kinematics,
    limb_angles,
)
from posefinder.models import skeleton
from posefinder.models.pose import Pose

I = skeleton.INDEX
_NEEDED = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def _reference():
    """Reference proportions and the 3D torso measurements the lifting scales by."""
    prop = Proportions()
    sk = forward_kinematics(BodyPose.neutral(), prop)
    p = sk.points
    torso = float(np.linalg.norm((p["left_shoulder"] + p["right_shoulder"]) / 2 - (p["left_hip"] + p["right_hip"]) / 2))
    return prop, sk, torso


def _violation(kind: str, el: float, az: float, twist: float, bend: float) -> float:
    """Degrees by which limb angles leave the limits (0 inside them)."""
    lo, hi = LIMITS_DEG[:, 0], LIMITS_DEG[:, 1]
    total = 0.0
    names = (f"left_{kind}_elevation", f"left_{kind}_azimuth", f"left_{kind}_twist",
             "left_elbow" if kind == "arm" else "left_knee")  # fmt: skip
    for name, v in zip(names, (el, az, twist, bend)):
        i = ANGLE_INDEX[name]
        total += max(0.0, lo[i] - v) + max(0.0, v - hi[i])
    total += max(0.0, el - float(elevation_max(kind, az)))
    return total


@dataclass
class LiftedPose:
    pose: BodyPose
    view: View


def lift_pose(pose2d: Pose, rng: np.random.Generator) -> LiftedPose | None:
    """Joint angles and a view that draw (approximately) this 2D pose; None without both shoulders and hips."""
    kp = pose2d.keypoints
    if not all(kp[I[n], 2] > 0 for n in _NEEDED):
        return None
    prop, ref, torso3 = _reference()
    pts = kp[:, :2].astype(np.float64).copy()
    hips_c = (pts[I["left_hip"]] + pts[I["right_hip"]]) / 2
    sh_c = (pts[I["left_shoulder"]] + pts[I["right_shoulder"]]) / 2
    t = sh_c - hips_c  # image coordinates, y down
    torso2 = float(np.hypot(*t))
    if torso2 < 1e-6:
        return None
    roll = float(np.degrees(np.arctan2(t[0], -t[1])))  # the torso's tilt from upright, clockwise
    c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    rot = np.array([[c, s], [-s, c]])  # undoes the tilt
    upright = (pts - hips_c) @ rot.T / (torso2 / torso3)  # 3D units, y down, hip centre at 0

    # the turn of the body from the apparent shoulder and hip widths
    widths = []
    for a, b, w3 in (("left_shoulder", "right_shoulder", prop.shoulder_w), ("left_hip", "right_hip", prop.hip_w)):
        widths.append((upright[I[a], 0] - upright[I[b], 0]) / w3)
    ratio = float(np.mean(widths))
    turn = float(np.degrees(np.arccos(np.clip(abs(ratio), 0.0, 1.0))))
    front = ratio >= 0  # the left shoulder on the image's right: facing us
    sign = 1.0
    if kp[I["nose"], 2] > 0:
        mid = (upright[I["left_shoulder"], 0] + upright[I["right_shoulder"], 0]) / 2
        sign = 1.0 if upright[I["nose"], 0] >= mid else -1.0
    elif rng.random() < 0.5:
        sign = -1.0
    yaw = sign * turn if front else sign * (180.0 - turn)
    pitch, distance = float(rng.normal(0.0, 6.0)), float(rng.uniform(5.0, 10.0))
    view = View(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll, distance=distance)
    R = View(yaw_deg=yaw).rotation()  # body frame -> camera (x right, y down, z away)

    # torso joints where the neutral body has them; limbs lifted from there
    cam_ref = {n: R @ ref.points[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")}
    centre = (cam_ref["left_hip"] + cam_ref["right_hip"]) / 2
    angles = BodyPose.neutral()
    angles.kind = "prior"
    for limb, (j0, j1, j2), lens, bend_forward in (
        ("arm", ("shoulder", "elbow", "wrist"), (prop.upper_arm, prop.forearm), True),
        ("leg", ("hip", "knee", "ankle"), (prop.thigh, prop.shin), False),
    ):
        # true segment lengths: the longer drawn side, at least the reference length
        true_len = []
        for k, (a, b) in enumerate(((j0, j1), (j1, j2))):
            drawn = [np.hypot(*(upright[I[f"{s}_{b}"]] - upright[I[f"{s}_{a}"]]))
                     for s in SIDES if kp[I[f"{s}_{a}"], 2] > 0 and kp[I[f"{s}_{b}"], 2] > 0]  # fmt: skip
            true_len.append(max([lens[k]] + drawn))
        for s, side in (("left", 1.0), ("right", -1.0)):
            base = cam_ref[f"{s}_{j0}"] - centre
            if not (kp[I[f"{s}_{j1}"], 2] > 0 and kp[I[f"{s}_{j2}"], 2] > 0):
                continue  # unknown limb: stays neutral
            d1 = upright[I[f"{s}_{j1}"]] - upright[I[f"{s}_{j0}"]]
            d2 = upright[I[f"{s}_{j2}"]] - upright[I[f"{s}_{j1}"]]
            z1 = float(np.sqrt(max(true_len[0] ** 2 - d1 @ d1, 0.0)))
            z2 = float(np.sqrt(max(true_len[1] ** 2 - d2 @ d2, 0.0)))
            parent = np.eye(3)  # chest and pelvis frames of the neutral spine
            options = []
            for s1 in (1.0, -1.0):
                for s2 in (1.0, -1.0):
                    mid = base + np.array([d1[0], d1[1], s1 * z1])
                    end = mid + np.array([d2[0], d2[1], s2 * z2])
                    body = [R.T @ p for p in (base, mid, end)]
                    got = limb_angles(parent, body[0], body[1], body[2], side, bend_forward)
                    options.append((_violation(limb, *got), rng.random(), got))
            best = min(options, key=lambda o: (o[0] > 1e-6, o[0], o[1]))
            el, az, twist, bend = best[2]
            angles[f"{s}_{limb}_elevation"], angles[f"{s}_{limb}_azimuth"] = el, az
            angles[f"{s}_{limb}_twist"], angles[f"{s}_{'elbow' if limb == 'arm' else 'knee'}"] = twist, bend
    angles["head_yaw"] = float(rng.normal(0.0, 15.0))
    angles["head_pitch"] = float(rng.normal(5.0, 10.0))
    for s in SIDES:
        angles[f"{s}_ankle"] = float(rng.uniform(-5.0, 30.0))
        angles[f"{s}_wrist"] = float(rng.normal(0.0, 15.0))
    return LiftedPose(angles.clipped(), view)


class PosePrior:
    """2D poses to draw figures from: sample(rng) lifts a random one (see the module docstring)."""

    def __init__(self, poses: list[Pose], name: str = "prior"):
        self.poses = [p for p in poses if all(p.keypoints[I[n], 2] > 0 for n in _NEEDED)]
        if not self.poses:
            raise ValueError("a pose prior needs poses with both shoulders and both hips")
        self.name = name

    def __len__(self) -> int:
        return len(self.poses)

    @classmethod
    def from_file(cls, path: str | Path) -> "PosePrior":
        """Poses of any pose file PoseFinder reads (ADD's train.json, COCO keypoints, ...)."""
        from posefinder.models.formats import read_poses

        return cls([r.pose for r in read_poses(path)], name=Path(path).name)

    def sample(self, rng: np.random.Generator) -> BodyPose:
        """A lifted pose (its view in pose.extra["view"]), mirrored half of the time."""
        for _ in range(10):
            src = self.poses[int(rng.integers(len(self.poses)))]
            lifted = lift_pose(src, rng)
            if lifted is not None:
                break
        else:  # never: every pose kept has both shoulders and hips
            raise ValueError("no pose of the prior could be lifted in 10 tries")
        pose = lifted.pose
        view = lifted.view
        if rng.random() < 0.5:
            pose = pose.mirrored()
            view = View(-view.yaw_deg, view.pitch_deg, -view.roll_deg, view.distance)
        pose.kind = "prior"
        pose.extra["view"] = view
        return pose
