"""The searchable arrays of a library (DescriptorIndex) and a search's answer (KnnResult)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Bases:
    """What an index projects its rows on: the principal-component basis (300, r) and mean (300,) of the
    descriptors, and the masked ones (joints, basis, mean: partial.py) or None."""

    basis: np.ndarray
    mean: np.ndarray
    masks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class DescriptorIndex:
    """The searchable arrays of a library, rows sorted by presence pattern (then pose id).

    descriptors: (N, 300) float32, each entry's pairwise distances normalised on its own present joints
    (0 for pairs touching an absent joint); coords: (25, 2, N) float32 keypoints (joint-major) centred on
    their mean and divided by the same scale (0 where absent); norms2: (N,) float64 squared descriptor norms;
    up: (N, 2) float32 torso up vector (nan where undefined); patterns: (P, 25) bool; starts: (P + 1,)
    row offsets of each pattern's slice; pose_ids, image_ids, folder_ids: (N,) int64 (folder -1: none).
    basis: (300, r) float32 orthonormal columns, mean: (300,) float32, proj: (r, N) float32
    ((descriptors - mean) @ basis).T, proj_norms2: (N,) float64 (the projection bound; None: no pruning).
    mask_joints (M, 25) bool, mask_basis (M, 300, r) float32, mask_mean (M, 300) float32, mask_proj
    (M, r, N) float32, mask_norms2 (M, N) float64: the masked projections of partial queries (partial.py;
    None: partial queries scan).
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
    mask_joints: np.ndarray | None = None
    mask_basis: np.ndarray | None = None
    mask_mean: np.ndarray | None = None
    mask_proj: np.ndarray | None = None
    mask_norms2: np.ndarray | None = None
    _row_patterns: np.ndarray | None = field(default=None, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)
    _starts_list: list | None = field(default=None, repr=False, compare=False)
    _id_order: np.ndarray | None = field(default=None, repr=False, compare=False)
    _sorted_ids: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.pose_ids.shape[0])

    def bases(self) -> "Bases | None":
        """The projection bases of the index (for rows added to it), None when it has none."""
        if self.basis is None or self.mean is None:
            return None
        joints, basis, mean = self.mask_joints, self.mask_basis, self.mask_mean
        masks = None if joints is None or basis is None or mean is None else (joints, basis, mean)
        return Bases(self.basis, self.mean, masks)

    def masked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(mask_joints, mask_basis, mask_mean, mask_proj, mask_norms2), None when the index has none."""
        j, b, m, p, n = self.mask_joints, self.mask_basis, self.mask_mean, self.mask_proj, self.mask_norms2
        if j is None or b is None or m is None or p is None or n is None:
            return None
        return j, b, m, p, n

    def fingerprint(self) -> str:
        """Identifies the rows (pose ids and presence patterns, in order), for indexes derived from them."""
        fp = self._fingerprint
        if fp is None:
            h = hashlib.blake2b(digest_size=16)
            for arr in (self.pose_ids, self.starts, self.patterns):
                h.update(np.ascontiguousarray(arr).tobytes())
            fp = self._fingerprint = f"{len(self)}-{h.hexdigest()}"
        return fp

    def starts_list(self) -> list[int]:
        """starts as a Python list (for bisect)."""
        sl = self._starts_list
        if sl is None:
            sl = self._starts_list = [int(v) for v in self.starts]
        return sl

    def id_order(self) -> np.ndarray:
        """(N,) int64 rows in pose id order (computed once; a saved cache stores it)."""
        order = self._id_order
        if order is None:
            order = self._id_order = np.argsort(self.pose_ids, kind="stable")
        return order

    def rows_of(self, pose_ids) -> np.ndarray:
        """The rows of those of these pose ids that the index holds (O(m log N))."""
        ids = np.asarray(pose_ids, dtype=np.int64).ravel()
        order = self.id_order()
        sorted_ids = self._sorted_ids
        if sorted_ids is None:
            sorted_ids = self._sorted_ids = self.pose_ids[order]
        if len(sorted_ids) == 0 or len(ids) == 0:
            return np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return order[at[sorted_ids[at] == ids]]

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


def empty_result() -> KnnResult:
    return KnnResult(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool))
