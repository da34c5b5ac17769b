"""Mannequin kinematics of the 25-keypoint skeleton: limbs that turn about their joints, a figure that turns
and scales, and body types that change proportions but keep every joint angle. Plain numpy, no Qt.

The skeleton is a tree of rigid segments rooted at the pelvis (the hips' midpoint). Each segment turns
about its pivot and carries the segments below it:

    pelvis --hips (both hips, as one bar)--> knee --> ankle (per side)
           \\-torso (both shoulders)--> elbow --> wrist (per side)
                                     \\-head (nose, eyes, ears), about the neck (the shoulders' midpoint)

Grabbing a joint turns the segment it ends (the wrist turns the forearm about the elbow; a shoulder turns
the torso about the pelvis; an eye turns the head about the neck); grabbing a limb midpoint turns its limb
about the limb's first endpoint. Turning keeps every length. A limb midpoint rides with its limb when both
of its endpoints move with the segment or are its pivot (a rotation about an endpoint leaves a midpoint's
place in its limb unchanged), so midpoints keep following their limbs as the canvas's free moves do.

All functions take and return (25, 2) float arrays in skeleton.KEYPOINT_NAMES order and never write to
their input. Angles are in radians, counter-clockwise in the maths sense of the array's axes (with image
coordinates, y down, a positive angle turns clockwise on screen).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posefinder.models import skeleton

_I = skeleton.INDEX
_N = skeleton.NUM_KEYPOINTS

#: The two virtual joints segments may turn about (not keypoints: means of keypoints).
PELVIS = "pelvis"  # the hips' midpoint: the tree's root
NECK = "neck"  # the shoulders' midpoint
HEAD_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
HEAD_CENTRE = "head_centre"  # the mean of the head's points (body types only)
_VIRTUAL = {PELVIS: ("left_hip", "right_hip"), NECK: ("left_shoulder", "right_shoulder"), HEAD_CENTRE: HEAD_POINTS}


@dataclass(frozen=True)
class Segment:
    """A rigid part of the mannequin: its joints turn together about `pivot` (a keypoint name or PELVIS /
    NECK) and carry the segments named in `children`."""

    name: str
    joints: tuple[str, ...]
    pivot: str
    children: tuple[str, ...] = ()


def _segments() -> dict[str, Segment]:
    segs = [
        Segment("hips", ("left_hip", "right_hip"), PELVIS, ("left_thigh", "right_thigh")),
        Segment("torso", ("left_shoulder", "right_shoulder"), PELVIS, ("head", "left_upper_arm", "right_upper_arm")),
        Segment("head", HEAD_POINTS, NECK),
    ]
    for side in ("left", "right"):
        segs += [
            Segment(f"{side}_upper_arm", (f"{side}_elbow",), f"{side}_shoulder", (f"{side}_forearm",)),
            Segment(f"{side}_forearm", (f"{side}_wrist",), f"{side}_elbow"),
            Segment(f"{side}_thigh", (f"{side}_knee",), f"{side}_hip", (f"{side}_shin",)),
            Segment(f"{side}_shin", (f"{side}_ankle",), f"{side}_knee"),
        ]
    return {s.name: s for s in segs}


#: The mannequin's segments by name; "hips" and "torso" hang from the pelvis.
SEGMENTS: dict[str, Segment] = _segments()

_SEGMENT_OF_JOINT: dict[int, str] = {_I[j]: s.name for s in SEGMENTS.values() for j in s.joints}
for _m, (_a, _b) in skeleton.MIDPOINT_ENDPOINTS.items():
    _SEGMENT_OF_JOINT[_m] = _SEGMENT_OF_JOINT[_b]  # a midpoint turns its limb (pivot: the first endpoint)


def segment_of(joint: int) -> Segment:
    """The segment that turns when `joint` (a keypoint index) is dragged in rotate mode."""
    return SEGMENTS[_SEGMENT_OF_JOINT[int(joint)]]


def _subtree_joints(segment: Segment) -> list[int]:
    out = [_I[j] for j in segment.joints]
    for child in segment.children:
        out += _subtree_joints(SEGMENTS[child])
    return out


def moved_mask(segment: Segment) -> np.ndarray:
    """(25,) bool: the keypoints that turn with `segment`: its joints, those of every segment below it, and
    the limb midpoints whose two endpoints turn with it or are its pivot."""
    mask = np.zeros(_N, dtype=bool)
    mask[_subtree_joints(segment)] = True
    fixed = mask.copy()
    if segment.pivot in _I:
        fixed[_I[segment.pivot]] = True
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        if fixed[a] and fixed[b]:
            mask[m] = True
    return mask


_MOVED: dict[str, np.ndarray] = {}
for _name, _seg in SEGMENTS.items():
    _MOVED[_name] = moved_mask(_seg)
    _MOVED[_name].setflags(write=False)


def point(xy: np.ndarray, name: str) -> np.ndarray:
    """(2,) position of a keypoint or of a virtual joint (PELVIS, NECK) in `xy`."""
    xy = np.asarray(xy, dtype=np.float64)
    if name in _VIRTUAL:
        return xy[[_I[j] for j in _VIRTUAL[name]]].mean(axis=0)
    return xy[_I[name]].copy()


def rotation(angle: float) -> np.ndarray:
    """2x2 matrix turning column vectors by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotated_about(xy: np.ndarray, centre, angle: float, mask: np.ndarray | None = None) -> np.ndarray:
    """A copy of xy with the points of `mask` (default: all) turned by `angle` about `centre`."""
    out = np.array(xy, dtype=np.float64)
    if abs(angle) < 1e-12:
        return out  # exactly unchanged: a drag back to its start leaves no edit
    centre = np.asarray(centre, dtype=np.float64)
    sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)
    out[sel] = (out[sel] - centre) @ rotation(angle).T + centre
    return out


