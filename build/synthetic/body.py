"""The figure's 3D body: capsules, ellipsoids and convex hulls around the kinematic skeleton, its clothes and
hair, and the 3D positions of the COCO keypoints (joint centres, and the face points on the head's surface).

Parts are the drawing primitives: a capsule (a cone between two spheres: limbs, neck), an ellipsoid (head,
hands, feet, joints, eyes) or a convex hull of points (torso, skirt, cape, scarf). Parts marked `occluder`
are the solid body that hides keypoints; the torso hulls are stood in for by two ellipsoids there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posefinder.build.synthetic.geometry import cross, frame_from_axis, unit
from posefinder.build.synthetic.kinematics import SIDES, Proportions, Skeleton3D
from posefinder.build.synthetic.style import HAIR_STYLES, Outfit
from posefinder.models import skeleton


@dataclass
class Part:
    """One drawing primitive of the figure, in the body frame."""

    name: str
    kind: str  # "capsule", "ellipsoid" or "hull"
    material: str
    a: np.ndarray | None = None  # capsule ends and radii
    b: np.ndarray | None = None
    ra: float = 0.0
    rb: float = 0.0
    center: np.ndarray | None = None  # ellipsoid: centre and 3x3 matrix whose columns are the semi-axes
    axes: np.ndarray | None = None
    points: np.ndarray | None = None  # hull: (N, 3)
    draw: bool = True
    occluder: bool = False  # hides keypoints behind it
    after: tuple[str, ...] = ()  # drawn right after the last drawn of these parts
    before: tuple[str, ...] = ()  # drawn no later than just before the first of these
    group: str | None = None  # "head": ordered by the head's own rule
    outline: bool = True
    shade: bool = True
    normal: np.ndarray | None = None  # drawn only when this normal faces the camera by at least `min_facing`
    min_facing: float = 0.0
    front_only: bool = False  # drawn only when the chest faces the camera (a cape hangs behind)

    def anchor(self) -> np.ndarray:
        """A representative 3D point for depth sorting."""
        if self.kind == "capsule":
            return (required(self.a, "a") + required(self.b, "b")) / 2
        if self.kind == "ellipsoid":
            return required(self.center, "center")
        return required(self.points, "points").mean(axis=0)


def required(value: np.ndarray | None, field_name: str) -> np.ndarray:
    """A geometry field that a part's or shape's kind has (each kind sets only its own: ends and radii,
    centre and axes, or points); ValueError where it is missing, for a part or shape built wrong."""
    if value is None:
        raise ValueError(f"a body part or shape of this kind needs its {field_name!r}")
    return value


def capsule(name, a, b, ra, rb, material, **kw) -> Part:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return Part(name, "capsule", material, a=a, b=b, ra=float(ra), rb=float(rb), **kw)


def ellipsoid(name, center, R, semi, material, **kw) -> Part:
    axes = np.asarray(R, float) * np.asarray(semi, float)[None, :]
    return Part(name, "ellipsoid", material, center=np.asarray(center, float), axes=axes, **kw)


def sphere(name, center, r, material, **kw) -> Part:
    return ellipsoid(name, center, np.eye(3), (r, r, r), material, **kw)


def hull(name, points, material, **kw) -> Part:
    return Part(name, "hull", material, points=np.asarray(points, float).reshape(-1, 3), **kw)


def ring(origin, R, y, hw, hd, n=12) -> np.ndarray:
    """n points of a horizontal ellipse (half width hw along x, half depth hd along z) at height y of frame R."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    local = np.stack([hw * np.cos(t), np.full(n, y), hd * np.sin(t)], axis=1)
    return origin + local @ np.asarray(R).T


def ring_around(center, axis, hint, rx, ry, n=12) -> np.ndarray:
    """n points of an ellipse around `axis` through `center`, half axes rx (along hint) and ry."""
    F = frame_from_axis(axis, hint)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + np.outer(rx * np.cos(t), F[:, 0]) + np.outer(ry * np.sin(t), F[:, 1])


