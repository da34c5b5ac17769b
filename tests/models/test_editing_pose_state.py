"""The canvas's skeleton state without Qt: midpoints following limbs, mirror, placing absent joints."""

from __future__ import annotations

import numpy as np

from posefinder.models.editing import presets
from posefinder.models.editing.pose_state import SkeletonState, place_missing, similarity_fit
from posefinder.models import skeleton
from posefinder.models.pose import Pose

I = skeleton.INDEX  # noqa: E741


def standing() -> np.ndarray:
    return presets.fit_into(presets.preset_keypoints("standing"), (512, 512))


def test_absent_joints_are_placed_by_the_template_fitted_to_the_present_ones():
    template = standing()
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    seen_from_behind = template * [-1, 1]  # a mirror image: the fit may reflect
    target = 0.7 * seen_from_behind @ rot.T + [40, -15]
    present = np.zeros(25, bool)
    present[[I["left_shoulder"], I["right_hip"], I["nose"], I["left_knee"]]] = True
    placed = place_missing(np.where(present[:, None], target, 0.0), present, template)
    np.testing.assert_allclose(placed, target, atol=1e-6)
    scale, _, _ = similarity_fit(template, target)
    assert abs(scale - 0.7) < 1e-9


def test_one_or_no_present_joint():
    template = standing()
    xy = np.zeros((25, 2))
    present = np.zeros(25, bool)
    np.testing.assert_array_equal(place_missing(xy, present, template), template)
    present[I["nose"]] = True
    xy[I["nose"]] = (10, 20)
    placed = place_missing(xy, present, template)
    np.testing.assert_allclose(placed - template, np.tile(np.array([10, 20]) - template[I["nose"]], (25, 1)))


def test_from_pose_switches_absent_joints_off_and_keeps_visibility():
    kp = np.c_[standing(), np.full(25, 2.0)]
    kp[I["left_ankle"]] = 0
    kp[I["left_shin"]] = 0
    kp[I["right_wrist"], 2] = 1
    state = SkeletonState.from_pose(Pose(keypoints=kp), standing())
    assert not state.on[I["left_ankle"]] and not state.on[I["left_shin"]] and state.on.sum() == 23
    assert state.visibility[I["right_wrist"]] == 1 and state.visibility[I["left_ankle"]] == 2
    np.testing.assert_allclose(state.xy[I["left_ankle"]], standing()[I["left_ankle"]], atol=1e-6)


def test_mirroring_twice_is_the_identity_and_swaps_sides():
    state = SkeletonState.from_xy(presets.fit_into(presets.preset_keypoints("running"), (512, 512)))
    state = state.with_toggled(I["left_elbow"]).with_joint_moved(I["right_thigh"], (200.0, 300.0))
    once = state.mirrored()
    assert once.on[I["left_elbow"]] and not once.on[I["right_elbow"]]
    assert once.pinned[I["left_thigh"]] and not once.pinned[I["right_thigh"]]
    twice = once.mirrored()
    np.testing.assert_allclose(twice.xy, state.xy, atol=1e-9)
    np.testing.assert_array_equal(twice.on, state.on)
    np.testing.assert_array_equal(twice.pinned, state.pinned)


def test_states_are_read_only():
    state = SkeletonState.from_xy(standing())
    for arr in (state.xy, state.on, state.pinned, state.visibility, state.limb_frame):
        assert not arr.flags.writeable
    moved = state.with_joint_moved(I["nose"], (1.0, 2.0))
    assert state.xy[I["nose"]].tolist() != [1.0, 2.0] and moved.xy[I["nose"]].tolist() == [1.0, 2.0]
