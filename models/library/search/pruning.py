"""Pruning by the principal-component projection: most rows of a library are ruled out without reading them.

For rows compared on their own normalisation (S = P_e, every row for a query with all its joints on)
d^2 = w_S |v - D_e|^2 with v the query rescaled on P_e, and for any orthonormal basis U,
|v - D_e|^2 >= |U^T (v - mean) - U^T (D_e - mean)|^2. The cache keeps the descriptors' projections on
their 16 principal components (64 bytes a row, 5% of the matrix): one pass over them bounds every such row
from below, the PILOT_ROWS best by that bound get the exact treatment (scan.py), and only rows whose bound
does not exceed the pilot's k-th exact distance are read from the matrix at all. On real poses that is well
under 1% of the rows. Rows compared on rescaled shared joints (partial queries) have no such bound and are
scanned. The bound holds for any orthonormal basis, so an index keeps its basis when rows are added.
"""

from __future__ import annotations

import bisect

import numpy as np

from posefinder.models.descriptor import pair_mask
from posefinder.models.library.search import scan as blocked
from posefinder.models.library.search.index import DescriptorIndex, KnnResult
from posefinder.models.library.search.plan import U32, SidePlan
from posefinder.models.library.search.scan import MAX_FLOAT, candidate_count, scan


def knn_among(
    index: DescriptorIndex, plans: list[SidePlan], parts, k: int, row_mask: np.ndarray | None = None
) -> KnnResult:
    """The exact k nearest among the rows of `parts` (row slices, or sorted row arrays): rows that the
    projection bound covers are pruned with it (module docstring), the others scanned."""
    if index.proj is None or k <= 0:
        return scan(index, plans, parts, k, row_mask)
    modes = np.stack([p.mode for p in plans])
    prunable = np.all(modes <= 1, axis=0) & np.any(modes == 1, axis=0)
    scanned = np.any(modes == 2, axis=0)  # compared on rescaled shared joints: no projection bound
    pruned_parts, rest = [], []
    for part in parts:
        if isinstance(part, slice):
            pruned_parts += _pattern_runs(index, part, prunable)
            rest += _pattern_runs(index, part, scanned)
        elif len(part):
            pid = index.pattern_of_rows()[part]
            for which, out in ((prunable, pruned_parts), (scanned, rest)):
                sub = part[which[pid]]
                if len(sub):
                    out.append(sub)
    if not pruned_parts:
        return scan(index, plans, rest, k, row_mask)
    rows_of = _Positions(pruned_parts)
    lower = np.empty(int(rows_of.offsets[-1]))
    pilot_n = max(4 * candidate_count(k), PILOT_ROWS)
    pilot: list[np.ndarray] = []
    held, tau = 0, MAX_FLOAT
    off = 0
    for part in pruned_parts:
        for sel in _slice_blocks(part) if isinstance(part, slice) else _array_blocks(part):
            d = _projection_lower(index, plans, sel)
            if row_mask is not None:
                d[~row_mask[sel]] = np.inf
            lower[off : off + len(d)] = d
            keep = np.flatnonzero(d <= tau)
            if keep.size:
                pilot.append(off + keep)
                held += keep.size
                if held > 4 * pilot_n:
                    pos = np.concatenate(pilot)
                    pos = pos[np.argpartition(lower[pos], pilot_n - 1)[:pilot_n]]
                    pilot, held, tau = [pos], pilot_n, float(lower[pos].max())
            off += len(d)
    if held == 0:
        return scan(index, plans, rest, k, row_mask)
    pos = np.concatenate(pilot)
    if held > pilot_n:
        pos = pos[np.argpartition(lower[pos], pilot_n - 1)[:pilot_n]]
    res = scan(index, plans, [np.sort(rows_of.rows(pos))], k, row_mask)
    # every row left out has a bound above the pilot's k-th distance, which is >= the final k-th distance
    kth = float(res.distances[k - 1]) ** 2 * (1 + 1e-9) + 1e-300 if len(res.rows) >= k else np.inf
    keep = np.flatnonzero(lower <= kth) if np.isfinite(kth) else np.flatnonzero(np.isfinite(lower))
    return scan(index, plans, rest + [np.sort(rows_of.rows(np.union1d(keep, pos)))], k, row_mask)


def _pattern_runs(index: DescriptorIndex, part: slice, which: np.ndarray) -> list[slice]:
    """The rows of `part` whose pattern is marked in `which`, as slices (adjacent ones merged)."""
    starts = index.starts_list()
    g0 = bisect.bisect_right(starts, part.start) - 1
    g1 = bisect.bisect_left(starts, part.stop)
    out: list[slice] = []
    for g in range(max(g0, 0), min(g1, len(which))):
        if not which[g]:
            continue
        a, b = max(part.start, starts[g]), min(part.stop, starts[g + 1])
        if a >= b:
            continue
        if out and out[-1].stop == a:
            out[-1] = slice(out[-1].start, b)
        else:
            out.append(slice(a, b))
    return out


