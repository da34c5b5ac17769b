"""Exact k-nearest-neighbour search over the descriptor matrix: a pruned blocked pass, then an exact re-rank.

For a query with joints J and an entry e with present joints P_e, S = J & P_e and (descriptor.py)

    d^2(q, e) = w_S * sum_{p in pairs(S)} (Q_p / s_q(S) - D_{e,p} / s_e(S))^2
              = w_S * (A(S) / s_q^2 - 2 B_e / (s_q s_e) + C_e(S) / s_e^2)

with Q the query's pairwise distances (0 outside pairs(J)) and D_e the entry's (0 outside pairs(P_e)), so that
B_e = D_e . Q is ONE matrix-vector product over the N x 300 float32 matrix. A(S), s_q(S) and w_S depend only
on the entry's presence pattern: they are computed once per query for all patterns at once (rows are sorted
by pattern). When P_e is inside J (always for a query with all its joints on) S = P_e, s_e = 1 (entries are
stored normalised on their own joints) and C_e = |D_e|^2 is precomputed: the pass reads the matrix and two
N-vectors. Otherwise s_e(S) and C_e(S) come from the N x 25 x 2 normalised coordinates, C by
sum_{i<j in S} |x_i - x_j|^2 = |S| sum_{i in S} |x_i|^2 - |sum_{i in S} x_i|^2 (absent joints are 0 there).

The pass runs in blocks of BLOCK_ROWS rows (a matrix-vector product per block and query side, then the
formula on cache-resident vectors) and keeps only the rows below the running m-th best value, so nothing of
length N is sorted.

Pruning (exact_knn): for rows compared on their own normalisation (S = P_e, every row for a query with all
its joints on) d^2 = w_S |v - D_e|^2 with v the query rescaled on P_e, and for any orthonormal basis U,
|v - D_e|^2 >= |U^T (v - mean) - U^T (D_e - mean)|^2. The cache keeps the 16 principal components of the
descriptors' projections (64 bytes a row, 5% of the matrix): one pass over them bounds every such row from
below, the PILOT_ROWS best by that bound get the exact treatment, and only rows whose bound does not exceed
the pilot's k-th exact distance are read from the matrix at all. On real poses that is well under 1% of
the rows. Rows compared on rescaled shared joints (partial queries) have no such bound and are scanned.

Exactness: the float32 product and the float32 coordinates make the pass approximate; it computes a LOWER
BOUND of each distance instead (B_e, a sum of 300 non-negative products, is off by at most GAMMA_DOT * B_e in
any summation order; C_e from the coordinates is off by at most C_SLACK_PER_PAIR per compared pair). The
best m = max(4k, k + 32) rows by that bound are re-ranked with exact float64 distances computed pair by pair
from the stored descriptors, and every other row whose bound does not exceed the k-th exact distance is
re-ranked too. So the result is the exact k nearest (ties broken by pose id), not a probable one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from posefinder.models import skeleton
from posefinder.models.descriptor import (
    NUM_PAIRS,
    Query,
    normalized_keypoints,
    pair_mask,
    pairwise_distances,
    torso_up,
)

K = skeleton.NUM_KEYPOINTS
#: Rows per block of the pass (one BLAS call per block and side: few calls, as each one synchronises the
#: BLAS threads, which costs milliseconds on a busy machine; the formula's vectors stay in L2).
BLOCK_ROWS = 65536
#: Rows per block when scanning given rows (approximate search): copied out of the matrix, 20 MB.
GATHER_ROWS = 16384
_U32 = 2.0**-24
#: Relative error bound of a float32 dot product of NUM_PAIRS non-negative products (Higham's gamma_n).
GAMMA_DOT = (NUM_PAIRS + 1) * _U32 / (1 - (NUM_PAIRS + 1) * _U32)
#: Bound, per compared pair, of |C_e(S) from float32 coordinates - sum of the squared float32 descriptors|
#: (coordinates in [-1, 1]: each pair distance is off by <= 2 sqrt(2) u + sqrt(2) u, its square by 2 sqrt(2) x that).
C_SLACK_PER_PAIR = 13.0 * _U32
#: Relative slack for float64 rounding in the pass's formula.
_REL64 = 1e-12
_EXACT_CHUNK = 4096
_MAX_FLOAT = float(np.finfo(np.float64).max)


@dataclass
class DescriptorIndex:
    """The searchable arrays of a library, rows sorted by presence pattern (then pose id).

    descriptors: (N, 300) float32, each entry's pairwise distances normalised on its own present joints
    (0 for pairs touching an absent joint); coords: (N, 25, 2) float32 keypoints centred on their mean
    and divided by the same scale (0 where absent); norms2: (N,) float64 squared descriptor norms;
    up: (N, 2) float32 torso up vector (nan where undefined); patterns: (P, 25) bool; starts: (P + 1,)
    row offsets of each pattern's slice; pose_ids, image_ids, folder_ids: (N,) int64 (folder -1: none).
    basis: (300, r) float32 orthonormal columns, mean: (300,) float32, proj: (r, N) float32
    ((descriptors - mean) @ basis).T, proj_norms2: (N,) float64 (the projection bound; None: no pruning).
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
    basis: np.ndarray | None = None
    mean: np.ndarray | None = None
    proj: np.ndarray | None = None
    proj_norms2: np.ndarray | None = None
    _row_patterns: np.ndarray | None = field(default=None, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.pose_ids.shape[0])

    def fingerprint(self) -> str:
        """Identifies the rows (pose ids and presence patterns, in order), for indexes derived from them."""
        fp = self._fingerprint
        if fp is None:
            h = hashlib.blake2b(digest_size=16)
            for arr in (self.pose_ids, self.starts, self.patterns):
                h.update(np.ascontiguousarray(arr).tobytes())
            fp = self._fingerprint = f"{len(self)}-{h.hexdigest()}"
        return fp

    def pattern_of_rows(self) -> np.ndarray:
        """(N,) int32 pattern index of each row (computed once)."""
        rp = self._row_patterns
        if rp is None:
            rp = np.repeat(np.arange(len(self.patterns), dtype=np.int32), np.diff(self.starts))
            self._row_patterns = rp
        return rp