@dataclass
class Body:
    """The parts to draw, and the keypoints: (17, 3) COCO points in the body frame with, for the 25-point
    skeleton, the radius of the body around each keypoint (how far in front of it a surface must be to hide it)."""

    parts: list[Part]
    keypoints3d: np.ndarray  # (17, 3) COCO order
    keypoint_radius: np.ndarray  # (25,) skeleton order
    keypoint_tolerance: np.ndarray  # (25,) extra depth a hiding surface needs, beyond the radius
    keypoint_parts: list[tuple[str, ...]]  # (25,) the parts each keypoint joins, which never hide it
    head_forward: np.ndarray  # (3,) the face's direction
    chest_forward: np.ndarray  # (3,)
    extra: dict = field(default_factory=dict)


def _head_surface(center, R, semi, x, y, out=0.0) -> np.ndarray:
    """The point of the head ellipsoid's front surface at local (x, y) (fractions of the semi axes)."""
    z = np.sqrt(max(1e-6, 1.0 - x * x - y * y)) + out
    return center + R @ (np.array([x, y, z]) * semi)


def _head_normal(R, semi, x, y) -> np.ndarray:
    z = np.sqrt(max(1e-6, 1.0 - x * x - y * y))
    return unit(R @ (np.array([x, y, z]) / semi))


