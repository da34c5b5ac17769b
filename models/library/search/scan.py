"""The blocked pass over the descriptor matrix and the exact float64 re-rank.

The pass runs in blocks of BLOCK_ROWS rows (a matrix-vector product per block and query side, then the
plan's formula on cache-resident vectors) and keeps only the rows below the running m-th best value, so
nothing of length N is sorted. Its values are lower bounds of the distances (plan.py). The best
m = max(4k, k + 32) rows by that bound are re-ranked with exact float64 distances computed pair by pair from
the stored descriptors, and every other row whose bound does not exceed the k-th exact distance is re-ranked
too. So the result is the exact k nearest (ties broken by pose id), not a probable one.
"""

from __future__ import annotations

import numpy as np

from posefinder.models.descriptor import pair_mask
from posefinder.models.library.search.index import (
    DescriptorIndex,
    KnnResult,
    empty_result,
)
from posefinder.models.library.search.plan import REL64, SidePlan

#: Rows per block of the pass (one BLAS call per block and side: few calls, as each one synchronises the
#: BLAS threads, which costs milliseconds on a busy machine; the formula's vectors stay in L2).
BLOCK_ROWS = 65536
#: Rows per block when scanning given rows (approximate search): copied out of the matrix, 20 MB.
GATHER_ROWS = 16384
_EXACT_CHUNK = 4096
#: Blocks with fewer pattern runs are handled run by run in the shared-joint path (else with masks).
_MAX_RUNS = 24
MAX_FLOAT = float(np.finfo(np.float64).max)


def _orientation_sq(index: DescriptorIndex, plan: SidePlan, sel) -> np.ndarray:
    """orientation_weight * |u_e - u_q|^2 for the rows `sel` (0 where the entry has no up vector)."""
    up = index.up[sel].astype(np.float64)
    if plan.up is None:  # the orientation term is off
        return np.zeros(len(up))
    du = up - plan.up
    t = du[:, 0] * du[:, 0] + du[:, 1] * du[:, 1]
    return np.where(np.isnan(t), 0.0, plan.orientation_weight * t)


def _general_lower(index: DescriptorIndex, plan: SidePlan, sel, pid: np.ndarray, b: np.ndarray):
    """Lower bounds for rows compared on S = J & P_e (mode 2): s_e(S) and C_e(S) from the coordinates of
    the shared joints (joint-major, so every reduction over joints is elementwise on contiguous rows).
    A slice of rows is taken pattern run by pattern run (S is fixed within one, no masks)."""
    if isinstance(sel, slice):
        cuts = np.flatnonzero(pid[1:] != pid[:-1]) + 1
        if len(cuts) < _MAX_RUNS:
            out = np.full(len(pid), np.inf)
            for a, e in zip([0, *cuts.tolist()], [*cuts.tolist(), len(pid)]):
                g = int(pid[a])
                if plan.mode[g] == 2:
                    out[a:e] = _general_run(index, plan, slice(sel.start + a, sel.start + e), g, b[a:e])
            return out
    x = index.coords[:, :, sel][plan.jidx]  # (|J|, 2, n) float32; absent joints are 0
    pres = index.patterns[pid][:, plan.jidx].T[:, None, :]
    lo = np.where(pres, x, np.inf).min(axis=0)
    hi = np.where(pres, x, -np.inf).max(axis=0)
    return _general_formula(plan, pid, lo, hi, x, b)


def _general_run(index: DescriptorIndex, plan: SidePlan, run: slice, g: int, b: np.ndarray) -> np.ndarray:
    shared = plan.shared_joints(index, g)
    x = index.coords[shared, :, run]  # (|S|, 2, n): present joints only
    return _general_formula(plan, g, x.min(axis=0), x.max(axis=0), x, b)


