import numpy as np
import pytest

from posefinder.models import skeleton

pytestmark = pytest.mark.torchfree


def test_order_and_counts():
    assert skeleton.NUM_KEYPOINTS == 25
    assert skeleton.KEYPOINT_NAMES[:17] == skeleton.COCO17_NAMES
    assert skeleton.KEYPOINT_NAMES[0] == "nose" and skeleton.KEYPOINT_NAMES[16] == "right_ankle"
    assert skeleton.KEYPOINT_NAMES[17:] == (
        "left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm",
        "left_thigh", "right_thigh", "left_shin", "right_shin",
    )  # fmt: skip


def test_flip_index_is_an_involution_that_swaps_sides():
    f = skeleton.FLIP_INDEX
    assert np.array_equal(f[f], np.arange(25))
    for i, name in enumerate(skeleton.KEYPOINT_NAMES):
        other = skeleton.KEYPOINT_NAMES[f[i]]
        if skeleton.side(name) == "center":
            assert other == name
        else:
            assert skeleton.side(other) != skeleton.side(name)
            assert other.split("_", 1)[1] == name.split("_", 1)[1]
    assert len(skeleton.FLIP_PAIRS) == 12


def test_sigmas_coco_and_midpoint_means():
    s = skeleton.OKS_SIGMAS
    assert s.shape == (25,)
    assert s[0] == pytest.approx(0.026) and s[11] == pytest.approx(0.107)
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        assert s[m] == pytest.approx((s[a] + s[b]) / 2)
    assert s[skeleton.INDEX["left_thigh"]] == pytest.approx((0.107 + 0.087) / 2)


def test_limbs_reach_every_keypoint():
    touched = {i for limb in skeleton.LIMBS for i in limb}
    assert touched == set(range(25))


def test_fill_midpoints_needs_both_endpoints():
    kp17 = np.zeros((17, 3))
    kp17[5] = (10, 20, 2)  # left shoulder
    kp17[7] = (30, 40, 1)  # left elbow
    kp17[8] = (0, 0, 0)
    kp = skeleton.midpoints_from_endpoints(kp17)
    assert tuple(kp[skeleton.INDEX["left_upper_arm"]]) == (20, 30, 1)
    assert kp[skeleton.INDEX["right_upper_arm"], 2] == 0


def test_resolve_names_accepts_groups_and_rejects_unknown():
    idx = skeleton.resolve_names("legs, nose")
    assert skeleton.INDEX["nose"] in idx and skeleton.INDEX["left_shin"] in idx
    assert skeleton.INDEX["left_wrist"] not in idx
    with pytest.raises(ValueError, match="unknown joint"):
        skeleton.resolve_names("tail")
