"""Pose metrics of the paper (section 5.1, Tables 1-2): OKS@50, OKS@75, PCKh@50, PDJ@20, PCPm@50, overall and
per keypoint (PCPm per limb), as a table and as JSON.

Every metric compares a predicted pose with the ground truth of the same character (one character per
image, as in the paper); a keypoint the prediction lacks counts as wrong. Only keypoints present in the
ground truth are scored. By default the 17 COCO keypoints are scored, as in the paper's tables.

- OKS (COCO, Lin et al. 2014; cocodataset.org/#keypoints-eval; pycocotools' COCOeval.computeOks): the
  keypoint similarity of keypoint i is ks_i = exp(-d_i^2 / (2 s^2 k_i^2)), k_i = 2 sigma_i, s^2 the
  object's segment area as COCO annotates it (`segment_area`: a COCO annotation's "area"; the bbox area where
  none is given: ADD, as the paper scores it, and synthetic figures, scored like ADD), and an instance's OKS is the
  mean ks_i over its present keypoints (`instance_oks`, equal to pycocotools'). OKS@t, as the paper
  reports it overall and per keypoint (Table 2), is the fraction of ground-truth keypoints with ks_i >= t.
- PCKh@t (Andriluka et al. 2014, MPII): a keypoint is correct when d <= t x the head segment length. MPII's
  head segment runs from the upper neck to the head top; the COCO skeleton has neither, so the segment
  from the neck (the shoulders' midpoint) to the nose stands in for it. Characters without nose or either
  shoulder are not scored by PCKh.
- PDJ@t (Toshev & Szegedy 2014, DeepPose, used by Khungurn et al. 2016): a keypoint is detected when
  d <= t x the torso diameter, the distance from the left shoulder to the right hip (the right shoulder
  to the left hip when one of those is absent).
- PCPm@t (Andriluka et al. 2014): a limb (upper arm, forearm, thigh, shin; each side) is correct when both
  of its endpoints lie within t x the mean ground-truth length of that limb over the whole set. Lengths
  are measured in units of each character's OKS scale s = sqrt(area), so that images of any size share
  one threshold (in a pose crop, all characters have about the same s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from posefinder.models import skeleton

#: The metrics of the paper's Table 1, in its order: name -> (kind, threshold).
METRICS: dict[str, tuple[str, float]] = {
    "oks50": ("oks", 0.5),
    "oks75": ("oks", 0.75),
    "pckh50": ("pckh", 0.5),
    "pdj20": ("pdj", 0.2),
    "pcpm50": ("pcpm", 0.5),
}

#: The paper's headings for them.
LABELS = {"oks50": "OKS@50", "oks75": "OKS@75", "pckh50": "PCKh@50", "pdj20": "PDJ@20", "pcpm50": "PCPm@50"}

#: Limbs scored by PCP: (name, endpoint, endpoint), the limbs whose midpoints the skeleton has.
PCP_LIMBS: tuple[tuple[str, int, int], ...] = tuple(
    (name, skeleton.INDEX[a], skeleton.INDEX[b]) for name, (a, b) in skeleton.MIDPOINTS.items()
)

COCO17 = tuple(range(skeleton.NUM_COCO))
_EPS = np.spacing(1)  # pycocotools adds it to the area


def segment_area(pose) -> float:
    """The OKS scale s^2 of a ground-truth Pose in its image's pixels: its segment area where its file gave
    one (Pose.meta["area"], a COCO annotation's "area"), as COCO's evaluation uses it; else its bbox area
    (ADD, synthetic figures). A segment covers less than its box (about 40% for synthetic figures), so
    the bbox scale is the more lenient."""
    area = pose.meta.get("area") if pose.meta else None
    if area is not None and float(area) > 0:
        return float(area)
    _, _, w, h = pose.bbox()
    return float(w * h)


def keypoint_similarity(gt: np.ndarray, pred: np.ndarray, area: np.ndarray) -> np.ndarray:
    """(N, 25) COCO keypoint similarity exp(-d^2 / (2 s^2 k_i^2)) (pycocotools' formula); 0 where the
    prediction lacks the keypoint. gt, pred: (N, 25, 3); area: (N,) s^2."""
    gt, pred = np.asarray(gt, np.float64), np.asarray(pred, np.float64)
    variances = (2.0 * skeleton.OKS_SIGMAS) ** 2
    d2 = ((gt[..., :2] - pred[..., :2]) ** 2).sum(-1)
    e = d2 / variances[None, :] / (np.asarray(area, np.float64)[:, None] + _EPS) / 2.0
    ks = np.exp(-e)
    ks[pred[..., 2] <= 0] = 0.0
    return ks


def instance_oks(gt: np.ndarray, pred: np.ndarray, area: np.ndarray, keypoints: Sequence[int] = COCO17) -> np.ndarray:
    """(N,) object keypoint similarity of each character: mean keypoint similarity over the ground truth's
    present keypoints among `keypoints` (COCO's OKS; NaN for a character with none)."""
    idx = list(keypoints)
    ks = keypoint_similarity(gt, pred, area)[:, idx]
    present = np.asarray(gt)[:, idx, 2] > 0
    count = present.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (ks * present).sum(1) / count, np.nan)


def _distance(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    d = np.sqrt(((gt[..., :2] - pred[..., :2]) ** 2).sum(-1))
    d[pred[..., 2] <= 0] = np.inf
    return d


def head_size(gt: np.ndarray) -> np.ndarray:
    """(N,) PCKh's head segment: neck (shoulders' midpoint) to nose; NaN where one is missing."""
    nose, ls, rs = skeleton.INDEX["nose"], skeleton.INDEX["left_shoulder"], skeleton.INDEX["right_shoulder"]
    neck = (gt[:, ls, :2] + gt[:, rs, :2]) / 2.0
    size = np.sqrt(((gt[:, nose, :2] - neck) ** 2).sum(-1))
    ok = (gt[:, nose, 2] > 0) & (gt[:, ls, 2] > 0) & (gt[:, rs, 2] > 0) & (size > 0)
    return np.where(ok, size, np.nan)


def torso_diameter(gt: np.ndarray) -> np.ndarray:
    """(N,) PDJ's torso diameter: left shoulder to right hip, else right shoulder to left hip; NaN if neither."""
    out = np.full(len(gt), np.nan)
    for a, b in (("right_shoulder", "left_hip"), ("left_shoulder", "right_hip")):  # the second wins
        i, j = skeleton.INDEX[a], skeleton.INDEX[b]
        d = np.sqrt(((gt[:, i, :2] - gt[:, j, :2]) ** 2).sum(-1))
        ok = (gt[:, i, 2] > 0) & (gt[:, j, 2] > 0) & (d > 0)
        out = np.where(ok, d, out)
    return out


def mean_limb_lengths(gt: np.ndarray, area: np.ndarray) -> dict[str, float]:
    """PCPm's reference: each limb's mean ground-truth length over the set, in units of s = sqrt(area)."""
    s = np.sqrt(np.asarray(area, np.float64))
    out = {}
    for name, a, b in PCP_LIMBS:
        ok = (gt[:, a, 2] > 0) & (gt[:, b, 2] > 0) & (s > 0)
        lengths = np.sqrt(((gt[ok, a, :2] - gt[ok, b, :2]) ** 2).sum(-1)) / s[ok]
        out[name] = float(lengths.mean()) if ok.any() else float("nan")
    return out


@dataclass
class PoseCounts:
    """Correct/total counts per metric and keypoint (or limb): they add up over batches and devices."""

    correct: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> (25,) or (8,) counts
    total: dict[str, np.ndarray] = field(default_factory=dict)
    oks_sum: float = 0.0  # sum of instance OKS
    instances: int = 0

    def add(self, other: "PoseCounts") -> "PoseCounts":
        for k in other.correct:
            self.correct[k] = self.correct.get(k, 0) + other.correct[k]
            self.total[k] = self.total.get(k, 0) + other.total[k]
        self.oks_sum += other.oks_sum
        self.instances += other.instances
        return self


def count_correct(
    gt: np.ndarray,
    pred: np.ndarray,
    area: np.ndarray,
    *,
    limb_lengths: dict[str, float] | None = None,
    keypoints: Sequence[int] = COCO17,
) -> PoseCounts:
    """Counts of correct keypoints/limbs for each metric of METRICS over N characters.

    gt, pred: (N, 25, 3) in the same pixel frame; area: (N,) the ground truth's segment area (s^2). limb_lengths:
    PCPm's per-limb mean lengths (mean_limb_lengths of the whole set; default: of these characters).
    Counts are per keypoint (25 slots; only `keypoints` filled) and, for PCPm, per limb.
    """
    gt, pred = np.asarray(gt, np.float64), np.asarray(pred, np.float64)
    area = np.asarray(area, np.float64).reshape(len(gt))
    k = skeleton.NUM_KEYPOINTS
    scored = np.zeros(k, bool)
    scored[list(keypoints)] = True
    present = (gt[..., 2] > 0) & scored[None, :]
    counts = PoseCounts()
    ks = keypoint_similarity(gt, pred, area)
    dist = _distance(gt, pred)
    for name, (kind, t) in METRICS.items():
        if kind == "oks":
            ok, mask = ks >= t, present
        elif kind == "pckh":
            h = head_size(gt)
            mask = present & np.isfinite(h)[:, None]
            ok = dist <= t * np.nan_to_num(h, nan=0.0)[:, None]
        elif kind == "pdj":
            tor = torso_diameter(gt)
            mask = present & np.isfinite(tor)[:, None]
            ok = dist <= t * np.nan_to_num(tor, nan=0.0)[:, None]
        else:  # pcp over limbs
            lengths = limb_lengths or mean_limb_lengths(gt, area)
            s = np.sqrt(area)
            c = np.zeros(len(PCP_LIMBS))
            n = np.zeros(len(PCP_LIMBS))
            for j, (limb, a, b) in enumerate(PCP_LIMBS):
                m = (gt[:, a, 2] > 0) & (gt[:, b, 2] > 0) & np.isfinite(lengths[limb]) & (s > 0)
                thr = t * lengths[limb] * s
                good = (dist[:, a] <= thr) & (dist[:, b] <= thr) & m
                c[j], n[j] = good.sum(), m.sum()
            counts.correct[name], counts.total[name] = c, n
            continue
        counts.correct[name] = (ok & mask).sum(0).astype(np.float64)
        counts.total[name] = mask.sum(0).astype(np.float64)
    inst = instance_oks(gt, pred, area, keypoints)
    counts.oks_sum = float(np.nansum(inst))
    counts.instances = int(np.isfinite(inst).sum())
    return counts


@dataclass
class PoseMetrics:
    """Overall and per-keypoint (per-limb for PCPm) values of METRICS, plus the mean instance OKS."""

    overall: dict[str, float]
    per_keypoint: dict[str, dict[str, float]]  # keypoint name -> metric -> value (NaN: not scored)
    per_limb: dict[str, float]  # limb -> PCPm
    instances: int
    mean_oks: float

    def to_dict(self) -> dict:
        def clean(v):
            return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else round(float(v), 6)

        return {
            "overall": {k: clean(v) for k, v in self.overall.items()},
            "mean_oks": clean(self.mean_oks),
            "instances": self.instances,
            "per_keypoint": {n: {k: clean(v) for k, v in m.items()} for n, m in self.per_keypoint.items()},
            "per_limb": {"pcpm50": {k: clean(v) for k, v in self.per_limb.items()}},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def table(self) -> str:
        """The paper's Table 1 row and Table 2 breakdown (per keypoint; PCPm per limb) as text."""
        names = list(METRICS)
        head = f"{'keypoint':<16}" + "".join(f"{LABELS[n]:>9}" for n in names)
        lines = [head, "-" * len(head)]
        lines.append(f"{'overall':<16}" + "".join(_fmt(self.overall[n]) for n in names))
        for kp, vals in self.per_keypoint.items():
            lines.append(f"{kp:<16}" + "".join(_fmt(vals.get(n, float('nan'))) for n in names))
        lines.append("")
        lines.append(f"{'limb':<16}{LABELS['pcpm50']:>9}")
        for limb, v in self.per_limb.items():
            lines.append(f"{limb:<16}{_fmt(v)}")
        lines.append("")
        lines.append(f"characters: {self.instances}   mean OKS: {self.mean_oks:.4f}")
        return "\n".join(lines)


def _fmt(v: float) -> str:
    return f"{v:>9.4f}" if np.isfinite(v) else f"{'-':>9}"


def summarize(counts: PoseCounts, keypoints: Sequence[int] = COCO17) -> PoseMetrics:
    """PoseMetrics from accumulated counts: overall = correct / total over all scored keypoints (limbs)."""
    overall, per_kp, per_limb = {}, {skeleton.KEYPOINT_NAMES[i]: {} for i in keypoints}, {}
    for name, (kind, _) in METRICS.items():
        c, n = np.asarray(counts.correct.get(name, 0.0)), np.asarray(counts.total.get(name, 0.0))
        overall[name] = float(c.sum() / n.sum()) if np.sum(n) > 0 else float("nan")
        if kind == "pcpm":
            for j, (limb, _, _) in enumerate(PCP_LIMBS):
                per_limb[limb] = float(c[j] / n[j]) if np.ndim(n) and n[j] > 0 else float("nan")
        else:
            for i in keypoints:
                value = float(c[i] / n[i]) if np.ndim(n) and n[i] > 0 else float("nan")
                per_kp[skeleton.KEYPOINT_NAMES[i]][name] = value
    mean = counts.oks_sum / counts.instances if counts.instances else float("nan")
    return PoseMetrics(overall, per_kp, per_limb, counts.instances, mean)


def evaluate_arrays(
    gt: np.ndarray, pred: np.ndarray, area: np.ndarray, keypoints: Sequence[int] = COCO17
) -> PoseMetrics:
    """PoseMetrics of predictions for N characters: gt, pred (N, 25, 3) in one pixel frame; area (N,)."""
    gt = np.asarray(gt, np.float64)
    counts = count_correct(gt, pred, area, limb_lengths=mean_limb_lengths(gt, area), keypoints=keypoints)
    return summarize(counts, keypoints)


def evaluate_poses(gt_poses: Iterable, predictions: Iterable, keypoints: Sequence[int] = COCO17) -> PoseMetrics:
    """PoseMetrics of predicted Poses (None: nothing predicted) against ground-truth Poses, pairwise.

    The area of each character is its ground truth's segment_area (segment, else bbox area).
    """
    gt_list = list(gt_poses)
    pred_list = list(predictions)
    if len(gt_list) != len(pred_list):
        raise ValueError(f"{len(gt_list)} ground-truth poses but {len(pred_list)} predictions")
    if not gt_list:
        raise ValueError("nothing to evaluate: no ground-truth poses")
    gt = np.stack([p.keypoints for p in gt_list])
    pred = np.stack([p.keypoints if p is not None else np.zeros_like(gt[0]) for p in pred_list])
    area = np.array([segment_area(p) for p in gt_list], dtype=np.float64)
    return evaluate_arrays(gt, pred, area, keypoints)