def _general_formula(plan: SidePlan, g, lo, hi, x, b):
    """alpha + beta B / s_e + w (C - slack) / s_e^2 from the shared joints' box (lo, hi) and coordinates x."""
    with np.errstate(invalid="ignore"):  # rows sharing no joint (inf - inf): not comparable anyway
        se = np.maximum(hi[0].astype(np.float64) - lo[0], hi[1].astype(np.float64) - lo[1])
    s1 = np.add.reduce(x, axis=0, dtype=np.float64)  # (2, n)
    s2 = np.einsum("ijk,ijk->k", x, x, dtype=np.float64)
    c = plan.n_shared[g] * s2 - (s1[0] * s1[0] + s1[1] * s1[1])
    c -= plan.c_slack[g]
    ok = se > 0  # (False for nan)
    se = np.where(ok, se, 1.0)
    d = (plan.beta[g] * b) / se
    d += plan.alpha[g]
    d += (plan.w[g] * (1 - REL64)) * c / (se * se)
    d[~ok] = np.inf
    return d


def _block_lower(index: DescriptorIndex, plans: list[SidePlan], sel, rows: np.ndarray | None) -> np.ndarray:
    """Lower bounds of the query distance (best side) for one block: sel is a slice of rows, or `rows` sorted."""
    desc = index.descriptors[sel] if rows is None else np.take(index.descriptors, rows, axis=0)
    n2 = index.norms2[sel]
    pid = index.pattern_of_rows()[sel]
    uniform = pid[0] == pid[-1]  # rows are sorted by pattern
    best = None
    for plan in plans:
        b = desc @ plan.q32
        if uniform:
            g = int(pid[0])
            mode = plan.mode[g]
            if mode == 0:
                d = np.full(len(pid), np.inf)
            elif mode == 1:
                d = plan.beta[g] * b
                d += plan.alpha[g]
                d += plan.cw[g] * n2
            else:
                d = _general_lower(index, plan, sel, pid, b)
        else:
            d = plan.beta[pid] * b
            d += plan.alpha[pid]
            d += plan.cw[pid] * n2
            if plan.any_general:
                gi = np.flatnonzero(plan.mode[pid] == 2)
                if gi.size > len(pid) // 8 and rows is None:  # cheaper for the whole block than gathered
                    d[gi] = _general_lower(index, plan, sel, pid, b)[gi]
                elif gi.size:
                    d[gi] = _general_lower(index, plan, _abs_rows(sel, rows)[gi], pid[gi], b[gi])
        if plan.up is not None:
            d += _orientation_sq(index, plan, sel) * (1 - REL64)
        best = d if best is None else np.minimum(best, d, out=best)
    if best is None:
        raise ValueError("a lower bound needs at least one query side")
    return best


def _abs_rows(sel, rows):
    return rows if rows is not None else np.arange(sel.start, sel.stop)


def _blocks(parts):
    """(selector, rows or None, part number, offset in part) for blocks of each part: BLOCK_ROWS rows of a
    slice, GATHER_ROWS of a row array (those rows are copied out of the matrix)."""
    for pi, part in enumerate(parts):
        if isinstance(part, slice):
            for a in range(part.start, part.stop, BLOCK_ROWS):
                yield slice(a, min(a + BLOCK_ROWS, part.stop)), None, pi, a - part.start
        else:
            for a in range(0, len(part), GATHER_ROWS):
                r = part[a : a + GATHER_ROWS]
                yield r, r, pi, a


def _part_len(part) -> int:
    return part.stop - part.start if isinstance(part, slice) else len(part)


def _part_rows(part, pos: np.ndarray) -> np.ndarray:
    return pos + part.start if isinstance(part, slice) else part[pos]


def candidate_count(k: int) -> int:
    """How many rows, best by the pass's bound, the exact re-rank sees first for k results."""
    return max(4 * k, k + 32)


