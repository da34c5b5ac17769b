"""The Qt-free mannequin kinematics: segments turning about their pivots, the whole figure, body types."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posefinder.models import skeleton
from posefinder.models.editing import mannequin as m

I = skeleton.INDEX  # noqa: E741


def figure(seed: int = 0) -> np.ndarray:
    """A standing figure (unit height, y down) with jittered joints and midpoints on their limbs."""
    rng = np.random.default_rng(seed)
    xy = np.zeros((25, 2))
    table = {
        "nose": (0, -0.86), "left_eye": (0.03, -0.89), "right_eye": (-0.03, -0.89), "left_ear": (0.06, -0.88),
        "right_ear": (-0.06, -0.88), "left_shoulder": (0.09, -0.72), "right_shoulder": (-0.09, -0.72),
        "left_elbow": (0.12, -0.55), "right_elbow": (-0.12, -0.55), "left_wrist": (0.14, -0.41),
        "right_wrist": (-0.14, -0.41), "left_hip": (0.06, -0.42), "right_hip": (-0.06, -0.42),
        "left_knee": (0.07, -0.16), "right_knee": (-0.07, -0.16), "left_ankle": (0.07, 0.1),
        "right_ankle": (-0.07, 0.1),
    }  # fmt: skip
    for name, p in table.items():
        xy[I[name]] = p
    xy[: skeleton.NUM_COCO] += rng.normal(0, 0.02, (skeleton.NUM_COCO, 2))
    for mid, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        xy[mid] = (xy[a] + xy[b]) / 2
    return xy * 300 + 256


def dist(xy, a, b) -> float:
    return float(np.hypot(*(m.point(xy, a) - m.point(xy, b))))


def all_pairs(xy, idx) -> np.ndarray:
    pts = xy[idx]
    return np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))


def test_the_tree_is_rooted_at_the_pelvis_and_covers_every_joint_once():
    owned = [j for s in m.SEGMENTS.values() for j in s.joints]
    assert sorted(owned) == sorted(skeleton.COCO17_NAMES)
    roots = [s for s in m.SEGMENTS.values() if s.pivot == m.PELVIS]
    assert {s.name for s in roots} == {"hips", "torso"}
    assert m.segment_of(I["left_wrist"]).pivot == "left_elbow"
    assert m.segment_of(I["left_forearm"]).name == "left_forearm"  # a midpoint turns its limb
    assert m.segment_of(I["right_eye"]).pivot == m.NECK
    torso = m.moved_mask(m.SEGMENTS["torso"])
    assert torso[[I[n] for n in ("nose", "left_wrist", "right_upper_arm", "right_forearm")]].all()
    assert not torso[[I[n] for n in ("left_hip", "left_knee", "left_thigh")]].any()


@pytest.mark.parametrize("joint", ["left_wrist", "right_elbow", "left_knee", "right_ankle", "left_shoulder",
                                   "nose", "left_hip", "left_forearm", "right_thigh"])  # fmt: skip
def test_turning_towards_a_target_keeps_lengths_and_carries_the_subtree_rigidly(joint):
    xy = figure(1)
    seg = m.segment_of(I[joint])
    pivot = m.point(xy, seg.pivot)
    target = pivot + np.array([37.0, -81.0])
    out = m.turn_towards(xy, I[joint], target)
    moved = m.moved_mask(seg)
    # the joint lies on the ray from the pivot to the target, at its old distance
    v = out[I[joint]] - pivot
    assert math.atan2(v[1], v[0]) == pytest.approx(math.atan2(-81.0, 37.0), abs=1e-9)
    assert np.hypot(*v) == pytest.approx(np.hypot(*(xy[I[joint]] - pivot)), abs=1e-9)
    group = np.flatnonzero(moved)
    np.testing.assert_allclose(all_pairs(out, group), all_pairs(xy, group), atol=1e-9)
    np.testing.assert_array_equal(out[~moved], xy[~moved])
    np.testing.assert_allclose(m.point(out, seg.pivot), pivot, atol=1e-9)
    for mid, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():  # midpoints stay on their limbs
        np.testing.assert_allclose(out[mid], (out[a] + out[b]) / 2, atol=1e-9)


def test_a_turn_to_where_the_joint_already_points_changes_nothing_exactly():
    xy = figure(2)
    out = m.turn_towards(xy, I["left_wrist"], xy[I["left_wrist"]] * 1.0)
    np.testing.assert_array_equal(out, xy)
    assert out is not xy


def test_the_whole_figure_turns_and_scales_about_its_centre():
    xy = figure(3)
    c = m.figure_centre(xy)
    turned = m.rotate_figure(xy, math.pi)
    np.testing.assert_allclose(turned, 2 * c - xy, atol=1e-9)  # 180 degrees: a point reflection
    q = m.rotate_figure(xy, math.pi / 2)
    np.testing.assert_allclose(all_pairs(q, np.arange(25)), all_pairs(xy, np.arange(25)), atol=1e-9)
    big = m.scale_figure(xy, 1.5)
    np.testing.assert_allclose(big - c, (xy - c) * 1.5, atol=1e-9)
    np.testing.assert_allclose(m.bone_angles(big), m.bone_angles(xy), atol=1e-9)


def test_body_types_keep_every_bone_direction_the_pelvis_and_the_height():
    xy = figure(4)
    xy = m.turn_towards(xy, I["left_elbow"], m.point(xy, "left_shoulder") + (50, -40))
    for name in m.BODY_TYPES:
        out = m.with_body_type(xy, "adult", name)
        diff = (m.bone_angles(out) - m.bone_angles(xy) + 180) % 360 - 180
        assert np.abs(diff).max() < 1e-6, name
        np.testing.assert_allclose(m.point(out, m.PELVIS), m.point(xy, m.PELVIS), atol=1e-9)
        assert m.standing_height(out) == pytest.approx(m.standing_height(xy))
        back = m.with_body_type(out, name, "adult")
        np.testing.assert_allclose(back, xy, atol=1e-9)  # switching back restores the figure


def test_body_types_change_proportions_as_illustrations_draw_them():
    xy = figure(5)

    def head_per_leg(p):
        return dist(p, "left_ear", "right_ear") / (dist(p, "left_hip", "left_knee") + dist(p, "left_knee", "left_ankle"))

    ratios = [head_per_leg(m.with_body_type(xy, "adult", n)) for n in ("adult", "teen", "child", "chibi")]
    assert ratios == sorted(ratios) and ratios[-1] > 3 * ratios[0]  # the head grows against the legs
    # a foreshortened limb stays foreshortened: every bone keeps its length relative to its type
    short = xy.copy()
    short[I["left_wrist"]] = short[I["left_elbow"]] + 0.5 * (xy[I["left_wrist"]] - xy[I["left_elbow"]])
    a, b = m.with_body_type(xy, "adult", "child"), m.with_body_type(short, "adult", "child")
    fa = dist(a, "left_elbow", "left_wrist") / dist(a, "left_shoulder", "left_elbow")
    fb = dist(b, "left_elbow", "left_wrist") / dist(b, "left_shoulder", "left_elbow")
    assert fb == pytest.approx(0.5 * fa)
    with pytest.raises(ValueError, match="unknown body type"):
        m.body_type("giant")
