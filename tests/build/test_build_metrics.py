"""Pose metrics: OKS equal to pycocotools', the paper's thresholds, per keypoint, table and JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from posefinder.build.metrics import pose as pm  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402


def _fixture(n=12, seed=3):
    rng = np.random.default_rng(seed)
    gt = np.zeros((n, 25, 3))
    gt[:, :17, :2] = rng.uniform(20, 180, size=(n, 17, 2))
    gt[:, :17, 2] = rng.choice([0, 1, 2], size=(n, 17), p=[0.15, 0.25, 0.6])
    gt[:, 5, 2] = gt[:, 6, 2] = gt[:, 0, 2] = 2  # nose and shoulders for PCKh
    for i in range(n):
        skeleton.fill_midpoints(gt[i])
    pred = gt.copy()
    pred[..., :2] += rng.normal(0, 1, size=(n, 25, 2)) * rng.uniform(1, 15, size=(n, 1, 1))
    pred[..., 2] = 2
    area = rng.uniform(3000, 30000, size=n)
    return gt, pred, area


def test_instance_oks_equals_pycocotools():
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, pred, area = _fixture()
    images, anns, dets = [], [], []
    for i in range(len(gt)):
        images.append({"id": i + 1, "width": 200, "height": 200})
        kp = [float(v) for row in gt[i, :17] for v in (row[0], row[1], int(row[2]))]
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": kp, "area": float(area[i]),
                     "bbox": [0, 0, 10, 10], "iscrowd": 0, "num_keypoints": int((gt[i, :17, 2] > 0).sum())})
        dkp = [float(v) for row in pred[i, :17] for v in (row[0], row[1], 2)]
        dets.append({"image_id": i + 1, "category_id": 1, "keypoints": dkp, "score": 1.0})
    coco: Any = COCO()  # pycocotools' stubs know neither keypoint categories, result lists nor _prepare
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": 1, "name": "person", "keypoints": list(skeleton.COCO17_NAMES)}]}
    coco.createIndex()
    ev: Any = COCOeval(coco, coco.loadRes(dets), "keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(skeleton.COCO_SIGMAS)
    ev.params.imgIds = [im["id"] for im in images]
    ev._prepare()
    ref = np.array([float(np.asarray(ev.computeOks(i + 1, 1)).reshape(-1)[0]) for i in range(len(gt))])
    ours = pm.instance_oks(gt, pred, area)
    assert np.abs(ours - ref).max() < 1e-6
    assert ref.min() < 0.9 < ref.max()  # the fixture spans good and bad predictions


def test_perfect_prediction_scores_one_and_missing_scores_zero():
    gt, _, area = _fixture()
    m = pm.evaluate_arrays(gt, gt.copy(), area)
    assert all(v == pytest.approx(1.0) for v in m.overall.values())
    empty = np.zeros_like(gt)
    m = pm.evaluate_arrays(gt, empty, area)
    assert all(v == 0.0 for v in m.overall.values())


def test_thresholds_match_the_definitions():
    gt = np.zeros((1, 25, 3))
    names = {"nose": (100, 50), "left_shoulder": (80, 80), "right_shoulder": (120, 80), "left_hip": (85, 160),
             "right_hip": (115, 160), "left_elbow": (70, 120), "left_wrist": (65, 150)}
    for n, xy in names.items():
        gt[0, skeleton.INDEX[n]] = (*xy, 2)
    skeleton.fill_midpoints(gt[0])
    area = np.array([100.0 * 200.0])
    head = 30.0  # nose to the shoulders' midpoint (100, 80)
    torso = np.hypot(120 - 85, 80 - 160)  # left shoulder to right hip
    li = skeleton.INDEX["left_wrist"]
    for dx, pckh, pdj in [(0.49 * head, 1, 1), (0.51 * head, 0, 1), (0.19 * torso, 0, 1), (0.21 * torso, 0, 0)]:
        pred = gt.copy()
        pred[0, li, 0] += dx
        m = pm.count_correct(gt, pred, area)
        assert m.correct["pckh50"][li] == pckh and m.correct["pdj20"][li] == pdj
    # OKS@50 of one keypoint: ks >= 0.5 <=> d^2 <= 2 ln2 s^2 k^2
    k = 2 * skeleton.OKS_SIGMAS[li]
    d50 = np.sqrt(2 * np.log(2) * area[0] * k * k)
    for d, ok in [(0.99 * d50, 1), (1.01 * d50, 0)]:
        pred = gt.copy()
        pred[0, li, 1] += d
        assert pm.count_correct(gt, pred, area).correct["oks50"][li] == ok


def test_pcpm_uses_the_sets_mean_limb_length():
    gt, _, area = _fixture(n=6)
    lengths = pm.mean_limb_lengths(gt, area)
    pred = gt.copy()
    a, b = skeleton.INDEX["left_shoulder"], skeleton.INDEX["left_elbow"]
    i = int(np.nonzero((gt[:, a, 2] > 0) & (gt[:, b, 2] > 0))[0][0])
    thr = 0.5 * lengths["left_upper_arm"] * np.sqrt(area[i])
    pred[i, b, 0] += 1.01 * thr
    counts = pm.count_correct(gt, pred, area, limb_lengths=lengths)
    assert counts.correct["pcpm50"][0] == counts.total["pcpm50"][0] - 1


def test_evaluate_poses_table_and_json():
    gt, pred, area = _fixture(n=5)
    gts = [Pose(g) for g in gt]
    preds = [Pose(p) for p in pred[:4]] + [None]
    m = pm.evaluate_poses(gts, preds)
    text = m.table()
    for label in ("OKS@50", "OKS@75", "PCKh@50", "PDJ@20", "PCPm@50", "left_wrist", "left_shin"):
        assert label in text
    obj = json.loads(m.to_json())
    assert set(obj["overall"]) == set(pm.METRICS)
    assert set(obj["per_keypoint"]) == set(skeleton.COCO17_NAMES)
    assert 0 <= obj["overall"]["oks50"] <= 1


def test_a_coco_files_segment_area_is_the_oks_scale_as_in_pycocotools(tmp_path):
    """COCO scores with the annotation's "area" (the segment's); a file read and evaluated here does too, and
    poses without one (ADD, synthetic figures) use their bbox area."""
    from posefinder.models.formats import read_poses, write_poses
    from posefinder.models.formats.record import PoseRecord

    gt, pred, area = _fixture(n=3)
    records = []
    for i in range(3):
        pose = Pose(gt[i].copy(), bbox_xywh=(10.0, 10.0, 180.0, 180.0), image_size=(200, 200))
        pose.meta["area"] = float(area[i])
        records.append(PoseRecord(pose, f"{i}.png"))
    write_poses(records, tmp_path / "gt.json", "coco")
    back = [r.pose for r in read_poses(tmp_path / "gt.json")]
    assert [pm.segment_area(p) for p in back] == pytest.approx(area)
    preds = [Pose(p.copy(), image_size=(200, 200)) for p in pred]
    scored = pm.evaluate_poses(back, preds).overall["oks50"]
    assert scored == pytest.approx(pm.evaluate_arrays(gt, pred, area).overall["oks50"])
    for p in back:
        del p.meta["area"]
    assert pm.segment_area(back[0]) == pytest.approx(back[0].bbox()[2] * back[0].bbox()[3])
