"""Tagger metrics: per-class thresholds chosen on validation to maximise each class's F1, then F1 on test
(micro over all decisions, macro over classes).

Multi-label taggers over imbalanced classes are judged at per-class operating points: a single 0.5
threshold is far from the best for rare classes. best_thresholds() picks, for every class, the threshold
that maximises that class's F1 on the validation predictions; tag_f1() applies them to the test
predictions. A prediction is positive when its probability is >= the class's threshold.
Classes without positives in the validation set keep DEFAULT_THRESHOLD. Macro F1 averages over the classes
with at least one positive label or prediction in the evaluated set (F1 is undefined for the others).
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5


def _check(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels) > 0.5
    if probs.ndim != 2 or probs.shape != labels.shape:
        raise ValueError(f"probabilities {probs.shape} and labels {labels.shape} must both be (N, C)")
    return probs, labels


def best_thresholds(probs, labels, default: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """(C,) thresholds, each maximising its class's F1 on these (validation) predictions.

    For every class the candidates are the predicted probabilities themselves (sorted descending, the k
    highest predicted positive); ties between equal probabilities are decided together. The returned
    threshold is the k-th highest probability (so >= selects exactly those k); among equally good k the
    smallest is taken (the most conservative threshold)."""
    probs, labels = _check(probs, labels)
    n, c = probs.shape
    thresholds = np.full(c, float(default))
    if n == 0:
        return thresholds
    order = np.argsort(-probs, axis=0, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=0)
    sorted_labels = np.take_along_axis(labels, order, axis=0)
    tp = np.cumsum(sorted_labels, axis=0)  # predicting the top k+1 positive
    k = np.arange(1, n + 1)[:, None]
    positives = labels.sum(axis=0)
    f1 = 2 * tp / (k + positives[None, :])
    # only cut where the next probability is lower (equal probabilities cannot be separated)
    last_of_tie = np.ones_like(sorted_probs, dtype=bool)
    last_of_tie[:-1] = sorted_probs[:-1] > sorted_probs[1:]
    f1 = np.where(last_of_tie, f1, -1.0)
    best = np.argmax(f1, axis=0)
    chosen = sorted_probs[best, np.arange(c)]
    has_pos = positives > 0
    thresholds[has_pos] = chosen[has_pos]
    return thresholds


def tag_f1(probs, labels, thresholds: float | np.ndarray = DEFAULT_THRESHOLD) -> dict:
    """F1 of thresholded predictions: micro_f1/precision/recall (all decisions pooled), macro_f1 (mean over
    classes with a positive label or prediction), per_class_f1 (C values, NaN where undefined)."""
    probs, labels = _check(probs, labels)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (probs.shape[1],))
    pred = probs >= thresholds[None, :]
    tp = (pred & labels).sum(axis=0).astype(np.float64)
    fp = (pred & ~labels).sum(axis=0).astype(np.float64)
    fn = (~pred & labels).sum(axis=0).astype(np.float64)
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(den > 0, 2 * tp / den, np.nan)
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    defined = ~np.isnan(per_class)
    return {
        "micro_f1": float(2 * TP / (2 * TP + FP + FN)) if (TP + FP + FN) else 1.0,
        "micro_precision": float(TP / (TP + FP)) if (TP + FP) else 0.0,
        "micro_recall": float(TP / (TP + FN)) if (TP + FN) else 0.0,
        "macro_f1": float(per_class[defined].mean()) if defined.any() else float("nan"),
        "classes_scored": int(defined.sum()),
        "per_class_f1": per_class,
    }


def evaluate_tagger(val_probs, val_labels, test_probs, test_labels) -> dict:
    """Thresholds from validation, F1 on test: {"thresholds", "test": tag_f1(...), "test_at_0.5": tag_f1(...)}."""
    thresholds = best_thresholds(val_probs, val_labels)
    return {
        "thresholds": thresholds,
        "test": tag_f1(test_probs, test_labels, thresholds),
        "test_at_0.5": tag_f1(test_probs, test_labels, DEFAULT_THRESHOLD),
    }
