"""Exact k-nearest-neighbour search over the descriptor matrix: one matmul pass, then an exact re-rank.

For a query with joints J and an entry e with present joints P_e, S = J & P_e and (descriptor.py)

    d^2(q, e) = w_S * sum_{p in pairs(S)} (Q_p / s_q(S) - D_{e,p} / s_e(S))^2
              = w_S * (A(S) / s_q^2 - 2 B_e / (s_q s_e) + C_e(S) / s_e^2)

with Q the query's pairwise distances (0 outside pairs(J)), D_e the entry's (0 outside pairs(P_e)), so that
B_e = D_e . Q is ONE matrix-vector product over the N x 300 float32 matrix (the mirrored query is a second
column: mirror search costs no second pass). A(S) and s_q(S) depend only on the entry's presence pattern:
rows are sorted by pattern and each pattern is a slice. When P_e is inside J (always for a full query),
s_e = 1 (entries are stored normalised on their own joints) and C_e = |D_e|^2 is precomputed. Otherwise
s_e(S) and C_e(S) come from the N x 25 x 2 normalised coordinates, C by
sum_{i<j in S} |x_i - x_j|^2 = |S| sum_{i in S} |x_i|^2 - |sum_{i in S} x_i|^2.

float32 expansion loses precision for near neighbours, so the best max(4k, k + 32) candidates of the fast
formula are re-ranked with exact float64 distances computed pair by pair from the stored descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models import skeleton
from posefinder.models.descriptor import (
    PAIRS,
    Query,
    bbox_longest_side,
    normalized_keypoints,
    num_pairs,
    pair_mask,
    pairwise_distances,
    torso_up,
)

K = skeleton.NUM_KEYPOINTS


@dataclass
class DescriptorIndex:
    """The searchable arrays of a library, rows sorted by presence pattern (then pose id).

    descriptors: (N, 300) float32, each entry's pairwise distances normalised on its own present joints
    (0 for pairs touching an absent joint); coords: (N, 25, 2) float32 keypoints centred on their mean
    and divided by the same scale (0 where absent); norms2: (N,) float64 squared descriptor norms;
    up: (N, 2) float32 torso up vector (nan where undefined); patterns: (P, 25) bool; starts: (P + 1,)
    row offsets of each pattern's slice; pose_ids, image_ids, folder_ids: (N,) int64 (folder -1: none).
    """

    descriptors: np.ndarray
    coords: np.ndarray
    norms2: np.ndarray
    up: np.ndarray
    patterns: np.ndarray
    starts: np.ndarray
    pose_ids: np.ndarray
    image_ids: np.ndarray
    folder_ids: np.ndarray
    generation: int = -1

    def __len__(self) -> int:
        return int(self.pose_ids.shape[0])

    def pattern_of_rows(self) -> np.ndarray:
        """(N,) pattern index of each row."""
        return np.repeat(np.arange(len(self.patterns)), np.diff(self.starts))


@dataclass
class KnnResult:
    rows: np.ndarray  # (k,) row indices into the DescriptorIndex, best first
    distances: np.ndarray  # (k,) float64
    mirrored: np.ndarray  # (k,) bool: the mirrored query matched better


def _empty() -> KnnResult:
    return KnnResult(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))


@dataclass
class _Side:
    mirrored: bool
    joints: np.ndarray  # (25,) bool
    xy: np.ndarray  # (25, 2) float64 query coordinates, in units of its bbox over `joints`
    q: np.ndarray  # (300,) float64 pairwise distances, 0 outside pairs(joints)
    up: np.ndarray | None


def _prepare_sides(query: Query) -> list[_Side]:
    out = []
    for mirrored, pose, joints in query.sides():
        xy, _, _ = normalized_keypoints(pose, joints)
        # rounded like the stored descriptors, so that a pose finds its own entry at distance 0
        q = np.where(pair_mask(joints), pairwise_distances(xy), 0.0).astype(np.float32).astype(np.float64)
        up = torso_up(pose.xy, joints) if query.orientation_weight > 0 else None
        out.append(_Side(mirrored, joints, xy, q, up))
    return out


def _entry_scale_and_c(coords: np.ndarray, shared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s_e(S), C_e(S)) for rows of coords (n, 25, 2) on the joints `shared`, in float64."""
    idx = np.flatnonzero(shared)
    x = coords[:, idx, :].astype(np.float64)
    extent = x.max(axis=1) - x.min(axis=1)
    s = extent.max(axis=1)
    c = len(idx) * np.einsum("nij,nij->n", x, x) - np.einsum("nj,nj->n", x.sum(axis=1), x.sum(axis=1))
    return s, np.maximum(c, 0.0)


