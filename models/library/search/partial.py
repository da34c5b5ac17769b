"""Pruning for partial queries: a principal-component projection per standard joint mask.

A query side with joints J compares an entry of presence pattern P on S = J & P, both rescaled on S
(plan.py). When P is inside J (every entry, for a query with all its joints on) the entry keeps its stored
normalisation and the library's projection bounds it (pruning.py). When it is not (the entries that have
the legs a query switched off: nearly all of them), the entry's side is

    y_e(S) = D_e restricted to pairs(S) / s_e(S)       and       d^2 = w_S |v(S) - y_e(S)|^2

with v(S) the query's pairwise distances on pairs(S) over its scale on S. For each mask M of MASKS (legs
off, arms off, head off, upper body only) the cache keeps every row's y_e(M & P_e) projected on the
principal components of those vectors (basis U_M with orthonormal columns, mean mu_M):
p_e = U_M^T (y_e - mu_M), 16 float32 a row. For a pattern g with J & P_g == M & P_g (for a query with the
legs off: any entry, whatever the query or the entry lack besides, as long as the entry lacks no joint of
M that the query has) the same bound as a full query's holds:

    d^2 = w |v - y_e|^2 >= w |U_M^T (v - mu_M) - p_e|^2

so one pass over the projections (64 bytes a row) rules out most rows unread, and the rest of the search
(the pilot, the scan of the rows left, the exact re-rank) is the full query's. Patterns that no mask
covers for the query (other masks, or entries lacking joints the query has) are scanned as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models import skeleton
from posefinder.models.descriptor import NUM_PAIRS, pair_mask

K = skeleton.NUM_KEYPOINTS
#: The masks kept: the joint groups an artist switches off in the canvas (legs, arms, head) and the upper body.
MASK_NAMES = ("legs off", "arms off", "head off", "upper body")
#: Principal components kept per mask (64 bytes a row each).
MASK_DIMS = 16
_CHUNK = 16384
_SMALL_PRODUCT = 65536


def _group(name: str) -> np.ndarray:
    out = np.zeros(K, bool)
    out[skeleton.resolve_names(name)] = True
    return out


def standard_masks() -> np.ndarray:
    """(len(MASK_NAMES), 25) bool: the joints each mask keeps on."""
    return np.stack([~_group("legs"), ~_group("arms"), ~_group("head"), _group("upper_body")])


@dataclass
class MaskedProjection:
    """Per mask m: joints (M, 25) bool, basis (M, 300, r) float32 orthonormal columns, mean (M, 300) float32;
    per row: proj (M, r, N) float32 = (U_m^T (y_e(m) - mu_m)), norms2 (M, N) float64 of the float32 values."""

    joints: np.ndarray
    basis: np.ndarray
    mean: np.ndarray
    proj: np.ndarray
    norms2: np.ndarray


def _run_vectors(desc: np.ndarray, coords: np.ndarray, pattern: np.ndarray, mask: np.ndarray, rows: slice):
    """(columns (c,) of pairs(S), y (n, c) float64 = the rows' pairs on S = mask & pattern over s_e(S)) for
    rows of one presence pattern; rows with no extent on S get 0 (nothing is compared with them on S)."""
    shared = pattern & mask
    cols = np.flatnonzero(pair_mask(shared))
    n = rows.stop - rows.start
    if len(cols) == 0:
        return cols, np.zeros((n, 0))
    x = coords[np.flatnonzero(shared), :, rows].astype(np.float64)  # (|S|, 2, n)
    se = np.maximum(x[:, 0].max(axis=0) - x[:, 0].min(axis=0), x[:, 1].max(axis=0) - x[:, 1].min(axis=0))
    ok = se > 0
    y = np.asarray(desc[rows][:, cols], dtype=np.float64) / np.where(ok, se, 1.0)[:, None]
    y[~ok] = 0.0
    return cols, y


def _runs(starts: np.ndarray, chunk: int = _CHUNK):
    """(pattern, row slice) pieces of at most `chunk` rows, pattern by pattern."""
    for g in range(len(starts) - 1):
        for a in range(int(starts[g]), int(starts[g + 1]), chunk):
            yield g, slice(a, min(a + chunk, int(starts[g + 1])))


def _principal(desc, coords, patterns, starts, mask, dims, sample) -> tuple[np.ndarray, np.ndarray]:
    """(basis (300, dims) float32, mean (300,) float32) of the sampled rows' y(mask & P) with an extent."""
    pid = np.repeat(np.arange(len(patterns)), np.diff(starts))
    parts = []
    for g in np.unique(pid[sample]):
        rows = sample[pid[sample] == g]
        shared = patterns[g] & mask
        cols = np.flatnonzero(pair_mask(shared))
        if len(cols) == 0:
            continue
        x = coords[:, :, rows][np.flatnonzero(shared)].astype(np.float64)
        se = np.maximum(x[:, 0].max(axis=0) - x[:, 0].min(axis=0), x[:, 1].max(axis=0) - x[:, 1].min(axis=0))
        ok = se > 0
        y = np.zeros((int(ok.sum()), NUM_PAIRS))
        y[:, cols] = np.asarray(desc[rows[ok]][:, cols], dtype=np.float64) / se[ok, None]
        parts.append(y)
    basis64 = np.zeros((NUM_PAIRS, dims))
    mean64 = np.zeros(NUM_PAIRS)
    if parts:
        y = np.concatenate(parts)
        mean64 = y.mean(axis=0)
        centred = y - mean64
        top = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :dims]
        basis64[:, : top.shape[1]] = top
    return basis64.astype(np.float32), mean64.astype(np.float32)


