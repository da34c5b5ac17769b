"""Pose training data: crops from COCO/ADD files, gaussian targets by OKS sigma, masks, flips, resumable batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from posefinder.build.data import pose as dp  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.imageio import save_image  # noqa: E402


def _coco_set(tmp_path, n=3):
    """n images (96 x 128) with a dot at each keypoint, and their COCO keypoint file."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    (tmp_path / "img").mkdir()
    for i in range(n):
        img = np.full((128, 96, 3), 255, np.uint8)
        kp = np.zeros((17, 3))
        kp[:, 0] = rng.uniform(25, 70, 17)
        kp[:, 1] = rng.uniform(25, 100, 17)
        kp[:, 2] = 2
        kp[3, :] = 0  # left ear absent
        save_image(img, tmp_path / "img" / f"{i}.png")
        images.append({"id": i + 1, "file_name": f"{i}.png", "width": 96, "height": 128})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": kp.reshape(-1).tolist(),
                     "num_keypoints": 16, "bbox": [20, 20, 56, 88], "iscrowd": 0, "area": 56 * 88})
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person",
                                                                   "keypoints": list(skeleton.COCO17_NAMES)}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    return path


def test_heatmap_peaks_at_keypoint_with_std_from_oks_sigma():
    kp = np.zeros((25, 3))
    kp[skeleton.INDEX["nose"]] = (32.0, 16.0, 2)
    kp[skeleton.INDEX["left_hip"]] = (20.0, 40.0, 2)
    area = 40.0 * 50.0
    maps, weights = dp.heatmap_targets(kp, area, crop_size=64, heatmap_size=32, min_sigma_px=0.0)
    nose, hip = skeleton.INDEX["nose"], skeleton.INDEX["left_hip"]
    assert weights[nose] == 1 and weights[hip] == 1 and weights[skeleton.INDEX["left_ear"]] == 0
    assert maps[skeleton.INDEX["left_ear"]].max() == 0
    y, x = np.unravel_index(maps[hip].argmax(), maps[hip].shape)
    assert (x, y) == pytest.approx((9.75, 19.75), abs=0.5)  # crop (20, 40) -> heatmap (9.75, 19.75)
    # the target is the OKS keypoint similarity: at distance d it is exp(-d^2 / (2 s^2 (2 sigma)^2))
    s = np.sqrt(area) * 0.5
    std = 2 * skeleton.OKS_SIGMAS[hip] * s
    d = np.hypot(14 - 9.75, 20 - 19.75)
    assert maps[hip][20, 14] == pytest.approx(np.exp(-d * d / (2 * std * std)), rel=1e-5)
    # a keypoint with a larger sigma has a wider blob
    assert (maps[hip] > 0.5).sum() > (maps[nose] > 0.5).sum()


def test_file_dataset_eval_crop_centres_the_bbox(tmp_path):
    ds = dp.PoseFileDataset(_coco_set(tmp_path), tmp_path / "img", dp.CropConfig(64, 32).without_augmentation())
    assert len(ds) == 3
    s = ds[0]
    assert s["image"].shape == (3, 64, 64) and s["heatmaps"].shape == (25, 32, 32)
    assert s["weights"][skeleton.INDEX["left_ear"]] == 0 and s["weights"][skeleton.INDEX["left_upper_arm"]] == 1
    # the bbox (20, 20, 56, 88) is centred; its long edge 88 -> 64 / 1.2
    k = 64 / (88 * 1.2)
    _, pose = ds.item(0)
    expect = (pose.keypoints[0, :2] - (47.5, 63.5)) * k + 31.5
    assert s["keypoints"][0, :2] == pytest.approx(expect, abs=1e-4)
    assert float(s["area"]) == pytest.approx(56 * 88 * k * k, rel=1e-5)


def test_augmented_flip_swaps_left_right_targets(tmp_path):
    path = _coco_set(tmp_path, n=1)
    plain = dp.PoseFileDataset(path, tmp_path / "img", dp.CropConfig(64, 32).without_augmentation())[0]
    cfg = dp.CropConfig(64, 32, max_rotation_deg=0, flip_prob=1.0, scale_range=(1, 1), colour_jitter=0)
    flipped = dp.PoseFileDataset(path, tmp_path / "img", cfg)[0]
    for i in range(25):
        j = skeleton.FLIP_INDEX[i]
        assert flipped["weights"][j] == plain["weights"][i]
        if plain["weights"][i]:
            assert flipped["keypoints"][j, 0] == pytest.approx(63 - plain["keypoints"][i, 0], abs=1e-4)
            assert np.allclose(flipped["heatmaps"][j], plain["heatmaps"][i][:, ::-1], atol=1e-5)


def test_add_annotations_are_a_source(tmp_path):
    (tmp_path / "img").mkdir()
    save_image(np.full((100, 80, 3), 200, np.uint8), tmp_path / "img" / "1.jpg")
    entry = {"file_name": "data/images/1.jpg", "width": 80, "height": 100,
             "points": {"nose_tip": [40, 20], "arm_left": [50, 35], "arm_right": [30, 35], "leg_left": [45, 60],
                        "leg_right": [35, 60], "ankle_left": [46, 90], "head": [40, 10]}}
    (tmp_path / "add.json").write_text(json.dumps([entry, {**entry, "file_name": "missing.jpg"}]))
    ds = dp.PoseFileDataset(tmp_path / "add.json", tmp_path / "img", dp.CropConfig(64, 32))
    assert len(ds) == 1 and ds.missing == 1
    s = ds[0]
    assert s["weights"][skeleton.INDEX["left_eye"]] == 0 and s["weights"][skeleton.INDEX["nose"]] == 1


def test_missing_images_are_a_clear_error(tmp_path):
    from posefinder.models.errors import PoseFileError

    path = _coco_set(tmp_path, n=1)
    with pytest.raises(PoseFileError, match="--images"):
        dp.PoseFileDataset(path, tmp_path)


def test_resumable_batches_depend_only_on_batch_number(tmp_path):
    ds = dp.PoseFileDataset(_coco_set(tmp_path, n=3), tmp_path / "img", dp.CropConfig(32, 16))
    stream = dp.ResumableBatches(ds, batch_size=1, seed=5)
    assert len(stream) == 3
    full = [b["index"].tolist() + [float(b["image"].sum())] for b in stream]
    stream.start = 4  # resumed after 4 batches: epoch 1, second batch onwards
    later = [b["index"].tolist() + [float(b["image"].sum())] for b in stream]
    stream.start = 0
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=0)
    assert [b["index"].tolist() + [float(b["image"].sum())] for b in loader] == full
    stream.start = 3
    epoch1 = [b["index"].tolist() + [float(b["image"].sum())] for b in stream]
    assert later == epoch1[1:]
    assert sorted(x[0] for x in full) == [0, 1, 2]


def test_parallel_prerender_gives_the_figures_rendered_one_by_one():
    parallel = dp.SyntheticPoseDataset(5, 3, size=(64, 64), cache=True).prerender(processes=2)
    assert parallel._cache is not None and sorted(parallel._cache) == list(range(5))
    serial = dp.SyntheticPoseDataset(5, 3, size=(64, 64))  # no cache: renders on every use
    for i in range(5):
        (a, pa), (b, pb) = parallel.item(i), serial.item(i)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa.keypoints, pb.keypoints)
