"""Approximate search for large libraries: per-pattern inverted files with compressed codes, exact re-rank.

The [ann] extra (faiss-cpu). The rows of each presence pattern with at least MIN_INDEXED_ROWS rows get a
faiss IndexIVFPQFastScan in the space of that pattern's pairs (faiss ids: pose ids), sqrt(rows) k-means cells, residuals coded by
a product quantiser of 4-bit codes for 2 dimensions each (53 bytes for the 210 pairs of 21 joints, plus an
8-byte id: ~5% of the float32 matrix, which stays the only full copy), scanned with SIMD lookups. For a
pattern whose joints the query has, the query distance to its rows is a plain euclidean distance between
the query rescaled on those joints and the row, times the pattern's weight (search.py), so the search of
the `nprobe` nearest cells proposes the pattern's `candidates` nearest rows by that very distance,
approximately. The proposals of every pattern and query side, plus every row of the rare patterns and of
patterns that hold joints the query lacks (rescaled per row, so not a euclidean distance), go through
search.py's exact path (`knn_among`: the rare patterns' rows pruned by its projection bound, an exact
re-rank): the distances returned are exact, only the set of rows looked at is approximate.

Used by `Library.search` for queries with all of the query pose's joints switched on, orientation weight 0
and no filters, on libraries with more than `Library.ann_threshold` entries; everything else is exact.
The index lives in `descriptors.ann.npz` beside the descriptor cache, tied to the cache's base arrays
(live.py) by their generation and a fingerprint of their rows. Changes since the base was built reach the
search the same way as for the exact search: rows removed since are masked out of the re-rank, rows added
since are searched exactly in their segments. A new base (merged in the background, cache_keeper.py) gets
its index in that background thread before it is swapped in, so no search waits for it: the old base's
index takes the merge's appends and deletions (copies of its faiss indexes: rows added since encoded on the
trained cells and codes; rows removed since left as dead codes whose pose ids the new base no longer maps
to a row), and is built afresh only when there is none, the library has grown past REBUILD_GROWTH times the
rows it was trained on, or dead codes pass DEAD_FRACTION of its codes. A search that finds
none held or saved searches exactly meanwhile. Without faiss the search stays exact and
says so once in the log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posefinder.models.atomic import atomic_open
from posefinder.models.descriptor import Query, pair_mask
from posefinder.models.library.live import LiveIndex
from posefinder.models.library.search import DescriptorIndex, KnnResult, SidePlan, knn_among, plan_query

log = logging.getLogger("posefinder.library.ann")

ANN_FILE = "descriptors.ann.npz"
ANN_FORMAT = 4
#: Cells searched per pattern and query side, and rows each such search proposes for the exact re-rank.
#: A pattern has sqrt(rows) cells, so a fixed nprobe looks at a smaller share as libraries grow: at 4M
#: entries 16 gave recall@10 0.9895, 24 gave 0.9925 (benchmarks/ann_recall.py --size 4e6 --nprobe 24,32).
DEFAULT_NPROBE = 24
DEFAULT_CANDIDATES = 128
#: Patterns with fewer rows get no index: the exact pass scans them.
MIN_INDEXED_ROWS = 1024
#: Product quantiser: 2 dimensions per 4-bit code, so 4 per byte (the pattern's pairs are zero-padded).
PQ_DIMS_PER_BYTE = 4
KMEANS_ITERATIONS = 16
PQ_ITERATIONS = 10
TRAIN_ROWS_PER_CELL = 64
MIN_TRAIN_ROWS = 10_000
_ADD_CHUNK = 65536
#: A merge updates the approximate index in place of a rebuild until the cache has this many times the rows
#: it was trained on (its cells and codes were fitted to those).
REBUILD_GROWTH = 2.0
#: ... and while the codes of removed rows are at most this part of its codes.
DEAD_FRACTION = 0.2
_missing_logged: set[str] = set()
_build_lock = threading.Lock()


@contextlib.contextmanager
def _single_threaded(faiss):
    """faiss (OpenMP) on one thread in this thread: single queries gain nothing from more, and OpenMP's
    spinning barriers make many small calls crawl on a busy machine. OpenMP's thread count is per thread."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def available() -> bool:
    """Whether the [ann] extra (faiss) is installed."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def pattern_bits(patterns: np.ndarray) -> np.ndarray:
    """(P,) int64: each presence pattern (P, 25) as bits."""
    return np.asarray(patterns, dtype=np.int64).reshape(-1, patterns.shape[-1]) @ (np.int64(1) << np.arange(patterns.shape[-1], dtype=np.int64))


@dataclass
class AnnIndex:
    """One faiss IVF index per common presence pattern (named by its bits; faiss ids = pose ids, so that
    rows can be added and removed without renumbering), for the descriptor cache of one generation."""

    generation: int
    fingerprint: str
    bits: np.ndarray  # (G,) int64: the presence patterns indexed
    indexes: list  # G faiss indexes over the pattern's pair columns
    trained_rows: int = 0  # rows of the cache it was trained on (rebuilt when the cache outgrows them)
    dead: int = 0  # codes of rows removed since it was built (their ids name no row, or an edited pose's new one)
    nprobe: int = DEFAULT_NPROBE
    candidates: int = DEFAULT_CANDIDATES
    _layout: tuple | None = field(default=None, repr=False)

    def matches(self, index: DescriptorIndex) -> bool:
        """Whether it holds the rows of this descriptor cache (same generation, same rows)."""
        return self.generation == index.generation and self.fingerprint == index.fingerprint()

    def layout(self, index: DescriptorIndex) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """(the pattern of index of each faiss index (-1: none of its rows), their pair columns, the
        patterns that no faiss index covers: always scanned)."""
        lay = self._layout
        if lay is None or lay[0] != index.fingerprint():
            bits = pattern_bits(index.patterns)
            where = {int(b): g for g, b in enumerate(bits.tolist())}
            gs = np.array([where.get(int(b), -1) for b in self.bits], dtype=np.int64)
            cols = [np.flatnonzero(pair_mask(index.patterns[g])) if g >= 0 else np.zeros(0, np.int64) for g in gs]
            covered = np.zeros(len(index.patterns), bool)
            covered[gs[gs >= 0]] = True
            lay = self._layout = (index.fingerprint(), gs, cols, np.flatnonzero(~covered & (np.diff(index.starts) > 0)))
        return lay[1], lay[2], lay[3]

    # -- building ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, index: DescriptorIndex, seed: int = 0, nprobe: int = DEFAULT_NPROBE,
              candidates: int = DEFAULT_CANDIDATES, min_rows: int | None = None) -> "AnnIndex":  # fmt: skip
        """An IVF index (sqrt(rows) cells, 4-bit PQ codes) for each presence pattern with at least
        min_rows (default MIN_INDEXED_ROWS) rows; rarer patterns are left to the exact scan."""
        import faiss

        min_rows = MIN_INDEXED_ROWS if min_rows is None else min_rows
        sizes = np.diff(index.starts)
        common = np.flatnonzero((sizes >= max(min_rows, 1)) & (sizes > 0))
        rng = np.random.default_rng(seed)
        indexes = []
        with _single_threaded(faiss):
            for g in common:
                indexes.append(_pattern_index(faiss, index, int(g), rng))
        return cls(
            generation=int(index.generation),
            fingerprint=index.fingerprint(),
            bits=pattern_bits(index.patterns)[common],
            indexes=indexes,
            trained_rows=len(index),
            nprobe=int(nprobe),
            candidates=int(candidates),
        )

    def updated(self, old: LiveIndex, new: DescriptorIndex) -> "AnnIndex":
        """This index (of old.base) brought to `new`, the merge of `old`: the rows added since (old's
        segments) encoded on the trained cells and codes and added (to copies: searches of the old base go on
        with this one meanwhile). The rows removed since stay in the faiss indexes as dead codes: their pose
        ids are no longer in `new` (or, for edited poses, name their new row), so a proposal of one is
        dropped or re-ranked exactly; `dead` counts them (ann_after_merge rebuilds past DEAD_FRACTION).
        faiss's remove_ids is not used: on IVF fast-scan lists it corrupts the codes added after it (faiss
        1.15: a fifth of the rows added after a removal no longer find themselves)."""
        import faiss

        base, alive = old.parts[0].index, old.parts[0].alive
        indexed = np.isin(pattern_bits(base.patterns), self.bits)[base.pattern_of_rows()]
        dead = self.dead + (0 if alive is None else int(np.count_nonzero(indexed & ~alive)))
        added = [(p.index, np.arange(len(p.index)) if p.alive is None else np.flatnonzero(p.alive)) for p in old.parts[1:]]
        indexes = []
        with _single_threaded(faiss):
            for b, ivf in zip(self.bits.tolist(), self.indexes):
                adds = []
                for seg, rows in added:
                    g = np.flatnonzero(pattern_bits(seg.patterns) == b)
                    if len(g):
                        g = int(g[0])
                        r = rows[(rows >= seg.starts[g]) & (rows < seg.starts[g + 1])]
                        if len(r):
                            adds.append((seg, g, r))
                if adds:
                    ivf = faiss.clone_index(ivf)
                    for seg, g, r in adds:
                        cols = np.flatnonzero(pair_mask(seg.patterns[g]))
                        ivf.add_with_ids(_columns_of(seg.descriptors[r], cols, ivf.d), seg.pose_ids[r])
                indexes.append(ivf)
        return AnnIndex(int(new.generation), new.fingerprint(), self.bits, indexes, self.trained_rows, dead,
                        self.nprobe, self.candidates)  # fmt: skip

    # -- searching -----------------------------------------------------------------------------------------
    def rows_to_scan(self, index: DescriptorIndex, plans: list[SidePlan], k: int) -> list:
        """Parts (slices and a sorted row array) for search.scan: the rows each pattern's index proposes for
        each query side, and the rows of patterns without an index and of patterns compared on fewer joints
        than they have."""
        import faiss

        gs, cols_of, orphans = self.layout(index)
        whole = set(orphans.tolist())
        proposed = []
        # faiss's SWIG classes take their fields as keywords; its stubs declare no parameters
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)  # pyright: ignore[reportCallIssue]
        n_cand = max(self.candidates, 4 * k)
        with _single_threaded(faiss):
            for g, ivf, cols in zip(gs.tolist(), self.indexes, cols_of):
                if g < 0:
                    continue
                for plan in plans:
                    mode = plan.mode[g]
                    if mode == 2:
                        whole.add(int(g))
                    elif mode == 1:
                        v = np.zeros((1, ivf.d), dtype=np.float32)
                        v[0, : len(cols)] = plan.q[cols] / plan.sq[g]
                        _, ids = ivf.search(v, n_cand, params=params)
                        proposed.append(ids[0][ids[0] >= 0])
        whole_arr = np.asarray(sorted(whole), dtype=np.int64)
        parts: list = _merged_slices(index.starts[whole_arr], index.starts[whole_arr + 1])
        if proposed:
            rows = np.unique(index.rows_of(np.concatenate(proposed)))
            if len(whole_arr):
                rows = rows[~np.isin(index.pattern_of_rows()[rows], whole_arr)]
            if len(rows):
                parts.append(rows.astype(np.int64))
        return parts

    def knn(self, index: DescriptorIndex, query: Query, k: int, plans: list[SidePlan] | None = None,
            row_mask: np.ndarray | None = None) -> KnnResult:  # fmt: skip
        """The k nearest among the proposed rows and the rows of the patterns searched whole (exact
        distances; those patterns pruned by the projection bound like the exact search), best first.
        row_mask: only rows where it is True (rows removed since the index was built are masked out)."""
        plans = plans or plan_query(index, query)
        return knn_among(index, plans, self.rows_to_scan(index, plans, k), k, row_mask)

    # -- files ---------------------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        import faiss

        folder = Path(folder)
        # Any: numpy's stub would match these keywords against savez's allow_pickle too
        blobs: dict[str, Any] = {f"index_{i}": faiss.serialize_index(ivf) for i, ivf in enumerate(self.indexes)}
        with atomic_open(folder / ANN_FILE, "wb") as f:
            np.savez(
                f,
                format=np.int64(ANN_FORMAT),
                generation=np.int64(self.generation),
                fingerprint=np.array(self.fingerprint),
                bits=self.bits,
                trained_rows=np.int64(self.trained_rows),
                dead=np.int64(self.dead),
                nprobe=np.int64(self.nprobe),
                candidates=np.int64(self.candidates),
                **blobs,
            )

    @classmethod
    def load(cls, folder: Path) -> "AnnIndex | None":
        """The saved index of a library folder, or None when it is missing, unreadable or faiss is absent."""
        try:
            import faiss

            with np.load(Path(folder) / ANN_FILE, allow_pickle=False) as z:
                if int(z["format"]) != ANN_FORMAT:
                    return None
                bits = z["bits"]
                return cls(
                    generation=int(z["generation"]),
                    fingerprint=str(z["fingerprint"]),
                    bits=bits,
                    indexes=[faiss.deserialize_index(z[f"index_{i}"]) for i in range(len(bits))],
                    trained_rows=int(z["trained_rows"]),
                    dead=int(z["dead"]),
                    nprobe=int(z["nprobe"]),
                    candidates=int(z["candidates"]),
                )
        except (OSError, ValueError, KeyError, EOFError, TypeError, ImportError, RuntimeError):
            return None


def _pattern_index(faiss, index: DescriptorIndex, g: int, rng: np.random.Generator):
    """The IVF-PQ fast-scan index of pattern g's rows (ids = pose ids)."""
    a, b = int(index.starts[g]), int(index.starts[g + 1])
    cols = np.flatnonzero(pair_mask(index.patterns[g]))
    dim = -(-len(cols) // PQ_DIMS_PER_BYTE) * PQ_DIMS_PER_BYTE
    nlist = max(1, round(math.sqrt(b - a)))
    ivf = faiss.IndexIVFPQFastScan(faiss.IndexFlatL2(dim), dim, nlist, dim // 2, 4)
    ivf.cp.seed = int(rng.integers(1 << 30))
    ivf.cp.niter = KMEANS_ITERATIONS
    ivf.cp.max_points_per_centroid = TRAIN_ROWS_PER_CELL
    ivf.cp.min_points_per_centroid = 1  # small patterns: few rows per cell, and no warning about it
    ivf.pq.cp.niter = PQ_ITERATIONS
    n_train = min(b - a, max(TRAIN_ROWS_PER_CELL * nlist, MIN_TRAIN_ROWS))
    sample = np.sort(rng.choice(b - a, size=n_train, replace=False)) + a
    ivf.train(_columns_of(index.descriptors[sample], cols, dim))
    for s in range(a, b, _ADD_CHUNK):
        e = min(b, s + _ADD_CHUNK)
        ivf.add_with_ids(_columns_of(index.descriptors[s:e], cols, dim), index.pose_ids[s:e])
    return ivf


def _columns_of(rows: np.ndarray, cols: np.ndarray, dim: int) -> np.ndarray:
    """rows[:, cols] as float32, zero-padded to dim columns (what the index takes)."""
    out = np.zeros((len(rows), dim), dtype=np.float32)
    out[:, : len(cols)] = np.asarray(rows)[:, cols]
    return out


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


def held_for(lib, index: DescriptorIndex) -> bool:
    """Whether the library holds the approximate index of this descriptor cache."""
    ann = getattr(lib, "_ann", None)
    return ann is not None and ann.matches(index)


def log_missing(lib, entries: int) -> None:
    """Say once per library that the approximate index would apply but faiss is not installed."""
    key = str(lib.path)
    if key not in _missing_logged:
        _missing_logged.add(key)
        log.warning(
            "%s: %d entries, but the approximate index needs the [ann] extra (faiss-cpu: "
            "pip install 'posefinder[ann]'); searching exactly", lib.path, entries
        )  # fmt: skip


def ann_for(lib, index: DescriptorIndex, build: bool = True) -> AnnIndex | None:
    """The library's approximate index for this descriptor cache: held, loaded, or (re)built and saved.
    build=False (the search thread, which never builds: cache_keeper.py does, in the background): None
    instead of building, and the saved file is tried once per descriptor cache. None, logged once per
    library, when it would need building and faiss is not installed."""
    if held_for(lib, index):
        return lib._ann
    if not build:
        if getattr(lib, "_ann_tried", None) == index.fingerprint() or not _build_lock.acquire(blocking=False):
            return None
    else:
        _build_lock.acquire()
    try:
        if held_for(lib, index):
            return lib._ann
        lib._ann_tried = index.fingerprint()
        ann = AnnIndex.load(lib.path)
        if ann is not None and ann.matches(index):
            lib._ann = ann
            return ann
        if not build:
            return None
        if not available():
            log_missing(lib, len(index))
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
    finally:
        _build_lock.release()


def ann_after_merge(lib, old: LiveIndex, new: DescriptorIndex) -> AnnIndex | None:
    """The approximate index of `new`, the merge of `old` (the merging thread): the library's index of old's
    base brought up to date (AnnIndex.updated) while the cache has not outgrown REBUILD_GROWTH times the rows
    it was trained on and dead codes stay within DEAD_FRACTION of its codes; else (re)built (ann_for).
    Saved and held."""
    held = getattr(lib, "_ann", None)
    if held is not None and held.matches(new):  # the same rows (masked projections added to the base)
        return held
    if held is None or not held.matches(old.base) or len(new) > REBUILD_GROWTH * max(held.trained_rows, 1):
        return ann_for(lib, new)
    with _build_lock:
        t = time.perf_counter()
        ann = held.updated(old, new)
        if ann.dead > DEAD_FRACTION * max(sum(ivf.ntotal for ivf in ann.indexes), 1):
            ann = None
        else:
            log.info("%s: approximate index updated to %d entries in %.2f s", lib.path, len(new), time.perf_counter() - t)
            try:
                ann.save(lib.path)
            except OSError as exc:
                log.info("%s: approximate index kept in memory (%s)", lib.path, exc)
            lib._ann = ann
    return ann if ann is not None else ann_for(lib, new)


def search(lib, index: DescriptorIndex, query: Query, k: int, row_mask: np.ndarray | None = None) -> KnnResult | None:
    """The approximate search when it applies (see applies_to) and the index of this descriptor cache is
    held or saved; else None (the caller searches exactly; the library builds the index in the background)."""
    if not applies_to(query):
        return None
    ann = ann_for(lib, index, build=False)
    return None if ann is None else ann.knn(index, query, k, row_mask=row_mask)


def build_ann(lib) -> AnnIndex | None:
    """Build (or load) the approximate index of a library's saved descriptor cache, e.g. after indexing."""
    return ann_for(lib, lib.descriptor_index().base)
