"""Approximate search for large libraries: an inverted file over the library's own descriptor matrix.

The [ann] extra (faiss-cpu) builds it: the rows of each presence pattern are clustered by k-means (faiss)
into cells of about sqrt(N) rows, in the space of that pattern's pairs. Every cell holds rows of ONE
pattern, so the query distance to a cell's centroid is the same formula as to an entry of that pattern
(search.py: for a pattern whose joints the query has, a plain euclidean distance between the rescaled query
and the centroid, times the pattern's weight). A query scores every centroid with that formula (one small
matrix-vector product), scans the `nprobe` best cells of each query side with the exact pass of search.py,
and re-ranks exactly: the distances returned are exact, only the set of rows looked at is approximate.
Cells of patterns that hold joints the query lacks (rescaled per row, so a centroid has no distance) are
scanned whole.

Used by `Library.search` for queries with all of the query pose's joints switched on, orientation weight 0
and no filters, on libraries with more than `Library.ann_threshold` entries; everything else is exact.
The index lives in `descriptors.ann.npz` beside the descriptor cache, tied to it by the library's
generation and a fingerprint of the cache's rows; a stale or missing one is rebuilt (and saved when the
folder is writable) on the next search that uses it. Without faiss the search stays exact and says so once
in the log.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posefinder.models.descriptor import Query, pair_mask
from posefinder.models.library.search import DescriptorIndex, KnnResult, SidePlan, plan_query, scan

log = logging.getLogger("posefinder.library.ann")

ANN_FILE = "descriptors.ann.npz"
ANN_FORMAT = 1
#: Cells scanned per query side (out of about sqrt(N) + one per rare pattern).
DEFAULT_NPROBE = 48
#: k-means training rows per cell, and k-means iterations.
TRAIN_ROWS_PER_CELL = 64
#: A pattern gets cells when it has at least this many cells' worth of rows; rarer patterns are scanned
#: whole (a few cells' centroids could not stand for rows spread over every pose).
MIN_CELLS_PER_PATTERN = 8
KMEANS_ITERATIONS = 16
_ASSIGN_CHUNK = 65536
_missing_logged: set[str] = set()
_build_lock = threading.Lock()


def available() -> bool:
    """Whether the [ann] extra (faiss) is installed."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class AnnIndex:
    """Cells of rows of one presence pattern each, their centroids, and the rows of each cell."""

    generation: int
    fingerprint: str
    cell_pattern: np.ndarray  # (C,) int32: the pattern (index into DescriptorIndex.patterns) of each cell
    centroids: np.ndarray  # (C, 300) float32, 0 outside the pattern's pairs
    centroid_norms2: np.ndarray  # (C,) float64
    list_starts: np.ndarray  # (C + 1,) int64
    list_rows: np.ndarray  # (N - orphans,) int32: rows, cell by cell, ascending within a cell
    orphan_patterns: np.ndarray  # (O,) int32: rare patterns (no cells), always scanned
    nprobe: int = DEFAULT_NPROBE

    def matches(self, index: DescriptorIndex) -> bool:
        """Whether it was built from this descriptor cache (same generation, same rows)."""
        return self.generation == index.generation and self.fingerprint == index.fingerprint()

    # -- building ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, index: DescriptorIndex, rows_per_cell: int | None = None, seed: int = 0, nprobe: int = DEFAULT_NPROBE):
        """Cluster the rows of each common presence pattern into cells of about rows_per_cell (default
        sqrt(N)) rows; rare patterns get no cells (they are scanned)."""
        import faiss

        n, dim = index.descriptors.shape
        target = rows_per_cell or max(16, int(math.sqrt(max(n, 1))))
        sizes = np.diff(index.starts)
        common = np.flatnonzero(sizes >= MIN_CELLS_PER_PATTERN * target)
        rng = np.random.default_rng(seed)
        cell_pattern: list[int] = []
        centroids: list[np.ndarray] = []
        assign = np.full(n, -1, dtype=np.int64)
        for g in common:
            a, b = int(index.starts[g]), int(index.starts[g + 1])
            nlist = max(1, round((b - a) / target))
            cols = np.flatnonzero(pair_mask(index.patterns[g]))
            m = min(b - a, TRAIN_ROWS_PER_CELL * nlist)
            sample = np.sort(rng.choice(b - a, size=m, replace=False)) + a
            train = np.ascontiguousarray(index.descriptors[sample][:, cols], dtype=np.float32)
            km = faiss.Kmeans(len(cols), nlist, niter=KMEANS_ITERATIONS, seed=int(rng.integers(1 << 30)),
                              max_points_per_centroid=TRAIN_ROWS_PER_CELL, min_points_per_centroid=1)  # fmt: skip
            km.train(train)
            flat = faiss.IndexFlatL2(len(cols))
            flat.add(km.centroids)
            first = len(cell_pattern)
            for s in range(a, b, _ASSIGN_CHUNK):
                e = min(b, s + _ASSIGN_CHUNK)
                _, nearest = flat.search(np.ascontiguousarray(index.descriptors[s:e][:, cols], dtype=np.float32), 1)
                assign[s:e] = first + nearest[:, 0]
            full = np.zeros((nlist, dim), dtype=np.float32)
            full[:, cols] = km.centroids
            centroids.append(full)
            cell_pattern += [int(g)] * nlist
        centroids_arr = np.concatenate(centroids) if centroids else np.zeros((0, dim), np.float32)
        orphans = [int(g) for g in np.flatnonzero((sizes > 0) & (sizes < MIN_CELLS_PER_PATTERN * target))]
        in_cells = assign >= 0
        order = np.flatnonzero(in_cells)[np.argsort(assign[in_cells], kind="stable")]  # ascending within a cell
        counts = np.bincount(assign[in_cells], minlength=len(centroids_arr))
        c64 = centroids_arr.astype(np.float64)
        return cls(
            generation=int(index.generation),
            fingerprint=index.fingerprint(),
            cell_pattern=np.asarray(cell_pattern, dtype=np.int32),
            centroids=centroids_arr,
            centroid_norms2=np.einsum("ij,ij->i", c64, c64),
            list_starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            list_rows=order.astype(np.int32),
            orphan_patterns=np.asarray(orphans, dtype=np.int32),
            nprobe=int(nprobe),
        )

    # -- searching -----------------------------------------------------------------------------------------
    def cells_to_scan(self, plans: list[SidePlan]) -> np.ndarray:
        """Cells to scan: for each query side, the nprobe cells whose centroid is nearest, and every cell of
        a pattern compared on fewer joints than it has (no centroid distance)."""
        chosen = []
        cp = self.cell_pattern
        for plan in plans:
            mode = plan.mode[cp]
            chosen.append(np.flatnonzero(mode == 2))
            dots = self.centroids @ plan.q32
            score = plan.alpha[cp] + plan.beta[cp] * dots + plan.cw[cp] * self.centroid_norms2
            score[mode != 1] = np.inf
            finite = int(np.count_nonzero(np.isfinite(score)))
            take = min(self.nprobe, finite)
            if 0 < take < finite:
                chosen.append(np.argpartition(score, take - 1)[:take])
            elif take:
                chosen.append(np.flatnonzero(np.isfinite(score)))
        return np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)

    def rows_of_cells(self, cells: np.ndarray) -> np.ndarray:
        """The rows of the given cells, sorted."""
        if len(cells) == 0:
            return np.zeros(0, np.int64)
        starts, ends = self.list_starts[cells], self.list_starts[cells + 1]
        lengths = ends - starts
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.sort(self.list_rows[offsets + np.arange(int(lengths.sum()))].astype(np.int64))

    def knn(self, index: DescriptorIndex, query: Query, k: int, plans: list[SidePlan] | None = None) -> KnnResult:
        """The k nearest among the rows of the scanned cells and of the rare patterns (exact distances)."""
        plans = plans or plan_query(index, query)
        parts: list = _merged_slices(index.starts[self.orphan_patterns], index.starts[self.orphan_patterns + 1])
        rows = self.rows_of_cells(self.cells_to_scan(plans))
        if len(rows):
            parts.append(rows)
        return scan(index, plans, parts, k)

    # -- files ---------------------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        tmp = folder / f".{ANN_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    format=np.int64(ANN_FORMAT),
                    generation=np.int64(self.generation),
                    fingerprint=np.array(self.fingerprint),
                    cell_pattern=self.cell_pattern,
                    centroids=self.centroids,
                    centroid_norms2=self.centroid_norms2,
                    list_starts=self.list_starts,
                    list_rows=self.list_rows,
                    orphan_patterns=self.orphan_patterns,
                    nprobe=np.int64(self.nprobe),
                )
            os.replace(tmp, folder / ANN_FILE)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path) -> "AnnIndex | None":
        """The saved index of a library folder, or None when it is missing or unreadable."""
        try:
            with np.load(Path(folder) / ANN_FILE, allow_pickle=False) as z:
                if int(z["format"]) != ANN_FORMAT:
                    return None
                return cls(
                    generation=int(z["generation"]),
                    fingerprint=str(z["fingerprint"]),
                    cell_pattern=z["cell_pattern"],
                    centroids=z["centroids"],
                    centroid_norms2=z["centroid_norms2"],
                    list_starts=z["list_starts"],
                    list_rows=z["list_rows"],
                    orphan_patterns=z["orphan_patterns"],
                    nprobe=int(z["nprobe"]),
                )
        except (OSError, ValueError, KeyError, EOFError, TypeError):
            return None