def masked_projection(
    desc: np.ndarray,
    coords: np.ndarray,
    patterns: np.ndarray,
    starts: np.ndarray,
    bases: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    dims: int = MASK_DIMS,
    sample_rows: int = 20_000,
    seed: int = 0,
    chunk: int = _CHUNK,
) -> MaskedProjection:
    """The masked projections of rows sorted by presence pattern (patterns (P, 25), starts (P + 1,)).
    bases: (joints, basis, mean) to project on (an index keeps them when rows are added); default: the
    standard masks and the principal components of a sample of the rows."""
    n = len(desc)
    if bases is None:
        joints = standard_masks()
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, sample_rows), replace=False)) if n else np.zeros(0, np.int64)
        fitted = [_principal(desc, coords, patterns, starts, m, dims, sample) for m in joints]
        basis = np.stack([b for b, _ in fitted]) if fitted else np.zeros((0, NUM_PAIRS, dims), np.float32)
        mean = np.stack([m for _, m in fitted]) if fitted else np.zeros((0, NUM_PAIRS), np.float32)
    else:
        joints, basis, mean = bases
    r = basis.shape[2]
    proj = np.zeros((len(joints), r, n), dtype=np.float32)
    norms2 = np.zeros((len(joints), n))
    for m in range(len(joints)):
        b64, mu64 = basis[m].astype(np.float64), mean[m].astype(np.float64)
        offset = mu64 @ b64  # y is 0 outside pairs(S): (y - mu) U = y[cols] U[cols] - mu U
        for g, rows in _runs(starts, chunk):
            cols, y = _run_vectors(desc, coords, patterns[g], joints[m], rows)
            u = b64[cols]
            z = np.einsum("ij,jk->ik", y, u) if n < _SMALL_PRODUCT else y @ u
            z -= offset
            proj[m, :, rows] = z.T
            z32 = proj[m, :, rows].astype(np.float64)
            norms2[m, rows] = np.einsum("ij,ij->j", z32, z32)
    return MaskedProjection(joints, basis, mean, proj, norms2)


def matching_masks(mask_joints: np.ndarray, patterns: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(P,) int: for each pattern, the first mask m with mask & P == joints & P (the rows' stored masked
    projection is their side of a query with these joints), -1 where none is."""
    if len(mask_joints) == 0:
        return np.full(len(patterns), -1)
    same = np.all((mask_joints[:, None, :] & patterns[None]) == (joints & patterns)[None], axis=2)  # (M, P)
    return np.where(same.any(axis=0), same.argmax(axis=0), -1)