@dataclass
class KnnResult:
    rows: np.ndarray  # (k,) row indices into the DescriptorIndex, best first
    distances: np.ndarray  # (k,) float64
    mirrored: np.ndarray  # (k,) bool: the mirrored query matched better


def _empty() -> KnnResult:
    return KnnResult(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))


def _num_pairs(n):
    return n * (n - 1) // 2


@dataclass
class SidePlan:
    """One side of a query (as drawn, or mirrored) against every presence pattern of an index.

    Per pattern g: mode 0 = not comparable (too few shared joints or no extent), 1 = the entry's joints are
    all compared (stored normalisation: s_e = 1, C = norms2), 2 = compared on S = J & P_g (rescaled per row).
    alpha, beta, cw are the lower-bound coefficients of the pass: bound = alpha + beta B / s_e + cw C / s_e^2.
    """

    mirrored: bool
    joints: np.ndarray  # (25,) bool
    jidx: np.ndarray  # indices of the joints
    q: np.ndarray  # (300,) float64 pairwise distances of the normalised query, 0 outside pairs(joints)
    q32: np.ndarray  # the same in float32 (exactly: q is rounded to float32)
    up: np.ndarray | None  # (2,) torso up vector, None when the orientation term is off or undefined
    orientation_weight: float
    mode: np.ndarray  # (P,) int8
    covers: np.ndarray  # (P,) bool: the pattern has every joint of J (no mask needed for S)
    n_shared: np.ndarray  # (P,) int64
    sq: np.ndarray  # (P,) float64 query scale over S (1 where not comparable)
    w: np.ndarray  # (P,) float64 pair-count weight
    alpha: np.ndarray
    beta: np.ndarray
    cw: np.ndarray
    c_slack: np.ndarray  # (P,) float64 C_SLACK_PER_PAIR * |pairs(S)|

    @property
    def any_general(self) -> bool:
        return bool(np.any(self.mode == 2))


