"""Poses for the synthetic figures: templates of common illustration poses, random poses within the
joint limits, and `sample_pose`, which draws one of them (or one from a pose prior, e.g. ADD's)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from posefinder.build.synthetic.kinematics import ANGLE_NAMES, LIMITS_DEG, SIDES, BodyPose

U = tuple[float, float]  # a uniform range in degrees


def _u(rng: np.random.Generator, r) -> float:
    return float(rng.uniform(r[0], r[1])) if isinstance(r, tuple) else float(r)


def _apply(rng, values: dict[str, object], kind: str) -> BodyPose:
    pose = BodyPose.neutral()
    pose.kind = kind
    for name, r in values.items():
        if name.startswith("*_"):  # both sides, each drawn on its own
            for s in SIDES:
                pose[f"{s}_{name[2:]}"] = _u(rng, r)
        else:
            pose[name] = _u(rng, r)
    return pose


def _relaxed_head(rng) -> dict:
    return {"head_pitch": (-15, 25), "head_yaw": (-35, 35), "head_roll": (-12, 12)}


def _standing_legs() -> dict:
    return {"*_leg_elevation": (0, 10), "*_leg_azimuth": (30, 100), "*_knee": (0, 10), "*_ankle": (-5, 10),
            "*_leg_twist": (-10, 15)}  # fmt: skip


def _standing(rng):
    return {**_standing_legs(), **_relaxed_head(rng), "*_arm_elevation": (5, 30), "*_arm_azimuth": (30, 100),
            "*_elbow": (0, 35), "*_arm_twist": (-10, 40), "spine_side": (-5, 5), "spine_twist": (-10, 10)}  # fmt: skip


def _contrapposto(rng):
    return {**_standing(rng), "left_leg_elevation": (8, 20), "left_leg_azimuth": (20, 70), "left_knee": (10, 30),
            "spine_side": (3, 10), "right_arm_elevation": (25, 45), "right_arm_azimuth": (80, 100),
            "right_arm_twist": (60, 90), "right_elbow": (90, 125)}  # fmt: skip


def _walking(rng):
    return {**_relaxed_head(rng), "left_leg_elevation": (15, 32), "left_leg_azimuth": (-5, 15), "left_knee": (5, 25),
            "left_ankle": (-15, 0), "right_leg_elevation": (10, 25), "right_leg_azimuth": (165, 180),
            "right_knee": (15, 45), "right_ankle": (10, 35), "right_arm_elevation": (10, 35),
            "right_arm_azimuth": (0, 20), "left_arm_elevation": (10, 30), "left_arm_azimuth": (165, 180),
            "*_elbow": (10, 40), "*_arm_twist": (0, 30), "spine_twist": (-8, 2)}  # fmt: skip


def _running(rng):
    return {**_relaxed_head(rng), "left_leg_elevation": (45, 85), "left_leg_azimuth": (-5, 10), "left_knee": (60, 110),
            "right_leg_elevation": (15, 35), "right_leg_azimuth": (165, 180), "right_knee": (50, 120),
            "right_ankle": (25, 50), "right_arm_elevation": (30, 65), "right_arm_azimuth": (0, 20),
            "left_arm_elevation": (20, 50), "left_arm_azimuth": (160, 180), "*_elbow": (70, 105),
            "*_arm_twist": (10, 40), "spine_bend": (5, 20), "head_pitch": (-15, 5)}  # fmt: skip


def _sitting(rng):
    return {**_relaxed_head(rng), "*_leg_elevation": (75, 100), "*_leg_azimuth": (0, 25), "*_knee": (70, 110),
            "*_ankle": (-10, 20), "*_leg_twist": (-10, 15), "spine_bend": (-10, 20), "*_arm_elevation": (10, 40),
            "*_arm_azimuth": (0, 40), "*_elbow": (30, 95), "*_arm_twist": (10, 50)}  # fmt: skip


def _sitting_cross_legged(rng):
    return {**_sitting(rng), "*_leg_elevation": (70, 95), "*_leg_azimuth": (45, 75), "*_leg_twist": (-45, -25),
            "*_knee": (120, 150), "*_ankle": (0, 30)}  # fmt: skip


def _kneeling(rng):
    if rng.random() < 0.5:  # on both knees, upright
        legs = {"*_leg_elevation": (0, 20), "*_leg_azimuth": (0, 30), "*_knee": (80, 105), "*_ankle": (20, 50)}
    else:  # on one knee
        legs = {"left_leg_elevation": (75, 95), "left_leg_azimuth": (0, 20), "left_knee": (75, 100),
                "left_ankle": (-15, 5), "right_leg_elevation": (0, 20), "right_leg_azimuth": (0, 40),
                "right_knee": (85, 105), "right_ankle": (20, 50)}  # fmt: skip
    return {**_relaxed_head(rng), **legs, "*_arm_elevation": (5, 50), "*_arm_azimuth": (0, 90), "*_elbow": (0, 90),
            "*_arm_twist": (0, 50), "spine_bend": (-5, 20)}  # fmt: skip


def _seiza(rng):
    return {**_relaxed_head(rng), "*_leg_elevation": (75, 95), "*_leg_azimuth": (0, 15), "*_knee": (140, 155),
            "*_ankle": (30, 55), "*_arm_elevation": (10, 35), "*_arm_azimuth": (0, 30), "*_elbow": (40, 90),
            "*_arm_twist": (20, 50)}  # fmt: skip


def _jumping(rng):
    if rng.random() < 0.35:  # star jump
        return {**_relaxed_head(rng), "*_leg_elevation": (25, 45), "*_leg_azimuth": (80, 100), "*_knee": (0, 20),
                "*_ankle": (30, 55), "*_arm_elevation": (120, 170), "*_arm_azimuth": (70, 100),
                "*_elbow": (0, 30)}  # fmt: skip
    return {**_relaxed_head(rng), "*_leg_elevation": (20, 80), "*_leg_azimuth": (0, 40), "*_knee": (40, 130),
            "*_ankle": (20, 55), "*_arm_elevation": (90, 175), "*_arm_azimuth": (10, 100), "*_elbow": (0, 60),
            "spine_bend": (-20, 10)}  # fmt: skip


def _arms_raised(rng):
    return {**_standing(rng), "*_arm_elevation": (135, 180), "*_arm_azimuth": (20, 100), "*_elbow": (0, 45),
            "head_pitch": (-35, 5)}  # fmt: skip


def _lying(rng):
    base = {**_relaxed_head(rng), "*_leg_elevation": (0, 60), "*_leg_azimuth": (0, 90), "*_knee": (0, 100),
            "*_arm_elevation": (0, 150), "*_arm_azimuth": (0, 120), "*_elbow": (0, 120),
            "*_arm_twist": (-30, 60)}  # fmt: skip
    pick = rng.random()
    if pick < 0.4:
        base["root_pitch"] = (-100, -80)  # on the back
    elif pick < 0.65:
        base["root_pitch"] = (80, 100)  # face down
        base["head_pitch"] = (-45, -20)
    else:
        base["root_roll"] = (80, 90) if rng.random() < 0.5 else (-90, -80)  # on a side
    return base


def _fighting(rng):
    base = {**_relaxed_head(rng), "left_leg_elevation": (15, 32), "left_leg_azimuth": (0, 40), "left_knee": (20, 45),
            "right_leg_elevation": (15, 32), "right_leg_azimuth": (140, 180), "right_knee": (15, 40),
            "right_ankle": (0, 25), "spine_twist": (10, 35), "spine_bend": (0, 15), "*_arm_elevation": (40, 85),
            "*_arm_azimuth": (-20, 25), "*_arm_twist": (30, 75), "*_elbow": (90, 135),
            "head_pitch": (-5, 15)}  # fmt: skip
    pick = rng.random()
    if pick < 0.3:  # a punch
        base.update({"left_arm_elevation": (80, 100), "left_arm_azimuth": (-10, 20), "left_elbow": (0, 12)})
    elif pick < 0.55:  # a kick
        base.update({"left_leg_elevation": (70, 115), "left_leg_azimuth": (0, 70), "left_knee": (0, 50),
                     "left_ankle": (20, 50)})  # fmt: skip
    return base


def _crouching(rng):
    return {**_relaxed_head(rng), "*_leg_elevation": (90, 125), "*_leg_azimuth": (10, 45), "*_knee": (120, 150),
            "*_ankle": (-25, 0), "spine_bend": (20, 55), "*_arm_elevation": (20, 70), "*_arm_azimuth": (0, 40),
            "*_elbow": (20, 80), "head_pitch": (-35, -5)}  # fmt: skip


def _waving(rng):
    return {**_standing(rng), "left_arm_elevation": (85, 130), "left_arm_azimuth": (60, 100),
            "left_arm_twist": (-90, -60), "left_elbow": (50, 110)}  # fmt: skip


def _hands_on_hips(rng):
    return {**_standing(rng), "*_arm_elevation": (25, 45), "*_arm_azimuth": (80, 100), "*_arm_twist": (65, 90),
            "*_elbow": (95, 125)}  # fmt: skip


def _reaching(rng):
    return {**_standing(rng), "left_arm_elevation": (70, 120), "left_arm_azimuth": (-20, 60), "left_elbow": (0, 20),
            "spine_bend": (0, 25), "spine_twist": (-25, 0)}  # fmt: skip


def _crossed_arms(rng):
    return {**_standing(rng), "*_arm_elevation": (15, 35), "*_arm_azimuth": (-25, 10), "*_arm_twist": (70, 90),
            "*_elbow": (110, 140)}  # fmt: skip


def _handstand(rng):
    return {"root_pitch": (170, 180), "*_arm_elevation": (160, 180), "*_arm_azimuth": (0, 30), "*_elbow": (0, 10),
            "*_leg_elevation": (0, 40), "*_leg_azimuth": (0, 180), "*_knee": (0, 60),
            "head_pitch": (-40, -10)}  # fmt: skip


#: Pose kind -> (relative frequency, template: rng -> {angle name: value or (lo, hi)}).
TEMPLATES: dict[str, tuple[float, Callable]] = {
    "standing": (1.2, _standing),
    "contrapposto": (0.6, _contrapposto),
    "walking": (1.0, _walking),
    "running": (1.0, _running),
    "sitting": (1.0, _sitting),
    "sitting_cross_legged": (0.4, _sitting_cross_legged),
    "kneeling": (0.8, _kneeling),
    "seiza": (0.3, _seiza),
    "jumping": (0.8, _jumping),
    "arms_raised": (0.7, _arms_raised),
    "lying": (0.6, _lying),
    "fighting": (1.0, _fighting),
    "crouching": (0.6, _crouching),
    "waving": (0.5, _waving),
    "hands_on_hips": (0.5, _hands_on_hips),
    "reaching": (0.5, _reaching),
    "crossed_arms": (0.4, _crossed_arms),
    "handstand": (0.15, _handstand),
}

#: Chance that sample_pose draws a random pose within the limits rather than a template.
RANDOM_SHARE = 0.2

#: Gaussian jitter (degrees) added to template poses before clipping to the limits.
JITTER_DEG = 6.0


def random_pose(rng: np.random.Generator) -> BodyPose:
    """A pose drawn across the joint limits (upright; limbs anywhere they can go)."""
    lo, hi = LIMITS_DEG[:, 0], LIMITS_DEG[:, 1]
    # a beta(1.3, 2) leans towards the lower end (arms down, knees straight) without excluding the rest
    t = rng.beta(1.3, 2.0, size=len(ANGLE_NAMES))
    centred = rng.uniform(0.0, 1.0, size=len(ANGLE_NAMES))
    angles = np.empty(len(ANGLE_NAMES))
    for i, name in enumerate(ANGLE_NAMES):
        if name.endswith(("elevation", "elbow", "knee")):
            angles[i] = lo[i] + t[i] * (hi[i] - lo[i])
        else:
            angles[i] = lo[i] + centred[i] * (hi[i] - lo[i])
    pose = BodyPose(angles, kind="random")
    pose["root_pitch"] = rng.normal(0, 8)
    pose["root_roll"] = rng.normal(0, 5)
    for name in ("spine_bend", "spine_side", "spine_twist", "head_roll"):
        pose[name] = pose[name] * 0.5
    return pose.clipped()


def template_pose(rng: np.random.Generator, kind: str) -> BodyPose:
    """A pose of a named kind (see TEMPLATES), jittered, mirrored half of the time, within the limits."""
    if kind not in TEMPLATES:
        raise ValueError(f"unknown pose kind {kind!r}; use one of: {', '.join(TEMPLATES)}, random")
    pose = _apply(rng, TEMPLATES[kind][1](rng), kind)
    jitter = rng.normal(0.0, JITTER_DEG, size=len(ANGLE_NAMES))
    jitter[:2] *= 0.4  # the root: a lying figure stays lying
    pose.angles_deg += jitter
    if rng.random() < 0.5:
        pose = pose.mirrored()
    return pose.clipped()


def sample_pose(rng: np.random.Generator | int, kind: str | None = None, prior=None) -> BodyPose:
    """A kinematic pose within the joint limits.

    kind: a TEMPLATES name or "random"; None draws one (templates by their frequency, random poses
    RANDOM_SHARE of the time, and poses of `prior` (a prior.PosePrior, e.g. of ADD's poses) half of the
    time when given); kind "prior" always draws from the prior.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if kind is None:
        if prior is not None and rng.random() < 0.5:
            return prior.sample(rng)
        if rng.random() < RANDOM_SHARE:
            kind = "random"
        else:
            names = list(TEMPLATES)
            w = np.array([TEMPLATES[n][0] for n in names])
            kind = names[int(rng.choice(len(names), p=w / w.sum()))]
    if kind == "random":
        return random_pose(rng)
    if kind == "prior":
        if prior is None:
            raise ValueError("kind 'prior' needs a pose prior")
        return prior.sample(rng)
    return template_pose(rng, kind)
