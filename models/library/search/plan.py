"""A query planned against every presence pattern of an index: the per-pattern terms of the distance.

For a query with joints J and an entry e with present joints P_e, S = J & P_e and (descriptor.py)

    d^2(q, e) = w_S * sum_{p in pairs(S)} (Q_p / s_q(S) - D_{e,p} / s_e(S))^2
              = w_S * (A(S) / s_q^2 - 2 B_e / (s_q s_e) + C_e(S) / s_e^2)

with Q the query's pairwise distances (0 outside pairs(J)) and D_e the entry's (0 outside pairs(P_e)), so that
B_e = D_e . Q is ONE matrix-vector product over the N x 300 float32 matrix. A(S), s_q(S) and w_S depend only
on the entry's presence pattern: plan_query computes them once per query for all patterns at once (rows are
sorted by pattern). When P_e is inside J (always for a query with all its joints on) S = P_e, s_e = 1 (entries
are stored normalised on their own joints) and C_e = |D_e|^2 is precomputed (mode 1). Otherwise (mode 2)
s_e(S) and C_e(S) come from the normalised coordinates (scan.py).

The float32 product and coordinates make the pass approximate; the plan's coefficients make it a LOWER BOUND
instead: B_e, a sum of 300 non-negative products, is off by at most GAMMA_DOT * B_e in any summation order;
C_e from the coordinates is off by at most C_SLACK_PER_PAIR per compared pair.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from posefinder.models.library.search.index import DescriptorIndex

K = skeleton.NUM_KEYPOINTS
U32 = 2.0**-24
#: Relative error bound of a float32 dot product of NUM_PAIRS non-negative products (Higham's gamma_n).
GAMMA_DOT = (NUM_PAIRS + 1) * U32 / (1 - (NUM_PAIRS + 1) * U32)
#: Bound, per compared pair, of |C_e(S) from float32 coordinates - sum of the squared float32 descriptors|
#: (coordinates in [-1, 1]: each pair distance is off by <= 2 sqrt(2) u + sqrt(2) u, its square by 2 sqrt(2) x that).
C_SLACK_PER_PAIR = 13.0 * U32
#: Relative slack for float64 rounding in the pass's formula.
REL64 = 1e-12


def num_pairs(n):
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

    def shared_joints(self, index: DescriptorIndex, g: int) -> np.ndarray:
        """Indices of the joints of S = J & P_g."""
        cache = self.__dict__.setdefault("_shared", {})
        if g not in cache:
            cache[g] = np.flatnonzero(self.joints & index.patterns[g])
        return cache[g]


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
        w = num_pairs(int(joints.sum())) / np.maximum(num_pairs(n_s), 1)
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
                n_shared=n_s,
                sq=sq,
                w=w,
                alpha=np.where(ok, w * a / (sq * sq) * (1 - REL64), np.inf),
                beta=np.where(ok, -2.0 * w * (1 + GAMMA_DOT + REL64) / sq, 0.0),
                cw=np.where(mode == 1, w * (1 - REL64), 0.0),
                c_slack=C_SLACK_PER_PAIR * num_pairs(n_s),
            )
        )
    return out