def angle_between(v_from, v_to) -> float:
    """Signed angle (radians, in (-pi, pi]) turning direction v_from onto v_to; 0 when either is ~zero."""
    a, b = np.asarray(v_from, np.float64), np.asarray(v_to, np.float64)
    if float(np.hypot(*a)) < 1e-9 or float(np.hypot(*b)) < 1e-9:
        return 0.0
    return math.atan2(a[0] * b[1] - a[1] * b[0], float(a @ b))


def turn_segment(xy: np.ndarray, segment: Segment, angle: float) -> np.ndarray:
    """Turn `segment` and everything below it by `angle` about its pivot."""
    return rotated_about(xy, point(xy, segment.pivot), angle, _MOVED[segment.name])


def turn_towards(xy: np.ndarray, joint: int, target) -> np.ndarray:
    """Rotate mode: turn the segment `joint` belongs to about its pivot so that `joint` points at `target`,
    keeping every length and carrying the joints below it rigidly. The joint lands on the line from the
    pivot through target, at its old distance from the pivot."""
    segment = segment_of(joint)
    pivot = point(xy, segment.pivot)
    angle = angle_between(np.asarray(xy, np.float64)[int(joint)] - pivot, np.asarray(target, np.float64) - pivot)
    return turn_segment(xy, segment, angle)


def figure_centre(xy: np.ndarray) -> np.ndarray:
    """(2,) the centre of the box around every keypoint: what whole-figure turns and scales keep in place."""
    xy = np.asarray(xy, dtype=np.float64)
    return (xy.min(axis=0) + xy.max(axis=0)) / 2.0


def rotate_figure(xy: np.ndarray, angle: float, centre=None) -> np.ndarray:
    """The whole figure turned by `angle` about `centre` (default: figure_centre)."""
    return rotated_about(xy, figure_centre(xy) if centre is None else centre, angle)


def scale_figure(xy: np.ndarray, factor: float, centre=None) -> np.ndarray:
    """The whole figure scaled by `factor` about `centre` (default: figure_centre); angles unchanged."""
    xy = np.asarray(xy, dtype=np.float64)
    centre = figure_centre(xy) if centre is None else np.asarray(centre, dtype=np.float64)
    return (xy - centre) * float(factor) + centre


# == bones and body types ===========================================================================
#: The mannequin's bones, parent before child: (from, to, body-type length key). `from` may be virtual.
BONES: tuple[tuple[str, str, str], ...] = (
    (PELVIS, NECK, "torso"),
    (PELVIS, "left_hip", "hips"),
    (PELVIS, "right_hip", "hips"),
    (NECK, "left_shoulder", "shoulders"),
    (NECK, "right_shoulder", "shoulders"),
    (NECK, HEAD_CENTRE, "neck"),
    *((HEAD_CENTRE, h, "head") for h in HEAD_POINTS),
    *(
        bone
        for side in ("left", "right")
        for bone in (
            (f"{side}_shoulder", f"{side}_elbow", "upper_arm"),
            (f"{side}_elbow", f"{side}_wrist", "forearm"),
            (f"{side}_hip", f"{side}_knee", "thigh"),
            (f"{side}_knee", f"{side}_ankle", "shin"),
        )
    ),
)


def bone_angles(xy: np.ndarray) -> np.ndarray:
    """(len(BONES),) image-space direction of every bone, in degrees: what a body-type switch keeps."""
    out = []
    for a, b, _ in BONES:
        d = point(xy, b) - point(xy, a)
        out.append(math.degrees(math.atan2(d[1], d[0])))
    return np.array(out)