def plan_query(index: DescriptorIndex, query: Query) -> list[SidePlan]:
    """The query's sides, each against all presence patterns of the index (vectorised over patterns)."""
    need = query.min_shared_joints()
    pats = np.asarray(index.patterns, dtype=bool).reshape(-1, K)
    out = []
    for mirrored, pose, joints in query.sides():
        xy, _, _ = normalized_keypoints(pose, joints)
        # rounded like the stored descriptors, so that a pose finds its own entry at distance 0
        q = np.where(pair_mask(joints), pairwise_distances(xy), 0.0).astype(np.float32).astype(np.float64)
        up = torso_up(pose.xy, joints) if query.orientation_weight > 0 else None
        shared = pats & joints
        n_s = shared.sum(axis=1).astype(np.int64)
        with np.errstate(invalid="ignore"):
            lo = np.where(shared[:, :, None], xy[None], np.inf).min(axis=1)
            hi = np.where(shared[:, :, None], xy[None], -np.inf).max(axis=1)
            sq = np.where(n_s >= 2, (hi - lo).max(axis=1), 0.0)
        a = pair_mask(shared).astype(np.float64) @ (q * q)
        w = _num_pairs(int(joints.sum())) / np.maximum(_num_pairs(n_s), 1)
        ok = (n_s >= need) & (sq > 0)
        subset = ~np.any(pats & ~joints, axis=1)
        mode = np.where(ok, np.where(subset, 1, 2), 0).astype(np.int8)
        sq = np.where(ok, sq, 1.0)
        out.append(
            SidePlan(
                mirrored=mirrored,
                joints=joints,
                jidx=np.flatnonzero(joints),
                q=q,
                q32=q.astype(np.float32),
                up=up,
                orientation_weight=float(query.orientation_weight),
                mode=mode,
                covers=~np.any(joints & ~pats, axis=1),
                n_shared=n_s,
                sq=sq,
                w=w,
                alpha=np.where(ok, w * a / (sq * sq) * (1 - _REL64), np.inf),
                beta=np.where(ok, -2.0 * w * (1 + GAMMA_DOT + _REL64) / sq, 0.0),
                cw=np.where(mode == 1, w * (1 - _REL64), 0.0),
                c_slack=C_SLACK_PER_PAIR * _num_pairs(n_s),
            )
        )
    return out


def _orientation_sq(index: DescriptorIndex, plan: SidePlan, sel) -> np.ndarray:
    """orientation_weight * |u_e - u_q|^2 for the rows `sel` (0 where the entry has no up vector)."""
    up = index.up[sel].astype(np.float64)
    du = up - plan.up
    t = du[:, 0] * du[:, 0] + du[:, 1] * du[:, 1]
    return np.where(np.isnan(t), 0.0, plan.orientation_weight * t)


def _general_lower(index: DescriptorIndex, plan: SidePlan, sel, pid: np.ndarray, b: np.ndarray):
    """Lower bounds for rows compared on S = J & P_e (mode 2): s_e(S) and C_e(S) from the coordinates.

    The coordinates of the query's joints are laid out joint-major, (|J|, 2, n), so that every reduction
    over joints is an elementwise operation on contiguous rows."""
    x = np.take(index.coords[sel], plan.jidx, axis=1).transpose(1, 2, 0)  # (|J|, 2, n) float32, absent = 0
    x = np.ascontiguousarray(x)
    if np.all(plan.covers[pid]):
        lo, hi = x.min(axis=0), x.max(axis=0)
    else:
        pres = index.patterns[pid][:, plan.jidx].T[:, None, :]
        lo = np.where(pres, x, np.inf).min(axis=0)
        hi = np.where(pres, x, -np.inf).max(axis=0)
    se = (hi.astype(np.float64) - lo).max(axis=0)
    x64 = x.astype(np.float64)
    s1 = x64.sum(axis=0)  # (2, n)
    x64 *= x64
    c = plan.n_shared[pid] * x64.reshape(-1, x64.shape[-1]).sum(axis=0) - (s1[0] * s1[0] + s1[1] * s1[1])
    ok = se > 0
    se = np.where(ok, se, 1.0)
    w = plan.w[pid]
    d = plan.alpha[pid] + plan.beta[pid] * b / se + w * (1 - _REL64) * (c - plan.c_slack[pid]) / (se * se)
    return np.where(ok, d, np.inf)


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
                if gi.size:
                    d[gi] = _general_lower(index, plan, _abs_rows(sel, rows)[gi], pid[gi], b[gi])
        if plan.up is not None:
            d += _orientation_sq(index, plan, sel) * (1 - _REL64)
        best = d if best is None else np.minimum(best, d, out=best)
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
    held, tau = 0, _MAX_FLOAT
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
        return _empty()
    if held > m:
        cand_rows, cand_vals, tau = _keep_best(cand_rows, cand_vals, m)
    elif held < m:
        tau = _MAX_FLOAT  # every finite bound is a candidate already
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
        coords = index.coords[r].astype(np.float64)
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