def scan(index: DescriptorIndex, plans: list[SidePlan], parts, k: int, row_mask: np.ndarray | None = None) -> KnnResult:
    """The exact k nearest among the rows of `parts` (slices of rows, or sorted row arrays), best first."""
    m = candidate_count(k)
    lowers = [np.empty(_part_len(p)) for p in parts]
    cand_rows: list[np.ndarray] = []
    cand_vals: list[np.ndarray] = []
    held, tau = 0, MAX_FLOAT
    for sel, rows, pi, off in _blocks(parts):
        d = _block_lower(index, plans, sel, rows)
        if row_mask is not None:
            d[~row_mask[sel]] = np.inf
        lowers[pi][off : off + len(d)] = d
        keep = np.flatnonzero(d <= tau)
        if keep.size:
            cand_rows.append(_part_rows(parts[pi], off + keep) if rows is None else rows[keep])
            cand_vals.append(d[keep])
            held += keep.size
            if held > 4 * m:
                cand_rows, cand_vals, tau = _keep_best(cand_rows, cand_vals, m)
                held = len(cand_rows[0])
    if held == 0:
        return empty_result()
    if held > m:
        cand_rows, cand_vals, tau = _keep_best(cand_rows, cand_vals, m)
    elif held < m:
        tau = MAX_FLOAT  # every finite bound is a candidate already
    cand = np.concatenate(cand_rows)
    res = rerank(index, plans, cand, k)
    # (squared back from the distance: a relative margin covers the rounding of sqrt and square)
    kth = float(res.distances[k - 1]) ** 2 * (1 + 1e-9) + 1e-300 if len(res.rows) >= k else np.inf
    if kth < tau:
        return res
    # rows whose bound does not exceed the k-th exact distance may still belong: re-rank them too
    extra = [
        _part_rows(p, np.flatnonzero(lo <= kth) if np.isfinite(kth) else np.flatnonzero(np.isfinite(lo)))
        for p, lo in zip(parts, lowers)
    ]
    more = np.setdiff1d(np.concatenate(extra), cand, assume_unique=False)
    if more.size == 0:
        return res
    return rerank(index, plans, np.concatenate([cand, more]), k)


def _keep_best(rows_list, vals_list, m):
    rows, vals = np.concatenate(rows_list), np.concatenate(vals_list)
    if len(vals) > m:
        part = np.argpartition(vals, m - 1)[:m]
        rows, vals = rows[part], vals[part]
    return [rows], [vals], float(vals.max())


def exact_distances_sq(index: DescriptorIndex, plans: list[SidePlan], rows: np.ndarray):
    """(d2, mirrored) for the given rows, computed pair by pair in float64 (the re-rank); inf: not comparable."""
    rows = np.asarray(rows, dtype=np.int64)
    d2_out = np.full(len(rows), np.inf)
    mir_out = np.zeros(len(rows), dtype=bool)
    for a in range(0, len(rows), _EXACT_CHUNK):
        r = rows[a : a + _EXACT_CHUNK]
        pid = index.pattern_of_rows()[r]
        pats = index.patterns[pid]
        desc = index.descriptors[r].astype(np.float64)
        coords = index.coords[:, :, r].transpose(2, 0, 1).astype(np.float64)  # (m, 25, 2)
        best = np.full(len(r), np.inf)
        mirrored = np.zeros(len(r), dtype=bool)
        for plan in plans:
            mode = plan.mode[pid]
            shared = pats & plan.joints
            lo = np.where(shared[:, :, None], coords, np.inf).min(axis=1)
            hi = np.where(shared[:, :, None], coords, -np.inf).max(axis=1)
            with np.errstate(invalid="ignore"):
                se = np.where(mode == 1, 1.0, (hi - lo).max(axis=1))  # stored normalisation: exactly 1
            ok = (mode > 0) & (se > 0)
            se = np.where(ok, se, 1.0)
            diff = np.where(pair_mask(shared), plan.q[None, :] / plan.sq[pid][:, None] - desc / se[:, None], 0.0)
            d2 = np.where(ok, plan.w[pid] * np.einsum("ij,ij->i", diff, diff), np.inf)
            if plan.up is not None:
                d2 += _orientation_sq(index, plan, r)
            better = d2 < best
            best = np.where(better, d2, best)
            mirrored = np.where(better, plan.mirrored, mirrored)
        d2_out[a : a + len(r)] = best
        mir_out[a : a + len(r)] = mirrored
    return d2_out, mir_out


def rerank(index: DescriptorIndex, plans: list[SidePlan], cand: np.ndarray, k: int) -> KnnResult:
    """Exact distances for the candidate rows, the best k of them, best first (ties by pose id)."""
    cand = np.asarray(cand, dtype=np.int64)
    ex, mir = exact_distances_sq(index, plans, cand)
    keep = np.isfinite(ex)
    cand, ex, mir = cand[keep], ex[keep], mir[keep]
    order = np.lexsort((index.pose_ids[cand], ex))[:k]
    return KnnResult(cand[order], np.sqrt(np.maximum(ex[order], 0.0)), mir[order])