#: Rows the pruned search evaluates first, best by the projection bound (their k-th distance sets the cut).
PILOT_ROWS = 256
#: Slack of the projection bound, relative to |z_q|^2 + |z_e|^2: float32 rounding of the stored and the
#: query's projections (u each, 4u after squaring) and of the r-term dot product (gamma_16 = 17u), with
#: 2ab <= a^2 + b^2; and relative to the bound itself: the stored float32 basis is orthonormal only to
#: ||E||_2 <= u sqrt(300 r) ~ 4e-6, so |basis^T x|^2 <= (1 + 1e-5) |x|^2.
_PROJ_SLACK = 24 * U32
_PROJ_SCALE = 1 - 2e-5


def _slice_blocks(part: slice):
    step = blocked.BLOCK_ROWS
    for a in range(part.start, part.stop, step):
        yield slice(a, min(a + step, part.stop))


def _array_blocks(part: np.ndarray):
    step = blocked.BLOCK_ROWS
    for a in range(0, len(part), step):
        yield part[a : a + step]


class _Positions:
    """Maps positions in the concatenation of parts (row slices or row arrays) back to rows."""

    def __init__(self, parts: list):
        self.parts = parts
        lengths = [p.stop - p.start if isinstance(p, slice) else len(p) for p in parts]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def rows(self, pos: np.ndarray) -> np.ndarray:
        pos = np.asarray(pos, dtype=np.int64)
        which = np.searchsorted(self.offsets, pos, side="right") - 1
        out = np.empty(len(pos), dtype=np.int64)
        for i in np.unique(which):
            here = which == i
            local = pos[here] - self.offsets[i]
            part = self.parts[i]
            out[here] = local + part.start if isinstance(part, slice) else part[local]
        return out


def _projection_lower(index: DescriptorIndex, plans: list[SidePlan], sel) -> np.ndarray:
    """A lower bound of the query distance for rows of patterns whose joints every side compares on their
    own normalisation (mode 1, or 0 = not comparable): with x = v_g - D_e (v_g the query rescaled on the
    pattern's joints), d^2 = w_g |x|^2 >= w_g |basis^T x|^2 = w_g |z_q - z_e|^2, z = projections."""
    if index.proj is None or index.proj_norms2 is None:
        raise ValueError("the projection bound needs an index with a projection (proj, proj_norms2)")
    z = index.proj[:, sel]  # (r, n), each component contiguous
    z2 = index.proj_norms2[sel]
    pid = index.pattern_of_rows()[sel]
    uniform = pid[0] == pid[-1]
    best = None
    for plan in plans:
        zq, c0, c1, c2 = _query_projection(index, plan)
        if uniform:
            g = int(pid[0])
            if plan.mode[g] != 1:
                d = np.full(len(pid), np.inf)
            else:
                # einsum, not BLAS: a 16-term product per row is too small to pay for BLAS threads' sync
                d = np.einsum("i,ij->j", zq[:, g], z) * c1[g]
                d += c0[g]
                d += c2[g] * z2
        else:
            dots = np.einsum("ij,ij->j", z, zq[:, pid])
            d = dots * c1[pid]
            d += c0[pid]
            d += c2[pid] * z2
            d[plan.mode[pid] != 1] = np.inf
        best = d if best is None else np.minimum(best, d, out=best)
    if best is None:
        raise ValueError("a lower bound needs at least one query side")
    return best


def _query_projection(index: DescriptorIndex, plan: SidePlan):
    """(z_q (r, P) float32: the query rescaled on each pattern's joints (0 outside its pairs), minus the
    mean, projected; and per pattern the coefficients of the bound c0 + c1 z_q.z_e + c2 |z_e|^2, with the
    rounding slack folded in). Computed once per query side."""
    cached = plan.__dict__.get("_projection")
    if cached is None:
        if index.basis is None or index.mean is None:
            raise ValueError("the projection bound needs an index with a basis and a mean")
        basis = index.basis.astype(np.float64)
        v = np.where(pair_mask(index.patterns), plan.q[None, :] / plan.sq[:, None], 0.0)
        zq32 = ((v - index.mean.astype(np.float64)) @ basis).astype(np.float32)
        z64 = zq32.astype(np.float64)
        zq2 = np.einsum("ij,ij->i", z64, z64)  # of the float32 z_q the bound uses
        w = plan.w
        cached = (
            np.ascontiguousarray(zq32.T),
            w * (_PROJ_SCALE - _PROJ_SLACK) * zq2,
            -2.0 * w * _PROJ_SCALE,
            w * (_PROJ_SCALE - _PROJ_SLACK),
        )
        plan.__dict__["_projection"] = cached
    return cached
