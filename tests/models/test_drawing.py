"""Drawing poses: the skeleton overlay and ControlNet's OpenPose render."""

from __future__ import annotations

import numpy as np
import pytest

from library_helpers import random_pose
from posefinder.models import skeleton
from posefinder.models.drawing import OPENPOSE_COLORS, draw_skeleton, render_openpose

pytestmark = pytest.mark.torchfree


def test_draw_skeleton_marks_joints_and_leaves_the_input_alone():
    pose = random_pose(np.random.default_rng(1))
    image = np.zeros((600, 400, 3), np.uint8)
    out = draw_skeleton(image, pose)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert image.max() == 0  # a copy
    for i in np.flatnonzero(pose.present):
        x, y = np.round(pose.xy[i]).astype(int)
        if 0 <= x < 400 and 0 <= y < 600:
            assert out[y, x].max() > 0


def test_draw_skeleton_respects_the_joint_mask():
    pose = random_pose(np.random.default_rng(2))
    only = np.zeros(skeleton.NUM_KEYPOINTS, bool)
    only[skeleton.INDEX["nose"]] = True
    out = draw_skeleton(np.zeros((600, 400, 3), np.uint8), pose, joints=only)
    x, y = np.round(pose.xy[skeleton.INDEX["left_ankle"]]).astype(int)
    assert out[y, x].max() == 0
    x, y = np.round(pose.xy[skeleton.INDEX["nose"]]).astype(int)
    assert out[y, x].max() > 0


def test_render_openpose_draws_coloured_joints_on_black():
    pose = random_pose(np.random.default_rng(3))
    out = render_openpose(pose, (400, 600))
    assert out.shape == (600, 400, 3)
    assert out[0, 0].tolist() == [0, 0, 0]
    x, y = np.round(pose.xy[skeleton.INDEX["nose"]]).astype(int)
    assert tuple(out[y, x]) == OPENPOSE_COLORS[0]
