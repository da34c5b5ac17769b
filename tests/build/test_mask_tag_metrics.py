"""Mask F1/IoU (paper Table 3) and tagger F1 with per-class thresholds chosen on validation, on fixtures."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from posefinder.build.metrics.masks import MaskMetrics, bbox_iou, mask_bbox, mask_f1, mask_iou, mask_scores  # noqa: E402
from posefinder.build.metrics.tags import best_thresholds, evaluate_tagger, tag_f1  # noqa: E402


def _box_mask(shape, x0, y0, x1, y1):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_mask_f1_and_iou_of_overlapping_boxes():
    true = _box_mask((10, 10), 0, 0, 4, 4)  # 16 px
    pred = _box_mask((10, 10), 2, 0, 6, 4)  # 16 px, 8 shared
    # tp = 8, fp = 8, fn = 8: F1 = 16 / 32 = 0.5, IoU = 8 / 24 = 1/3
    assert mask_f1(pred, true) == pytest.approx(0.5)
    assert mask_iou(pred, true) == pytest.approx(1 / 3)
    scores = mask_scores(pred, true)
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert mask_f1(true, true) == 1.0 and mask_iou(true, true) == 1.0
    empty = np.zeros((10, 10), bool)
    assert mask_f1(empty, empty) == 1.0 and mask_iou(empty, empty) == 1.0  # background-only, nothing predicted
    assert mask_f1(empty, true) == 0.0 and mask_iou(pred, empty) == 0.0
    with pytest.raises(ValueError, match="differ in size"):
        mask_f1(np.zeros((3, 3)), np.zeros((4, 4)))


def test_bounding_boxes_of_masks_and_their_iou():
    true = _box_mask((20, 20), 2, 3, 8, 9)
    assert mask_bbox(true) == (2, 3, 6, 6)
    assert mask_bbox(np.zeros((5, 5))) is None
    assert bbox_iou((0, 0, 4, 4), (2, 0, 4, 4)) == pytest.approx(8 / 24)
    assert bbox_iou(None, None) == 1.0 and bbox_iou(None, (0, 0, 1, 1)) == 0.0


def test_mask_metrics_over_a_set_mean_and_pooled():
    true1, pred1 = _box_mask((10, 10), 0, 0, 4, 4), _box_mask((10, 10), 2, 0, 6, 4)  # F1 0.5, IoU 1/3
    true2 = _box_mask((10, 10), 0, 0, 10, 10)
    probs2 = np.where(true2, 0.9, 0.1)  # thresholded at 0.5: perfect
    empty = np.zeros((10, 10))
    metrics = MaskMetrics()
    metrics.update(pred1.astype(np.float32), true1.astype(np.float32))
    metrics.update(np.stack([probs2, empty]), np.stack([true2, empty]))
    out = metrics.compute()
    assert out["images"] == 3
    assert out["mean_f1"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert out["mean_iou"] == pytest.approx((1 / 3 + 1 + 1) / 3)
    # pooled: tp = 8 + 100, fp = 8, fn = 8
    assert out["pixel_f1"] == pytest.approx(2 * 108 / (2 * 108 + 16))
    assert out["pixel_iou"] == pytest.approx(108 / 124)
    assert out["bbox_iou"] == pytest.approx((8 / 24 + 1 + 1) / 3)
    soft_true = np.where(true1, 0.7, 0.2)  # an alpha matte counts as foreground above 0.5
    again = MaskMetrics()
    again.update(pred1, soft_true)
    assert again.compute()["mean_f1"] == pytest.approx(0.5)


VAL_PROBS = np.array([
    [0.9, 0.1, 0.3], [0.8, 0.2, 0.2], [0.7, 0.6, 0.1], [0.4, 0.05, 0.9], [0.3, 0.3, 0.4], [0.2, 0.55, 0.6],
])  # fmt: skip
VAL_LABELS = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]])
TEST_PROBS = np.array([[0.95, 0.6, 0.6], [0.45, 0.5, 0.2], [0.35, 0.7, 0.1], [0.5, 0.1, 0.1]])
TEST_LABELS = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_per_class_thresholds_maximise_validation_f1():
    # class 0, sorted: 0.9(1) 0.8(1) 0.7(0) 0.4(1) 0.3(0) 0.2(0) -> F1 at k=1..6: .5 .8 .667 .857 .75 .667 -> t = 0.4
    # class 1, sorted: 0.6(1) 0.55(1) ... -> k = 2 is perfect -> t = 0.55
    # class 2: no positive in validation -> the default 0.5
    assert best_thresholds(VAL_PROBS, VAL_LABELS).tolist() == pytest.approx([0.4, 0.55, 0.5])
    # equal probabilities cannot be split: all three are predicted together (F1 2/4)
    assert best_thresholds(np.full((3, 1), 0.5), np.array([[1], [0], [0]])).tolist() == [0.5]


def test_tag_f1_micro_and_macro_with_validation_thresholds():
    out = evaluate_tagger(VAL_PROBS, VAL_LABELS, TEST_PROBS, TEST_LABELS)
    test = out["test"]
    # class 0 at 0.4: pred 1 1 0 1 vs 1 1 0 0: tp 2 fp 1 fn 0 -> 0.8
    # class 1 at 0.55: pred 1 0 1 0 vs 1 0 1 0: perfect -> 1.0
    # class 2 at 0.5: pred 1 0 0 0 vs 0 0 0 1: tp 0 fp 1 fn 1 -> 0
    assert test["per_class_f1"].tolist() == pytest.approx([0.8, 1.0, 0.0])
    assert test["macro_f1"] == pytest.approx(0.6)
    assert test["micro_f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 1))  # TP 4, FP 2, FN 1
    assert test["micro_precision"] == pytest.approx(4 / 6) and test["micro_recall"] == pytest.approx(4 / 5)
    # at a flat 0.5: class 0 -> tp 1 fp 1 fn 1 (0.5), class 1 -> tp 2 fp 1 (0.8), class 2 -> 0
    assert out["test_at_0.5"]["per_class_f1"].tolist() == pytest.approx([0.5, 0.8, 0.0])
    assert out["test"]["macro_f1"] > out["test_at_0.5"]["macro_f1"]


def test_macro_f1_skips_classes_never_present_nor_predicted():
    out = tag_f1(np.array([[0.9, 0.1], [0.2, 0.1]]), np.array([[1, 0], [0, 0]]), 0.5)
    assert out["classes_scored"] == 1 and out["macro_f1"] == 1.0 and np.isnan(out["per_class_f1"][1])