@dataclass(frozen=True)
class BodyType:
    """Proportions of a body type as factors of the adult's lengths (the presets' figure).

    head: the head's size (its centre to eyes, ears and nose); neck: the shoulders' midpoint to the head's
    centre (a bigger head sits higher); torso: pelvis to the shoulders' midpoint; shoulders, hips: half
    widths; upper_arm, forearm, thigh, shin: the limbs. Only ratios matter: a switch keeps the figure's
    standing height (neck-to-eyes + torso + the longer leg) and its pelvis where they are.
    """

    name: str
    label: str
    head: float = 1.0
    neck: float = 1.0
    torso: float = 1.0
    shoulders: float = 1.0
    hips: float = 1.0
    upper_arm: float = 1.0
    forearm: float = 1.0
    thigh: float = 1.0
    shin: float = 1.0

    def length(self, key: str) -> float:
        return float(getattr(self, key))


#: Body types illustrations use, in menu order. The adult is the presets' anime-proportioned figure
#: (about 7 heads tall); teen ~6.5, child ~5, chibi ~2.5 heads: bigger heads, shorter limbs and torso.
BODY_TYPES: dict[str, BodyType] = {
    b.name: b
    for b in (
        BodyType("adult", "Adult"),
        BodyType("teen", "Teen", head=1.08, neck=1.03, torso=0.95, shoulders=0.9, hips=0.92,
                 upper_arm=0.95, forearm=0.95, thigh=0.95, shin=0.95),
        BodyType("child", "Child", head=1.3, neck=1.1, torso=0.8, shoulders=0.78, hips=0.8,
                 upper_arm=0.75, forearm=0.72, thigh=0.72, shin=0.7),
        BodyType("chibi", "Chibi", head=2.0, neck=1.35, torso=0.5, shoulders=0.72, hips=0.75,
                 upper_arm=0.42, forearm=0.38, thigh=0.36, shin=0.34),
    )
}  # fmt: skip
DEFAULT_BODY_TYPE = "adult"


def body_type(name: str) -> BodyType:
    """The body type called `name`; ValueError naming the body types for an unknown one."""
    if name not in BODY_TYPES:
        raise ValueError(f"unknown body type {name!r}; choose one of: {', '.join(BODY_TYPES)}")
    return BODY_TYPES[name]


def standing_height(xy: np.ndarray) -> float:
    """Neck-to-eyes + pelvis-to-neck + the longer leg's thigh and shin lengths: a figure's height as it
    would stand, whatever its pose."""
    def length(a: str, b: str) -> float:
        return float(np.hypot(*(point(xy, b) - point(xy, a))))

    eyes = (point(xy, "left_eye") + point(xy, "right_eye")) / 2.0
    head = float(np.hypot(*(eyes - point(xy, NECK))))
    legs = max(length(f"{s}_hip", f"{s}_knee") + length(f"{s}_knee", f"{s}_ankle") for s in ("left", "right"))
    return head + length(PELVIS, NECK) + legs


def _limb_coords(xy: np.ndarray) -> dict[int, tuple[float, float]]:
    """(t, s) of each midpoint along and across its limb, in units of the limb's length."""
    out = {}
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        d = xy[b] - xy[a]
        l2 = float(d @ d)
        rel = xy[m] - xy[a]
        out[m] = (0.5, 0.0) if l2 < 1e-12 else (float(rel @ d) / l2, float(rel[0] * -d[1] + rel[1] * d[0]) / l2)
    return out


def with_body_type(xy: np.ndarray, old: BodyType | str, new: BodyType | str) -> np.ndarray:
    """The figure re-proportioned from body type `old` to `new`, keeping the direction of every bone (so
    every joint angle), each bone's length relative to its type (a foreshortened limb stays
    foreshortened), the pelvis and the standing height. Midpoints keep their place along their limbs."""
    old = body_type(old) if isinstance(old, str) else old
    new = body_type(new) if isinstance(new, str) else new
    src = np.asarray(xy, dtype=np.float64)
    places = _limb_coords(src)
    pos_old = {name: point(src, name) for name in _VIRTUAL}
    pos_new = {PELVIS: pos_old[PELVIS]}
    for a, b, key in BONES:
        if b not in pos_old:
            pos_old[b] = src[_I[b]]
        ratio = new.length(key) / old.length(key)
        pos_new[b] = pos_new[a] + (pos_old[b] - pos_old[a]) * ratio
    out = src.copy()
    for name, p in pos_new.items():
        if name in _I:
            out[_I[name]] = p
    height = standing_height(out)
    if height > 1e-9:
        out = scale_figure(out, standing_height(src) / height, pos_new[PELVIS])
    for m, (t, s) in places.items():
        a, b = skeleton.MIDPOINT_ENDPOINTS[m]
        d = out[b] - out[a]
        out[m] = out[a] + t * d + s * np.array([-d[1], d[0]])
    return out
