"""Pose-crop geometry: the image and its keypoints stay in register under crop, rotation and flip."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from posefinder.build import augment  # noqa: E402
from posefinder.models import skeleton  # noqa: E402


def _dot_image(size, x, y, value=255):
    img = np.zeros((size, size, 3), np.uint8)
    img[y, x] = value
    return img


def _kp(**named):
    kp = np.zeros((skeleton.NUM_KEYPOINTS, 3))
    for name, (x, y) in named.items():
        kp[skeleton.INDEX[name]] = (x, y, 2)
    return kp


def test_identity_crop_keeps_pixels_and_points():
    img = _dot_image(32, 5, 9)
    m = augment.crop_matrix((0, 0, 32, 32), 32, padding=0.0)
    assert np.allclose(m, np.eye(3))
    out = augment.warp_image(img, m, 32, fill=0)
    assert np.array_equal(out, img)
    kp = augment.transform_keypoints(_kp(nose=(5.0, 9.0)), m, 32)
    assert np.allclose(kp[0], (5.0, 9.0, 2))


@pytest.mark.parametrize("angle", [90, 180, -90])
def test_right_angle_rotation_moves_pixel_and_point_together(angle):
    img = _dot_image(32, 5, 9)
    m = augment.crop_matrix((0, 0, 32, 32), 32, padding=0.0, angle_deg=angle)
    out = augment.warp_image(img, m, 32, fill=0)
    ys, xs = np.nonzero(out[:, :, 0])
    kp = augment.transform_keypoints(_kp(nose=(5.0, 9.0)), m, 32)
    assert (len(xs), len(ys)) == (1, 1)
    assert (xs[0], ys[0]) == pytest.approx(tuple(kp[0, :2]), abs=1e-9)
    # counter-clockwise on screen: a point right of the centre (15.5, 15.5) goes up for +90 degrees
    up = augment.transform_points(np.array([[25.5, 15.5]]), augment.crop_matrix((0, 0, 32, 32), 32, padding=0.0, angle_deg=90))
    assert up[0] == pytest.approx((15.5, 5.5))


def test_flip_mirrors_pixels_and_swaps_left_right_labels():
    img = _dot_image(32, 5, 9)
    m = augment.crop_matrix((0, 0, 32, 32), 32, padding=0.0, flip=True)
    out = augment.warp_image(img, m, 32, fill=0)
    assert np.array_equal(out, img[:, ::-1])
    kp = augment.transform_keypoints(_kp(left_wrist=(5.0, 9.0), right_ankle=(20.0, 30.0)), m, 32)
    assert kp[skeleton.INDEX["right_wrist"]] == pytest.approx((26.0, 9.0, 2))
    assert kp[skeleton.INDEX["left_ankle"]] == pytest.approx((11.0, 30.0, 2))
    assert kp[skeleton.INDEX["left_wrist"], 2] == 0 and kp[skeleton.INDEX["right_ankle"], 2] == 0
    # the same as Pose.mirrored about the image's pixel-centre axis
    from posefinder.models.pose import Pose

    pose = Pose(_kp(left_wrist=(5.0, 9.0), right_ankle=(20.0, 30.0)), image_size=(32, 32))
    assert np.allclose(pose.mirrored(width=31).keypoints, kp)


@pytest.mark.parametrize("angle,flip,size", [(37.0, False, 64), (-123.0, True, 64), (200.0, True, 48)])
def test_any_angle_blob_centroid_lands_on_transformed_point(angle, flip, size):
    h, w = 120, 90
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = 31.3, 70.8
    blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 4.0**2))
    img = np.repeat((blob * 255).round().astype(np.uint8)[:, :, None], 3, axis=2)
    bbox = (10, 20, 60, 80)
    m = augment.crop_matrix(bbox, size, angle_deg=angle, flip=flip)
    out = augment.warp_image(img, m, size, fill=0)[:, :, 0].astype(np.float64)
    oy, ox = np.mgrid[0:size, 0:size].astype(np.float64)
    centroid = ((out * ox).sum() / out.sum(), (out * oy).sum() / out.sum())
    expect = augment.transform_points(np.array([[cx, cy]]), m)[0]
    assert centroid == pytest.approx(tuple(expect), abs=0.15)


def test_strong_shrink_stays_in_register():
    big = 1600
    img = np.zeros((big, big, 3), np.uint8)
    img[800:840, 400:440] = 255  # a 40 px square centred at (419.5, 819.5)
    m = augment.crop_matrix((0, 0, big, big), 64, padding=0.1)
    out = augment.warp_image(img, m, 64, fill=0)[:, :, 0].astype(np.float64)
    oy, ox = np.mgrid[0:64, 0:64].astype(np.float64)
    centroid = ((out * ox).sum() / out.sum(), (out * oy).sum() / out.sum())
    assert centroid == pytest.approx(tuple(augment.transform_points(np.array([[419.5, 819.5]]), m)[0]), abs=0.05)


def test_unrotated_crop_is_the_estimators_crop():
    from posefinder.models.estimators.geometry import square_crop_box

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, size=(90, 70, 3), dtype=np.uint8)
    bbox = (10, 20, 50, 60)  # 60 * 1.2 = 72 px: a whole number, so no rounding of the side
    box = square_crop_box(bbox, 72)
    m = augment.crop_matrix(bbox, 72)
    assert np.array_equal(augment.warp_image(img, m, 72), box.extract(img))
    pts = np.array([[12.0, 33.0], [55.5, 70.25]])
    assert np.allclose(augment.transform_points(pts, m), box.image_to_crop(pts))


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 135.0, -170.0])
def test_rotated_bbox_is_centred_and_padded_at_least_ten_percent(angle):
    bbox = (40.0, 10.0, 50.0, 120.0)
    size = 128
    m = augment.crop_matrix(bbox, size, angle_deg=angle)
    x, y, w, h = bbox
    x, y = x - 0.5, y - 0.5  # pixel edges as points
    corners = augment.transform_points(np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]]), m)
    lo, hi = corners.min(0), corners.max(0)
    assert (lo + hi) / 2 == pytest.approx((size / 2 - 0.5, size / 2 - 0.5))
    margin = np.minimum(lo + 0.5, size - 0.5 - hi)
    extent = (hi - lo).max()
    assert margin.min() == pytest.approx(0.1 * extent)  # the longer edge gets exactly 10%, the other more
    assert (margin >= 0.1 * extent - 1e-9).all()


def test_invert_round_trip_and_out_of_crop_points_absent():
    kp = _kp(left_wrist=(50.0, 60.0), right_knee=(70.0, 100.0), nose=(500.0, 500.0))
    m = augment.crop_matrix((40, 50, 40, 60), 64, angle_deg=33.0, flip=True)
    crop = augment.transform_keypoints(kp, m)
    back = augment.invert_keypoints(crop, m)
    assert np.allclose(back, kp)
    inside = augment.transform_keypoints(kp, m, out_size=64)
    assert inside[skeleton.INDEX["nose"], 2] == 0  # far outside the bbox: not in the crop
    assert inside[skeleton.INDEX["right_wrist"], 2] == 2
