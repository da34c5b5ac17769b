"""The pose pipeline's geometry is exact: heatmap peaks map back to the image pixel they came from, through
segmentation, the padded square crop (partly outside the image too), resampling and uncrop."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from estimator_fakes import BlobPoseNet, RedSegmenter, blob_image  # noqa: E402
from posefinder.models.estimators.geometry import (  # noqa: E402
    CropBox,
    bbox_center,
    crop_to_heatmap,
    extract_crop,
    heatmap_to_crop,
    square_crop_box,
    whole_image_box,
)
from posefinder.models.estimators.heatmaps import decode_heatmaps  # noqa: E402
from posefinder.models.estimators.pipeline import PipelineSettings, PosePipeline  # noqa: E402


def pipeline(segmenter=True, input_size=128, heatmap_size=64, **kw) -> PosePipeline:
    settings = PipelineSettings(input_size=input_size, heatmap_size=heatmap_size, segmenter_input_size=160, **kw)
    return PosePipeline(BlobPoseNet(heatmap_size), RedSegmenter() if segmenter else None, settings, name="fake")


def test_crop_box_maps_are_inverse_and_follow_the_half_pixel_rule():
    box = CropBox(left=-37, top=12, side=300, size=128, reduction=2)
    pts = np.array([[0.0, 0.0], [-37.0, 12.0], [262.0, 311.0], [10.25, 99.75]])
    assert np.allclose(box.crop_to_image(box.image_to_crop(pts)), pts)
    # the first and last window pixels' centres map to the first and last crop pixels' footprints
    assert np.allclose(box.image_to_crop(np.array([[-37.0 - 0.5, 12.0 - 0.5]])), [[-0.5, -0.5]])
    assert np.allclose(box.image_to_crop(np.array([[262.5, 311.5]])), [[127.5, 127.5]])
    uv = np.array([[0.0, 0.0], [31.0, 17.5]])
    assert np.allclose(crop_to_heatmap(heatmap_to_crop(uv, 32, 128), 32, 128), uv)
    assert np.allclose(heatmap_to_crop(np.array([[0.0, 0.0]]), 32, 128), [[1.5, 1.5]])  # 4 crop px per heatmap px
    assert np.allclose(box.image_to_heatmap(box.heatmap_to_image(uv, 32), 32), uv)


def test_square_crop_is_centred_and_padded_at_least_ten_percent():
    for bbox in [(10, 20, 100, 50), (0, 0, 7, 300), (-40.5, 3.25, 91.0, 90.0), (500, 500, 1999, 1333)]:
        box = square_crop_box(bbox, 64, padding=0.1)
        x, y, w, h = bbox
        assert box.side >= 1.2 * max(w, h) and box.side % box.reduction == 0
        assert box.left <= x - 0.1 * max(w, h) + 1e-9 or box.left <= x - (box.side - w) / 2 + 0.5
        cx, cy = bbox_center(bbox)
        assert abs(box.left + (box.side - 1) / 2 - cx) <= 0.5 + 1e-9
        assert abs(box.top + (box.side - 1) / 2 - cy) <= 0.5 + 1e-9
        # the box lies inside the window with at least 10% of its longer side on every side (up to rounding)
        margin = 0.1 * max(w, h) - 0.5
        assert x - box.left >= margin and box.left + box.side - (x + w) >= margin
        assert y - box.top >= margin and box.top + box.side - (y + h) >= margin
    with pytest.raises(ValueError, match="positive width"):
        square_crop_box((0, 0, 0, 10), 64)


def test_extract_crop_without_resampling_is_the_window_with_fill_outside():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    box = CropBox(left=-10, top=30, side=40, size=40)
    crop = extract_crop(img, box, fill=(1, 2, 3))
    expected = np.empty((40, 40, 3), np.uint8)
    expected[...] = (1, 2, 3)
    expected[0:20, 10:40] = img[30:50, 0:30]
    assert np.array_equal(crop, expected)
    outside = extract_crop(img, CropBox(left=100, top=100, side=10, size=10), fill=(9, 9, 9))
    assert (outside == 9).all()


def test_extract_crop_of_a_huge_window_block_averages_exactly():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    box = square_crop_box((100, 0, 600, 500), 100, padding=0.0)
    assert box.reduction == 3 and box.side == 600 and (box.left, box.top) == (100, -50)
    crop = extract_crop(img, box, fill=(0, 0, 0))
    window = np.zeros((600, 600, 3))
    window[50:, :] = img[:550, 100:700]
    means = window.reshape(100, 6, 100, 6, 3).mean(axis=(1, 3))
    assert np.abs(crop - means).max() <= 1.0


def test_a_heatmap_with_a_known_peak_decodes_to_that_peak_and_maps_to_the_formula():
    logits = torch.full((1, 25, 32, 32), -10.0)
    for k in range(25):
        logits[0, k, (3 * k) % 32, (7 * k) % 32] = 5.0
    uv, scores = decode_heatmaps(logits, smoothing=0.0)
    expected = np.array([[(7 * k) % 32, (3 * k) % 32] for k in range(25)], dtype=np.float64)
    assert np.array_equal(uv[0], expected)
    assert np.allclose(scores[0], 1 / (1 + np.exp(-5.0)))
    box = CropBox(left=-20, top=5, side=150, size=64)
    xy = box.heatmap_to_image(uv[0], 32)
    # heatmap pixel u covers side/32 image pixels starting at left + u * side/32: its centre is the middle
    assert np.allclose(xy, np.array([box.left, box.top]) + (expected + 0.5) * 150 / 32 - 0.5)


def test_subpixel_refinement_finds_a_gaussian_peak_between_pixels():
    ys, xs = np.mgrid[0:48, 0:48].astype(np.float64)
    centre = (20.3, 27.8)
    p = 0.9 * np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 2.5**2))
    logits = torch.from_numpy(np.log(p + 1e-9) - np.log(1 - p + 1e-9)).float()[None, None].repeat(1, 25, 1, 1)
    for smoothing in (0.0, 0.1):
        uv, scores = decode_heatmaps(logits, smoothing=smoothing)
        assert np.abs(uv[0, 0] - centre).max() < 0.05, (smoothing, uv[0, 0])
        assert abs(scores[0, 0] - p.max()) < 0.05


# (image size, character rectangle, blob centre, blob sigma): square, non-square with the crop partly
# outside on the right, tall touching the top edge, a huge image (block-averaged crop), a tiny one
# (upsampled crop).
CASES = [
    ((400, 400), (100, 80, 200, 260), (181.3, 200.6), 14.0),
    ((640, 360), (470, 40, 170, 300), (600.7, 121.2), 14.0),
    ((300, 700), (20, 0, 260, 420), (100.2, 60.9), 12.0),
    ((3000, 2000), (900, 300, 1300, 1600), (1500.4, 1111.1), 70.0),
    ((80, 60), (20, 15, 40, 30), (38.6, 27.4), 3.0),
]


@pytest.mark.parametrize("size, rect, centre, sigma", CASES)
def test_pipeline_maps_the_heatmap_peak_back_to_the_image_pixel(size, rect, centre, sigma):
    image = blob_image(size, [rect], [centre], sigma)
    (pose,) = pipeline().estimate(image)
    err = np.abs(pose.xy - centre).max()
    assert err < 0.5, f"keypoints {err:.3f} px from the blob centre"
    assert pose.bbox_xywh is not None
    x, y, w, h = pose.bbox_xywh
    sx, sy = size[0] / round(size[0] * 160 / max(size)), size[1] / round(size[1] * 160 / max(size))
    assert abs(x - rect[0]) <= sx + 1e-6 and abs(y - rect[1]) <= sy + 1e-6
    assert abs(w - rect[2]) <= 2 * sx + 1e-6 and abs(h - rect[3]) <= 2 * sy + 1e-6
    assert pose.image_size == size and pose.source == "model:fake"
    assert pose.scores is not None and pose.scores.shape == (25,) and np.all((pose.scores > 0.8) & (pose.scores <= 1))


def test_without_segmenter_the_whole_image_padded_to_a_square_is_the_crop():
    size, centre = (500, 300), (120.4, 150.3)
    image = blob_image(size, [], [centre], 16.0)
    pipe = pipeline(segmenter=False, refine=False)
    (pose,) = pipe.estimate(image)
    assert pose.bbox_xywh is None
    assert pose.meta["crop_xywh"] == whole_image_box(size, 128).window_xywh() == (0.0, -100.0, 500.0, 500.0)
    wide = whole_image_box((1000, 300), 128)  # block-averaged by 3: the side rounds up to 1002
    assert (wide.reduction, wide.window_xywh()) == (3, (-1.0, -351.0, 1002.0, 1002.0))
    assert np.abs(pose.xy - centre).max() < 0.5


def test_without_segmenter_the_refined_second_pass_is_exact_too():
    size, centre = (900, 500), (700.3, 250.8)
    image = blob_image(size, [], [centre], 20.0)
    (pose,) = pipeline(segmenter=False, refine=True).estimate(image)
    assert np.abs(pose.xy - centre).max() < 0.5
    # the second pass cropped around the keypoints (a quarter of the longer side, padded 10%) and won
    assert pose.meta["crop_xywh"][2] == 270.0