def fast_distances_sq(index: DescriptorIndex, query: Query, sides: list[_Side] | None = None):
    """(d2 (N,) float64 with inf where not comparable, mirrored (N,) bool): the fast formula for every row."""
    sides = sides or _prepare_sides(query)
    n = len(index)
    qmat = np.stack([s.q for s in sides], axis=1).astype(np.float32)  # (300, sides)
    b_all = index.descriptors @ qmat  # (N, sides) float32: the one pass over memory
    need = query.min_shared_joints()
    best = np.full(n, np.inf)
    mirrored = np.zeros(n, dtype=bool)
    for si, side in enumerate(sides):
        q2 = side.q**2
        n_j = int(side.joints.sum())
        d2 = np.full(n, np.inf)
        for g, pattern in enumerate(index.patterns):
            a, b = int(index.starts[g]), int(index.starts[g + 1])
            if a == b:
                continue
            shared = side.joints & pattern
            n_s = int(shared.sum())
            if n_s < need:
                continue
            sq = bbox_longest_side(side.xy, shared)
            if sq <= 0:
                continue
            a_s = float(q2[pair_mask(shared)].sum())
            w = num_pairs(n_j) / num_pairs(n_s)
            bb = b_all[a:b, si].astype(np.float64)
            if np.array_equal(shared, pattern):  # the entry's joints all compared: stored normalisation
                d2[a:b] = w * (a_s / (sq * sq) - 2.0 * bb / sq + index.norms2[a:b])
            else:
                se, c = _entry_scale_and_c(index.coords[a:b], shared)
                ok = se > 0
                se = np.where(ok, se, 1.0)
                d2[a:b] = np.where(ok, w * (a_s / (sq * sq) - 2.0 * bb / (sq * se) + c / (se * se)), np.inf)
        if side.up is not None:
            has = ~np.isnan(index.up[:, 0])
            du = index.up[has].astype(np.float64) - side.up
            d2[has] += query.orientation_weight * np.einsum("ij,ij->i", du, du)
        better = d2 < best
        best = np.where(better, d2, best)
        mirrored = np.where(better, side.mirrored, mirrored)
    return best, mirrored


def exact_distances_sq(index: DescriptorIndex, query: Query, rows: np.ndarray, sides: list[_Side] | None = None):
    """(d2, mirrored) for the given rows, computed pair by pair in float64 (the re-rank)."""
    sides = sides or _prepare_sides(query)
    rows = np.asarray(rows, dtype=np.int64)
    pat = index.patterns[np.searchsorted(index.starts, rows, side="right") - 1]  # (m, 25)
    desc = index.descriptors[rows].astype(np.float64)  # (m, 300)
    coords = index.coords[rows].astype(np.float64)  # (m, 25, 2)
    need = query.min_shared_joints()
    best = np.full(len(rows), np.inf)
    mirrored = np.zeros(len(rows), dtype=bool)
    for side in sides:
        shared = side.joints[None, :] & pat  # (m, 25)
        n_s = shared.sum(axis=1)
        pm = pair_mask(shared)  # (m, 300)
        big = np.where(shared[:, :, None], coords, np.nan)
        with np.errstate(invalid="ignore"):
            se = np.nan_to_num(np.nanmax(big, axis=1) - np.nanmin(big, axis=1), nan=0.0).max(axis=1)
        sq = np.array([bbox_longest_side(side.xy, s) for s in shared])
        ok = (n_s >= need) & (se > 0) & (sq > 0)
        se_safe = np.where(ok, se, 1.0)
        sq_safe = np.where(ok, sq, 1.0)
        diff = np.where(pm, side.q[None, :] / sq_safe[:, None] - desc / se_safe[:, None], 0.0)
        n_j = int(side.joints.sum())
        w = np.array([num_pairs(n_j) / max(num_pairs(int(v)), 1) for v in n_s])
        d2 = np.where(ok, w * np.einsum("ij,ij->i", diff, diff), np.inf)
        if side.up is not None:
            up = index.up[rows].astype(np.float64)
            has = ~np.isnan(up[:, 0])
            du = up[has] - side.up
            d2[has] += query.orientation_weight * np.einsum("ij,ij->i", du, du)
        better = d2 < best
        best = np.where(better, d2, best)
        mirrored = np.where(better, side.mirrored, mirrored)
    return best, mirrored


def candidate_count(k: int) -> int:
    """How many fast-formula candidates the exact re-rank sees for k results."""
    return max(4 * k, k + 32)


def exact_knn(index: DescriptorIndex, query: Query, k: int, row_mask: np.ndarray | None = None) -> KnnResult:
    """The k nearest rows (optionally only rows where row_mask is True), exact distances, best first;
    ties broken by pose id."""
    if len(index) == 0 or k <= 0:
        return _empty()
    sides = _prepare_sides(query)
    d2, _ = fast_distances_sq(index, query, sides)
    if row_mask is not None:
        d2 = np.where(row_mask, d2, np.inf)
    finite = np.flatnonzero(np.isfinite(d2))
    if finite.size == 0:
        return _empty()
    m = min(finite.size, candidate_count(k))
    if m < finite.size:
        cand = finite[np.argpartition(d2[finite], m - 1)[:m]]
    else:
        cand = finite
    return rerank(index, query, cand, k, sides)


def rerank(index: DescriptorIndex, query: Query, cand: np.ndarray, k: int, sides=None) -> KnnResult:
    """Exact distances for the candidate rows, the best k of them, best first (ties by pose id)."""
    ex, mir = exact_distances_sq(index, query, cand, sides)
    keep = np.isfinite(ex)
    cand, ex, mir = cand[keep], ex[keep], mir[keep]
    order = np.lexsort((index.pose_ids[cand], ex))[:k]
    return KnnResult(cand[order], np.sqrt(np.maximum(ex[order], 0.0)), mir[order])
