"""The searchable state of a library at one generation: the saved descriptor cache plus what changed since.

A LiveIndex is a base DescriptorIndex (descriptors.npy, as saved) and segments: small DescriptorIndexes of
the rows written since (one per update, projected on the base's principal-component basis, which the
pruning bound only needs orthonormal), each with a mask of the rows that a later change removed (deleted,
edited or replaced poses). `updated` brings it to a newer generation from the changed rows alone
(O(changes), never the whole library); `merged` folds it into one DescriptorIndex (chunked, off the search
thread: library.py). A LiveIndex never changes once made: a search holds one and sees one generation.

Search runs the exact search (search/) on every part, the base optionally through the approximate index,
and merges the parts' k best by (distance, pose id): the same ranking as one index of all the rows, since
an entry's distance depends on its own row and the query only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.models.descriptor import Query
from posefinder.models.library import cache as cache_mod
from posefinder.models.library.library_tags import ids_mask
from posefinder.models.library.search import DescriptorIndex, KnnResult, exact_knn


@dataclass(frozen=True)
class Part:
    """An index and the rows of it still alive (None: all)."""

    index: DescriptorIndex
    alive: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index) if self.alive is None else int(np.count_nonzero(self.alive))

    def without(self, pose_ids: np.ndarray) -> "Part":
        rows = self.index.rows_of(pose_ids)
        if len(rows) == 0:
            return self
        alive = np.ones(len(self.index), bool) if self.alive is None else self.alive.copy()
        alive[rows] = False
        return Part(self.index, alive)


@dataclass(frozen=True)
class Changes:
    """What changed in a library after some generation: the current rows of poses written since (as the
    cache builds them) and the ids of poses deleted since."""

    pose_ids: np.ndarray
    image_ids: np.ndarray
    folder_ids: np.ndarray
    keypoints: np.ndarray  # (m, 25, 3) float64
    deleted: np.ndarray

    def __len__(self) -> int:
        return len(self.pose_ids) + len(self.deleted)


@dataclass(frozen=True)
class Hit:
    """One result: a pose id with its exact distance, and whether the mirrored query matched it."""

    pose_id: int
    distance: float
    mirrored: bool


class LiveIndex:
    def __init__(self, parts: tuple[Part, ...], generation: int):
        self.parts = parts
        self.generation = int(generation)
        self._len = sum(len(p) for p in parts)

    @classmethod
    def of(cls, base: DescriptorIndex) -> "LiveIndex":
        return cls((Part(base),), base.generation)

    @property
    def base(self) -> DescriptorIndex:
        return self.parts[0].index

    def __len__(self) -> int:
        """The searchable entries."""
        return self._len

    def pending_rows(self) -> int:
        """Rows outside the base (added since it was built) plus base rows removed since: the work a merge saves."""
        return sum(len(p.index) for p in self.parts[1:]) + len(self.parts[0].index) - len(self.parts[0])

    def updated(self, changes: Changes, generation: int) -> "LiveIndex":
        """This index at a newer generation: the changed and deleted poses' old rows masked out, the changed
        poses' current rows added as a new segment (on the base's projection basis)."""
        if len(changes) == 0:
            return LiveIndex(self.parts, generation)
        gone = np.union1d(changes.deleted, changes.pose_ids)
        parts = [p.without(gone) for p in self.parts]
        parts = [p for i, p in enumerate(parts) if i == 0 or len(p)]  # emptied segments go
        if len(changes.pose_ids):
            base = self.base
            segment = cache_mod.build_index(
                changes.pose_ids, changes.image_ids, changes.folder_ids, changes.keypoints, generation=generation,
                projection=None if base.basis is None or base.mean is None else (base.basis, base.mean),
            )  # fmt: skip
            if len(segment):
                parts.append(Part(segment))
        return LiveIndex(tuple(parts), generation)

    def merged(self) -> DescriptorIndex:
        """One DescriptorIndex of every live row at this generation (the base's basis kept)."""
        if len(self.parts) == 1 and self.parts[0].alive is None:
            base = self.base
            if base.generation == self.generation:
                return base
        return cache_mod.merge_indexes([(p.index, p.alive) for p in self.parts], self.generation)

    def image_ids(self) -> np.ndarray:
        """The image id of every live entry (any order)."""
        out = [p.index.image_ids if p.alive is None else p.index.image_ids[p.alive] for p in self.parts]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def search(self, query: Query, k: int, images: np.ndarray | None = None, base_search=None) -> list[Hit]:
        """The k nearest live entries, best first (ties by pose id). images: only entries of these image
        ids. base_search(index, query, k, row_mask) -> KnnResult | None: another search of the base (the
        approximate index), used when it answers."""
        if k <= 0:
            return []
        found: list[tuple[DescriptorIndex, KnnResult]] = []
        for i, part in enumerate(self.parts):
            index = part.index
            if len(index) == 0:
                continue
            mask = part.alive
            if images is not None:
                inside = ids_mask(index.image_ids, images)  # a lookup table: no sort of 1M ids
                mask = inside if mask is None else mask & inside
            if mask is not None and not mask.any():
                continue
            knn = base_search(index, query, k, mask) if (i == 0 and base_search is not None) else None
            if knn is None:
                knn = exact_knn(index, query, k, row_mask=mask)
            found.append((index, knn))
        if not found:
            return []
        ids = np.concatenate([ix.pose_ids[r.rows] for ix, r in found])
        dist = np.concatenate([r.distances for _, r in found])
        mir = np.concatenate([r.mirrored for _, r in found])
        best = np.lexsort((ids, dist))[:k]
        return [Hit(int(ids[i]), float(dist[i]), bool(mir[i])) for i in best]