def build_body(sk: Skeleton3D, prop: Proportions, outfit: Outfit, rng: np.random.Generator) -> Body:
    """The parts of a figure with these proportions and this look, posed as the skeleton is."""
    P, F = sk.points, sk.frames
    Rp, Rc, Rh = F["pelvis"], F["chest"], F["head"]
    T = prop.torso_len
    man = outfit.mannequin
    parts: list[Part] = []

    def mat(default: str, when_clothed: str | None) -> str:
        return default if (man or when_clothed is None) else when_clothed

    # -- torso -----------------------------------------------------------------------------------------
    up = (1.0 - prop.waist_frac) * T
    chest_hw = prop.shoulder_w / 2 * 0.8
    waist_hd = prop.pelvis_hd * 0.88
    hip_hw = prop.hip_w / 2 + 0.85 * prop.r_hip
    upper = np.concatenate([
        ring(P["waist"], Rc, 0.0, prop.waist_hw, waist_hd),
        ring(P["waist"], Rc, 0.45 * up, chest_hw, prop.chest_hd),
        ring(P["waist"], Rc, up - 0.12 * T, chest_hw * 0.93, prop.chest_hd * 0.85),
        ring(P["waist"], Rc, up, prop.r_neck * 1.6, prop.r_neck * 1.25),
    ])  # fmt: skip
    top_mat = "skin" if man else "top"
    parts.append(hull("chest", upper, top_mat))
    bottom_mat = "skin" if man else ("bottom" if outfit.legwear != "none" else "top")
    lower = np.concatenate([
        ring(P["pelvis"], Rp, prop.waist_frac * T, prop.waist_hw, waist_hd),
        ring(P["pelvis"], Rp, 0.02 * T, hip_hw, prop.pelvis_hd),
        ring(P["pelvis"], Rp, -0.09 * T, prop.hip_w / 2 * 0.75, prop.pelvis_hd * 0.7),
    ])  # fmt: skip
    parts.append(hull("pelvis", lower, bottom_mat))
    parts.append(ellipsoid("chest_solid", P["waist"] + Rc @ [0, 0.5 * up, 0], Rc, (chest_hw, 0.5 * up, prop.chest_hd),
                           "skin", draw=False, occluder=True))  # fmt: skip
    y0, y1 = -0.09 * T, prop.waist_frac * T
    parts.append(ellipsoid("pelvis_solid", Rp @ [0, (y0 + y1) / 2, 0], Rp, (hip_hw, (y1 - y0) / 2, prop.pelvis_hd),
                           "skin", draw=False, occluder=True))  # fmt: skip

    # -- neck and head ---------------------------------------------------------------------------------
    hs = np.array([prop.head_w / 2, prop.head_h / 2, prop.head_d / 2])
    parts.append(capsule("neck", P["neck_base"] - Rc[:, 1] * 0.03 * T, P["neck_top"] + Rh[:, 1] * 0.15 * hs[1],
                         prop.r_neck, prop.r_neck * 0.92, "skin", occluder=True, group="head"))  # fmt: skip
    parts.append(ellipsoid("head", P["head"], Rh, hs, "skin", occluder=True, group="head"))
    # face points (fractions of the semi axes, x towards the character's left)
    eye_x, eye_y = 0.36, -0.1
    # face points sit just under the surface, so that in profile they stay inside the drawn head
    nose = _head_surface(P["head"], Rh, hs, 0.0, -0.32, out=-0.04)
    sides = (("left", 1), ("right", -1))
    eyes = {s: _head_surface(P["head"], Rh, hs, sgn * eye_x, eye_y, out=-0.07) for s, sgn in sides}
    ears = {s: P["head"] + Rh @ (np.array([sgn * 0.95, -0.12, -0.05]) * hs) for s, sgn in (("left", 1), ("right", -1))}
    for s, sgn in (("left", 1), ("right", -1)):
        n = _head_normal(Rh, hs, sgn * eye_x, eye_y)
        E = frame_from_axis(n, Rh[:, 0])
        w, h = (0.17, 0.24) if not man else (0.11, 0.11)
        on_face = _head_surface(P["head"], Rh, hs, sgn * eye_x, eye_y)
        parts.append(ellipsoid(f"{s}_eye", on_face, E, (w * hs[0], h * hs[0], 0.005), "eye", group="head",
                               outline=False, shade=False, normal=n, min_facing=0.12))  # fmt: skip
        if not man:
            shine = on_face + E @ np.array([0.0, 0.09 * hs[0], 0.004])
            parts.append(ellipsoid(f"{s}_eye_shine", shine, E, (0.055 * hs[0], 0.06 * hs[0], 0.004), "eye_white",
                                   group="head", outline=False, shade=False, normal=n, min_facing=0.12))  # fmt: skip
        if outfit.hair in ("short", "bald"):
            parts.append(ellipsoid(f"{s}_ear", ears[s], Rh, (0.05 * hs[0], 0.2 * hs[1], 0.14 * hs[2]), "skin",
                                   group="head", normal=Rh[:, 0] * sgn, min_facing=0.1))  # fmt: skip
    if not man:
        mouth = _head_surface(P["head"], Rh, hs, 0.0, -0.58)
        nm = _head_normal(Rh, hs, 0.0, -0.58)
        parts.append(ellipsoid("mouth", mouth, frame_from_axis(nm, Rh[:, 0]), (0.12 * hs[0], 0.03 * hs[0], 0.004),
                               "mouth", group="head", outline=False, shade=False, normal=nm,
                               min_facing=0.2))  # fmt: skip
    if outfit.hair != "bald" and not man:
        style = HAIR_STYLES[outfit.hair]
        parts.append(ellipsoid("hair", P["head"] + Rh @ (np.array(style.shell_offset) * hs), Rh,
                               np.array(style.shell_scale) * hs, "hair", group="head"))  # fmt: skip
        if outfit.hair == "long":
            world_down = np.array([0.0, -1.0, 0.0])
            fall = unit(0.55 * world_down - 0.45 * Rc[:, 1])
            top = P["head"] - Rh[:, 2] * 0.45 * hs[2] + Rh[:, 1] * 0.1 * hs[1]
            back = -Rc[:, 2] * (prop.chest_hd * 0.9)
            bottom = top + back + fall * outfit.hair_length * prop.head_h
            parts.append(capsule("hair_long", top, bottom, 0.95 * hs[0], hs[0] * rng.uniform(0.55, 1.0), "hair",
                                 before=("neck",)))  # fmt: skip

    # -- arms and legs ---------------------------------------------------------------------------------
    sleeves = outfit.sleeves
    radius = {}
    for s in SIDES:
        sh, el, wr, hand = P[f"{s}_shoulder"], P[f"{s}_elbow"], P[f"{s}_wrist"], P[f"{s}_hand"]
        parts.append(sphere(f"{s}_shoulder_ball", sh, prop.r_shoulder * 1.02,
                            mat("skin", "top" if sleeves != "none" else None), occluder=True))  # fmt: skip
        arm_mat = mat("skin", "top" if sleeves == "long" else None)
        parts.append(capsule(f"{s}_upper_arm", sh, el, prop.r_shoulder, prop.r_elbow, arm_mat, occluder=True))
        parts.append(capsule(f"{s}_forearm", el, wr, prop.r_elbow, prop.r_wrist, arm_mat, occluder=True))
        hd, hn = sk.limb_axes[f"{s}_hand"]
        side_axis = unit(cross(hd, hn))
        Rhand = np.stack([side_axis, hn, hd], axis=1)
        parts.append(ellipsoid(f"{s}_hand", (wr + hand) / 2 + hd * 0.02 * prop.hand, Rhand,
                               (0.21 * prop.hand, 0.1 * prop.hand, 0.52 * prop.hand), "skin",
                               occluder=True))  # fmt: skip
        if not man and sleeves == "short":
            f = outfit.sleeve_length
            r_end = prop.r_shoulder + (prop.r_elbow - prop.r_shoulder) * f
            k = outfit.sleeve_scale
            parts.append(capsule(f"{s}_sleeve", sh, sh + (el - sh) * f, prop.r_shoulder * k, r_end * k, "top",
                                 after=(f"{s}_upper_arm", f"{s}_shoulder_ball")))  # fmt: skip
        if not man and sleeves == "long":
            parts.append(capsule(f"{s}_cuff", wr + (el - wr) * 0.14, wr + (el - wr) * 0.02, prop.r_wrist * 1.45,
                                 prop.r_wrist * 1.4, "cuff", after=(f"{s}_forearm",)))  # fmt: skip
        hip, kn, an, _toe = P[f"{s}_hip"], P[f"{s}_knee"], P[f"{s}_ankle"], P[f"{s}_toe"]
        leg_mat = mat("skin", "bottom" if outfit.legwear == "trousers" else None)
        parts.append(capsule(f"{s}_thigh", hip, kn, prop.r_hip, prop.r_knee, leg_mat, occluder=True))
        parts.append(capsule(f"{s}_shin", kn, an, prop.r_knee, prop.r_ankle, leg_mat, occluder=True))
        fd, fn = sk.limb_axes[f"{s}_foot"]
        Rfoot = np.stack([unit(cross(fn, fd)), -fn, fd], axis=1)
        parts.append(ellipsoid(f"{s}_foot", an + fd * 0.33 * prop.foot + fn * 0.8 * prop.ankle_h, Rfoot,
                               (0.2 * prop.foot, 0.5 * prop.ankle_h + 0.03 * prop.foot, 0.56 * prop.foot),
                               mat("skin", "shoes"), occluder=True))  # fmt: skip
        if not man and outfit.legwear == "shorts":
            f = outfit.shorts_length
            r_end = prop.r_hip + (prop.r_knee - prop.r_hip) * f
            parts.append(capsule(f"{s}_shorts", hip, hip + (kn - hip) * f, prop.r_hip * 1.1, r_end * 1.15, "bottom",
                                 after=(f"{s}_thigh",)))  # fmt: skip
        if not man and outfit.boots:
            f = outfit.boot_height
            r_top = prop.r_ankle + (prop.r_knee - prop.r_ankle) * f
            parts.append(capsule(f"{s}_boot", an, an + (kn - an) * f, prop.r_ankle * 1.25, r_top * 1.18, "shoes",
                                 after=(f"{s}_shin",)))  # fmt: skip
        if man:
            for j, r, adj in (("elbow", prop.r_elbow * 1.12, ("upper_arm", "forearm")),
                              ("wrist", prop.r_wrist * 1.15, ("forearm", "hand")),
                              ("knee", prop.r_knee * 1.1, ("thigh", "shin")),
                              ("ankle", prop.r_ankle * 1.15, ("shin", "foot"))):  # fmt: skip
                parts.append(sphere(f"{s}_{j}_ball", P[f"{s}_{j}"], r, "joint", after=tuple(f"{s}_{x}" for x in adj)))
        for joint, r in (("shoulder", prop.r_shoulder), ("elbow", prop.r_elbow), ("wrist", prop.r_wrist),
                         ("hip", prop.r_hip), ("knee", prop.r_knee), ("ankle", prop.r_ankle)):  # fmt: skip
            radius[f"{s}_{joint}"] = r

    # -- clothes over the body -------------------------------------------------------------------------
    if not man and outfit.legwear == "skirt":
        f = outfit.skirt_length
        top_c = P["pelvis"] + Rp @ [0, prop.waist_frac * T * 0.85, 0]
        pl = P["left_hip"] + (P["left_knee"] - P["left_hip"]) * f
        pr = P["right_hip"] + (P["right_knee"] - P["right_hip"]) * f
        r_f = prop.r_hip + (prop.r_knee - prop.r_hip) * f
        flare = rng.uniform(0.0, 0.05) * f if outfit.skirt_flare is None else outfit.skirt_flare
        c = (pl + pr) / 2
        rx = np.linalg.norm(pl - pr) / 2 + r_f * 1.25 + flare
        ry = r_f * 1.25 + flare * 0.8
        pts = np.concatenate([
            ring(top_c, Rp, 0.0, prop.waist_hw * 1.08, waist_hd * 1.1),
            ring_around(c, c - top_c, pl - pr, rx, ry),
        ])  # fmt: skip
        parts.append(hull("skirt", pts, "bottom", after=("pelvis", "left_thigh", "right_thigh")))
    if not man and outfit.cape:
        back = -Rc[:, 2] * (prop.chest_hd + 0.01)
        down = np.array([0.0, -1.0, 0.0])
        top_l, top_r = P["left_shoulder"] + back, P["right_shoulder"] + back
        spread = (top_l - top_r) * 0.25
        L = outfit.cape_length
        pts = [top_l, top_r, top_r + down * L - spread - Rc[:, 2] * 0.03, top_l + down * L + spread - Rc[:, 2] * 0.03]
        parts.append(hull("cape", pts, "cape", front_only=True))
    if not man and outfit.scarf:
        c = P["neck_base"] + Rc[:, 1] * 0.01
        r = prop.r_neck
        pts = np.concatenate([ring(c, Rc, -0.6 * r, 1.9 * r, 1.7 * r), ring(c, Rc, 0.9 * r, 1.6 * r, 1.5 * r)])
        parts.append(hull("scarf", pts, "scarf", after=("chest", "neck")))
        start = c + Rc[:, 2] * 1.3 * r + Rc[:, 0] * 0.8 * r
        end = start + unit(np.array([0.0, -1.0, 0.0]) * 0.7 - Rc[:, 1] * 0.3) * rng.uniform(0.12, 0.3)
        parts.append(capsule("scarf_tail", start, end + Rc[:, 2] * prop.chest_hd * 0.5, 0.75 * r, 0.6 * r, "scarf",
                             after=("scarf",)))  # fmt: skip

    # -- keypoints -------------------------------------------------------------------------------------
    coco = np.zeros((skeleton.NUM_COCO, 3))
    coco[skeleton.INDEX["nose"]] = nose
    for s in SIDES:
        coco[skeleton.INDEX[f"{s}_eye"]] = eyes[s]
        coco[skeleton.INDEX[f"{s}_ear"]] = ears[s]
        for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            coco[skeleton.INDEX[f"{s}_{j}"]] = P[f"{s}_{j}"]
    rad = np.zeros(skeleton.NUM_KEYPOINTS)
    tol = np.zeros(skeleton.NUM_KEYPOINTS)
    for name, r in radius.items():
        rad[skeleton.INDEX[name]] = r
        tol[skeleton.INDEX[name]] = 0.5 * r
    for face in ("left_eye", "right_eye"):
        tol[skeleton.INDEX[face]] = 0.12 * prop.head_w
    tol[skeleton.INDEX["nose"]] = 0.2 * prop.head_w  # in profile the cheek's surface is a little in front of it
    for ear in ("left_ear", "right_ear"):
        tol[skeleton.INDEX[ear]] = 0.3 * prop.head_w
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        rad[m] = (rad[a] + rad[b]) / 2
        tol[m] = 0.5 * rad[m]
    own: list[tuple[str, ...]] = [()] * skeleton.NUM_KEYPOINTS
    for s in SIDES:
        for joint, names in (("shoulder", ("upper_arm", "shoulder_ball")), ("elbow", ("upper_arm", "forearm")),
                             ("wrist", ("forearm", "hand")), ("hip", ("thigh",)), ("knee", ("thigh", "shin")),
                             ("ankle", ("shin", "foot")), ("upper_arm", ("upper_arm",)), ("forearm", ("forearm",)),
                             ("thigh", ("thigh",)), ("shin", ("shin",))):  # fmt: skip
            own[skeleton.INDEX[f"{s}_{joint}"]] = tuple(f"{s}_{n}" for n in names)
    return Body(parts=parts, keypoints3d=coco, keypoint_radius=rad, keypoint_tolerance=tol, keypoint_parts=own,
                head_forward=Rh[:, 2].copy(), chest_forward=Rc[:, 2].copy())  # fmt: skip