def _merged_slices(starts: np.ndarray, stops: np.ndarray) -> list[slice]:
    """Row ranges, adjacent ones merged (patterns are stored one after the other)."""
    out: list[slice] = []
    for a, b in sorted(zip(starts.tolist(), stops.tolist())):
        if out and out[-1].stop == a:
            out[-1] = slice(out[-1].start, b)
        elif b > a:
            out.append(slice(a, b))
    return out


def applies_to(query: Query) -> bool:
    """Whether a query is one the approximate index serves: all of its pose's joints on, no orientation term."""
    full = query.joints is None or bool(np.all(query.joints[query.pose.present]))
    return full and query.orientation_weight == 0


def ann_for(lib, index: DescriptorIndex) -> AnnIndex | None:
    """The library's approximate index for this descriptor cache: held, loaded, or (re)built and saved.
    None, logged once per library, when it would need building and faiss is not installed."""
    ann = getattr(lib, "_ann", None)
    if ann is not None and ann.matches(index):
        return ann
    with _build_lock:
        ann = getattr(lib, "_ann", None)
        if ann is not None and ann.matches(index):
            return ann
        ann = AnnIndex.load(lib.path)
        if ann is None or not ann.matches(index):
            if not available():
                key = str(lib.path)
                if key not in _missing_logged:
                    _missing_logged.add(key)
                    log.warning(
                        "%s: %d entries, but the approximate index needs the [ann] extra (faiss-cpu: "
                        "pip install 'posefinder[ann]'); searching exactly", lib.path, len(index)
                    )  # fmt: skip
                return None
            t = time.perf_counter()
            log.info("%s: building the approximate index for %d entries", lib.path, len(index))
            ann = AnnIndex.build(index)
            log.info("%s: approximate index built in %.1f s", lib.path, time.perf_counter() - t)
            try:
                ann.save(lib.path)
            except OSError as exc:
                log.info("%s: approximate index kept in memory (%s)", lib.path, exc)
        lib._ann = ann
        return ann


def search(lib, index: DescriptorIndex, query: Query, k: int) -> KnnResult | None:
    """The approximate search when it applies (see applies_to) and the index is at hand; else None."""
    if not applies_to(query):
        return None
    ann = ann_for(lib, index)
    return None if ann is None else ann.knn(index, query, k)


def build_ann(lib) -> AnnIndex | None:
    """Build (or load) the approximate index of a library at its current generation, e.g. after indexing."""
    return ann_for(lib, lib.descriptor_index())