def exact_knn(index: DescriptorIndex, query: Query, k: int, row_mask: np.ndarray | None = None) -> KnnResult:
    """The k nearest rows (optionally only rows where row_mask is True), exact distances, best first;
    ties broken by pose id."""
    if len(index) == 0 or k <= 0:
        return _empty()
    return knn_among(index, plan_query(index, query), [slice(0, len(index))], k, row_mask)


def knn_among(index: DescriptorIndex, plans: list[SidePlan], parts, k: int, row_mask: np.ndarray | None = None) -> KnnResult:
    """The exact k nearest among the rows of `parts` (row slices, or sorted row arrays, which are evaluated
    as they are): rows of slices that the projection bound covers are pruned with it (module docstring),
    the others scanned."""
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
            rest.append(part)
    if not pruned_parts:
        return scan(index, plans, rest, k, row_mask)
    rows_of = _Positions(pruned_parts)
    lower = np.empty(int(rows_of.offsets[-1]))
    pilot_n = max(4 * candidate_count(k), PILOT_ROWS)
    pilot: list[np.ndarray] = []
    held, tau = 0, _MAX_FLOAT
    off = 0
    for part in pruned_parts:
        for sel in _slice_blocks(part):
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
    g0 = int(np.searchsorted(index.starts, part.start, side="right")) - 1
    g1 = int(np.searchsorted(index.starts, part.stop, side="left"))
    out: list[slice] = []
    for g in range(max(g0, 0), min(g1, len(which))):
        if not which[g]:
            continue
        a, b = max(part.start, int(index.starts[g])), min(part.stop, int(index.starts[g + 1]))
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
_PROJ_SLACK = 24 * _U32
_PROJ_SCALE = 1 - 2e-5


def _slice_blocks(part: slice):
    for a in range(part.start, part.stop, BLOCK_ROWS):
        yield slice(a, min(a + BLOCK_ROWS, part.stop))


class _Positions:
    """Maps positions in the concatenation of row slices back to rows."""

    def __init__(self, parts: list[slice]):
        self.starts = np.array([p.start for p in parts], dtype=np.int64)
        lengths = np.array([p.stop - p.start for p in parts], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])

    def rows(self, pos: np.ndarray) -> np.ndarray:
        pos = np.asarray(pos, dtype=np.int64)
        part = np.searchsorted(self.offsets, pos, side="right") - 1
        return self.starts[part] + (pos - self.offsets[part])


def _projection_lower(index: DescriptorIndex, plans: list[SidePlan], sel: slice) -> np.ndarray:
    """A lower bound of the query distance for rows of patterns whose joints every side compares on their
    own normalisation (mode 1, or 0 = not comparable): with x = v_g - D_e (v_g the query rescaled on the
    pattern's joints), d^2 = w_g |x|^2 >= w_g |basis^T x|^2 = w_g |z_q - z_e|^2, z = projections."""
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
    return best


def _query_projection(index: DescriptorIndex, plan: SidePlan):
    """(z_q (r, P) float32: the query rescaled on each pattern's joints (0 outside its pairs), minus the
    mean, projected; and per pattern the coefficients of the bound c0 + c1 z_q.z_e + c2 |z_e|^2, with the
    rounding slack folded in). Computed once per query side."""
    cached = getattr(plan, "_projection", None)
    if cached is None:
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
        plan._projection = cached
    return cached
