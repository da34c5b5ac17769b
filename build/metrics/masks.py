"""Segmentation metrics (paper section 5.3, Table 3): mask F1, precision, recall and IoU, per image and over
a set, and the IoU of the bounding boxes enclosing the masks.

Table 3 reports the mean F-1 over test images (segmentation) and the IoU of the boxes drawn tightly around
the masks (bounding boxes). Conventions: an image whose true and predicted masks are both empty (the 5%
background-only composites) scores 1 on every measure; an empty prediction of a non-empty mask scores 0.
Masks are boolean arrays; probability maps are thresholded at 0.5 (section 4.3: "enclose output regions at
0.5 threshold").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Probability threshold that turns segmenter output into a mask (paper sections 3.3 and 4.3).
MASK_THRESHOLD = 0.5


def _bool(mask) -> np.ndarray:
    return np.asarray(mask).astype(bool, copy=False)


def _counts(pred: np.ndarray, true: np.ndarray) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) in pixels."""
    pred, true = _bool(pred), _bool(true)
    if pred.shape != true.shape:
        raise ValueError(f"predicted mask {pred.shape} and true mask {true.shape} differ in size")
    tp = int(np.count_nonzero(pred & true))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(true)) - tp


def _ratio(num: float, den: float) -> float:
    return 1.0 if den == 0 else num / den


def mask_scores(pred, true) -> dict[str, float]:
    """{"f1", "precision", "recall", "iou"} of one predicted mask against the true one (both empty: all 1)."""
    tp, fp, fn = _counts(pred, true)
    if tp + fp + fn == 0:
        return {"f1": 1.0, "precision": 1.0, "recall": 1.0, "iou": 1.0}
    return {
        "f1": 2 * tp / (2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp) if tp + fp else 0.0,
        "recall": _ratio(tp, tp + fn) if tp + fn else 0.0,
        "iou": tp / (tp + fp + fn),
    }


def mask_f1(pred, true) -> float:
    """F1 (Dice) of two masks: 2|P∩T| / (|P| + |T|); 1 when both are empty."""
    return mask_scores(pred, true)["f1"]


def mask_iou(pred, true) -> float:
    """Intersection over union of two masks: |P∩T| / |P∪T|; 1 when both are empty."""
    return mask_scores(pred, true)["iou"]


def mask_bbox(mask) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the tight box around a mask's pixels (pixel units, w = x_max - x_min + 1), None if empty."""
    mask = _bool(mask)
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if len(ys) == 0:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)


def bbox_iou(a_xywh, b_xywh) -> float:
    """IoU of two (x, y, w, h) boxes; 1 when both are None (no character), 0 when only one is."""
    if a_xywh is None or b_xywh is None:
        return 1.0 if a_xywh is None and b_xywh is None else 0.0
    ax, ay, aw, ah = a_xywh
    bx, by, bw, bh = b_xywh
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return _ratio(inter, union)


@dataclass
class MaskMetrics:
    """Accumulates masks image by image; compute() gives the set's scores:

    mean_f1, mean_precision, mean_recall, mean_iou: means over images (Table 3's "mean F-1");
    pixel_f1, pixel_iou: pooled over all pixels of the set; bbox_iou: mean IoU of the enclosing boxes;
    images: how many."""

    threshold: float = MASK_THRESHOLD
    _per_image: list[dict[str, float]] = field(default_factory=list, repr=False)
    _tp: int = 0
    _fp: int = 0
    _fn: int = 0

    def update(self, pred, true) -> None:
        """Add images: pred and true (H, W) or (N, H, W); float predictions are thresholded, true masks
        that are soft (alpha) count as foreground above 0.5."""
        pred, true = np.asarray(pred), np.asarray(true)
        if pred.ndim == 2:
            pred, true = pred[None], true[None]
        for p, t in zip(pred, true):
            p = p > self.threshold if p.dtype != bool else p
            t = t > MASK_THRESHOLD if t.dtype != bool else t
            scores = mask_scores(p, t)
            scores["bbox_iou"] = bbox_iou(mask_bbox(p), mask_bbox(t))
            self._per_image.append(scores)
            tp, fp, fn = _counts(p, t)
            self._tp, self._fp, self._fn = self._tp + tp, self._fp + fp, self._fn + fn

    def per_image(self) -> list[dict[str, float]]:
        return list(self._per_image)

    def compute(self) -> dict[str, float]:
        n = len(self._per_image)
        if n == 0:
            raise ValueError("no masks were added")
        out = {f"mean_{k}": float(np.mean([s[k] for s in self._per_image])) for k in ("f1", "precision", "recall", "iou")}
        out["bbox_iou"] = float(np.mean([s["bbox_iou"] for s in self._per_image]))
        total = self._tp + self._fp + self._fn
        out["pixel_f1"] = 1.0 if total == 0 else 2 * self._tp / (2 * self._tp + self._fp + self._fn)
        out["pixel_iou"] = 1.0 if total == 0 else self._tp / total
        out["images"] = n
        return out
