"""Preset poses for the canvas: a standing pose and common poses artists start from, built as code.

Each preset is a `Figure`: a 2D stick figure described the way one would pose a wooden mannequin (where the
hips are, how the torso leans, which way the body and face turn, and the image-space angle of every limb
segment), turned into the 25 keypoints by forward kinematics with one set of body proportions, so every
preset has the same limb lengths. Angles are in degrees in image space: 0 points straight down, 90 to the
image's right, -90 to its left, 180 straight up. Presets need nothing outside the package at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from posefinder.models import skeleton

#: Body proportions, in units of the standing figure's height (top of head to ankles ~ 1). Limb lengths,
#: shoulder and hip widths relative to the torso are near the medians of the 1400 hand-labelled figures of
#: ADD's train.json (anime proportions: legs ~0.86-0.9 torso lengths, upper arm 0.54, forearm 0.46),
#: measured once; nothing is read at run time.
TORSO = 0.30  # hip centre to shoulder centre
SHOULDER_HALF = 0.088
HIP_HALF = 0.062
NECK = 0.06  # shoulder centre to the base of the head
HEAD = 0.075  # base of the head to the eyes
UPPER_ARM = 0.162
FOREARM = 0.138
THIGH = 0.258
SHIN = 0.268


@dataclass(frozen=True)
class Figure:
    """A mannequin pose. Limb angles are image-space degrees (0 = down, 90 = image right).

    turn: 1 faces the viewer (the character's left on the image's right), -1 turns the back to the viewer;
    in between, the shoulders and hips narrow as the body turns sideways.
    look: -1..1, where the face turns (negative: towards the image's left). lean: torso tilt in degrees
    (positive: shoulders towards the image's right). head_tilt: degrees, added to the lean for the head.
    hip_tilt: degrees the hip line tilts (positive: the image-right hip higher), as in contrapposto.
    limbs: "left_upper_arm" ... "right_shin" -> angle; missing ones hang straight down.
    foreshorten: the same keys -> length factor (a segment pointing at the viewer looks shorter).
    """

    limbs: dict[str, float] = field(default_factory=dict)
    lean: float = 0.0
    turn: float = 1.0
    look: float = 0.0
    head_tilt: float = 0.0
    hip_tilt: float = 0.0
    foreshorten: dict[str, float] = field(default_factory=dict)


def _direction(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([math.sin(a), math.cos(a)])


def figure_keypoints(fig: Figure) -> np.ndarray:
    """(25, 2) keypoints of a Figure, hip centre at the origin, y down, in standing-height units.

    The midpoints are the means of their endpoints.
    """
    xy = np.zeros((skeleton.NUM_KEYPOINTS, 2))
    idx = skeleton.INDEX
    up = -_direction(fig.lean)  # hips -> shoulders
    right = np.array([-up[1], up[0]])  # perpendicular, towards the image's right when upright
    hip_right = _direction(90 + fig.hip_tilt)
    hips = np.zeros(2)
    shoulders = hips + TORSO * up
    # Facing the viewer, the character's left side is on the image's right.
    xy[idx["left_shoulder"]] = shoulders + SHOULDER_HALF * fig.turn * right
    xy[idx["right_shoulder"]] = shoulders - SHOULDER_HALF * fig.turn * right
    xy[idx["left_hip"]] = hips + HIP_HALF * fig.turn * hip_right
    xy[idx["right_hip"]] = hips - HIP_HALF * fig.turn * hip_right

    head_up = -_direction(fig.lean + fig.head_tilt)
    head_right = np.array([-head_up[1], head_up[0]])
    eyes = shoulders + NECK * up + HEAD * head_up
    facing = abs(fig.turn) if fig.turn else 0.15
    spread = 0.028 * max(facing * (1 - abs(fig.look)), 0.25)
    centre = eyes + 0.03 * fig.look * head_right
    sign = 1.0 if fig.turn >= 0 else -1.0
    xy[idx["left_eye"]] = centre + spread * sign * head_right
    xy[idx["right_eye"]] = centre - spread * sign * head_right
    xy[idx["nose"]] = centre - 0.035 * head_up + 0.012 * fig.look * head_right
    ear_spread = 0.055 * max(facing * (1 - 0.5 * abs(fig.look)), 0.35)
    ear_shift = -0.03 * fig.look * head_right
    xy[idx["left_ear"]] = eyes + ear_shift + ear_spread * sign * head_right - 0.008 * head_up
    xy[idx["right_ear"]] = eyes + ear_shift - ear_spread * sign * head_right - 0.008 * head_up

    chains = {
        "arm": ("shoulder", "elbow", "wrist", UPPER_ARM, FOREARM, "upper_arm", "forearm"),
        "leg": ("hip", "knee", "ankle", THIGH, SHIN, "thigh", "shin"),
    }
    for side in ("left", "right"):
        for root, mid, tip, len_a, len_b, seg_a, seg_b in chains.values():
            key_a, key_b = f"{side}_{seg_a}", f"{side}_{seg_b}"
            angle_a = fig.limbs.get(key_a, 0.0)
            angle_b = fig.limbs.get(key_b, angle_a)
            start = xy[idx[f"{side}_{root}"]]
            joint = start + len_a * fig.foreshorten.get(key_a, 1.0) * _direction(angle_a)
            end = joint + len_b * fig.foreshorten.get(key_b, 1.0) * _direction(angle_b)
            xy[idx[f"{side}_{mid}"]] = joint
            xy[idx[f"{side}_{tip}"]] = end
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        xy[m] = (xy[a] + xy[b]) / 2.0
    return xy


#: The presets, in the order the canvas lists them. "standing" is what reset() returns to.
PRESETS: dict[str, Figure] = {
    "standing": Figure(
        limbs={
            "left_upper_arm": 12, "left_forearm": 8, "right_upper_arm": -12, "right_forearm": -8,
            "left_thigh": 3, "left_shin": 0, "right_thigh": -3, "right_shin": 0,
        },
    ),
    "contrapposto": Figure(
        lean=-4, hip_tilt=8, head_tilt=6, look=0.2,
        limbs={
            "left_upper_arm": 8, "left_forearm": -25, "right_upper_arm": -15, "right_forearm": -5,
            "left_thigh": -6, "left_shin": 2, "right_thigh": -10, "right_shin": 12,
        },
    ),
    "hands on hips": Figure(
        limbs={
            "left_upper_arm": 40, "left_forearm": -60, "right_upper_arm": -40, "right_forearm": 60,
            "left_thigh": 8, "left_shin": 2, "right_thigh": -8, "right_shin": -2,
        },
    ),
    "arms raised": Figure(
        head_tilt=0,
        limbs={
            "left_upper_arm": 150, "left_forearm": 170, "right_upper_arm": -150, "right_forearm": -170,
            "left_thigh": 4, "left_shin": 0, "right_thigh": -4, "right_shin": 0,
        },
    ),
    "T-pose": Figure(
        limbs={
            "left_upper_arm": 90, "left_forearm": 90, "right_upper_arm": -90, "right_forearm": -90,
            "left_thigh": 3, "left_shin": 0, "right_thigh": -3, "right_shin": 0,
        },
    ),
    "walking": Figure(
        turn=0.35, look=0.9, lean=3,
        limbs={
            "left_upper_arm": -18, "left_forearm": -8, "right_upper_arm": 22, "right_forearm": 45,
            "left_thigh": 22, "left_shin": 5, "right_thigh": -18, "right_shin": -35,
        },
    ),
    "running": Figure(
        turn=0.3, look=1.0, lean=14,
        limbs={
            "left_upper_arm": 60, "left_forearm": 150, "right_upper_arm": -45, "right_forearm": 10,
            "left_thigh": -30, "left_shin": -95, "right_thigh": 55, "right_shin": 15,
        },
    ),
    "sitting": Figure(
        turn=0.6, look=0.5, lean=-4,
        limbs={
            "left_upper_arm": 20, "left_forearm": 75, "right_upper_arm": 5, "right_forearm": 70,
            "left_thigh": 82, "left_shin": 5, "right_thigh": 78, "right_shin": -5,
        },
        foreshorten={"left_thigh": 0.8, "right_thigh": 0.8},
    ),
    "kneeling": Figure(
        turn=0.5, look=0.6,
        limbs={
            "left_upper_arm": 15, "left_forearm": 40, "right_upper_arm": -5, "right_forearm": 5,
            "left_thigh": 60, "left_shin": 2, "right_thigh": 0, "right_shin": -88,
        },
        foreshorten={"right_shin": 0.9},
    ),
    "crouching": Figure(
        lean=0, head_tilt=0,
        limbs={
            "left_upper_arm": 20, "left_forearm": 70, "right_upper_arm": -20, "right_forearm": -70,
            "left_thigh": 105, "left_shin": 8, "right_thigh": -105, "right_shin": -8,
        },
        foreshorten={"left_thigh": 0.55, "right_thigh": 0.55},
    ),
    "jumping": Figure(
        head_tilt=-5,
        limbs={
            "left_upper_arm": 140, "left_forearm": 165, "right_upper_arm": -135, "right_forearm": -160,
            "left_thigh": 40, "left_shin": -30, "right_thigh": -40, "right_shin": 30,
        },
    ),
    "fighting stance": Figure(
        turn=0.55, look=0.7, lean=6,
        limbs={
            "left_upper_arm": 60, "left_forearm": 150, "right_upper_arm": 40, "right_forearm": 135,
            "left_thigh": 25, "left_shin": 5, "right_thigh": -25, "right_shin": -5,
        },
        foreshorten={"left_upper_arm": 0.85, "right_upper_arm": 0.7},
    ),
    "reaching up": Figure(
        lean=-6, look=-0.2, head_tilt=-10,
        limbs={
            "left_upper_arm": 10, "left_forearm": 5, "right_upper_arm": -165, "right_forearm": -175,
            "left_thigh": 2, "left_shin": 0, "right_thigh": -4, "right_shin": 0,
        },
    ),
    "looking back": Figure(
        turn=-0.8, look=-0.8, lean=2, head_tilt=-8,
        limbs={
            "left_upper_arm": -10, "left_forearm": -5, "right_upper_arm": 15, "right_forearm": 20,
            "left_thigh": -3, "left_shin": 0, "right_thigh": 6, "right_shin": 4,
        },
    ),
    "lying": Figure(
        lean=90, head_tilt=5,
        limbs={
            "left_upper_arm": 95, "left_forearm": 80, "right_upper_arm": -120, "right_forearm": -40,
            "left_thigh": 88, "left_shin": 92, "right_thigh": 65, "right_shin": 115,
        },
    ),
}  # fmt: skip

DEFAULT_PRESET = "standing"


def preset_names() -> list[str]:
    """The presets' names, in display order."""
    return list(PRESETS)


def preset_keypoints(name: str) -> np.ndarray:
    """(25, 2) keypoints of a preset in standing-height units (hip centre at the origin).

    ValueError naming the presets for an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return figure_keypoints(PRESETS[name])


def fit_into(xy: np.ndarray, size: tuple[float, float], fill: float = 0.82) -> np.ndarray:
    """Keypoints scaled uniformly and centred so their box fills `fill` of a (width, height) frame."""
    xy = np.asarray(xy, dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    extent = np.maximum(hi - lo, 1e-9)
    width, height = float(size[0]), float(size[1])
    scale = fill * min(width / extent[0], height / extent[1])
    centre = (lo + hi) / 2.0
    return (xy - centre) * scale + np.array([width / 2.0, height / 2.0])
