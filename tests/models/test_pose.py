import numpy as np
import pytest

from posefinder.models import skeleton
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree


def _pose():
    kp = np.zeros((25, 3))
    kp[skeleton.INDEX["left_wrist"]] = (10, 50, 2)
    kp[skeleton.INDEX["right_wrist"]] = (90, 60, 1)
    kp[skeleton.INDEX["nose"]] = (50, 5, 2)
    return Pose(kp, image_size=(100, 100))


def test_mirrored_flips_x_and_swaps_labels():
    m = _pose().mirrored()
    assert tuple(m.keypoints[skeleton.INDEX["right_wrist"]]) == (90, 50, 2)
    assert tuple(m.keypoints[skeleton.INDEX["left_wrist"]]) == (10, 60, 1)
    assert tuple(m.keypoints[0]) == (50, 5, 2)
    assert m.mirrored() == _pose()


def test_bbox_from_present_points_and_absent_points_are_zero():
    p = _pose()
    assert p.bbox() == (10, 5, 80, 55)
    kp = p.keypoints.copy()
    kp[3] = (5, 5, 0)
    assert np.all(Pose(kp).keypoints[3] == 0)


def test_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError):
        Pose(np.zeros((17, 3)))
    kp = np.zeros((25, 3))
    kp[0, 0] = np.nan
    with pytest.raises(ValueError):
        Pose(kp)
