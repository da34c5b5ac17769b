"""Keeps a library's searchable arrays at SQLite's generation: incremental updates, merges off the search thread.

The search path (`current`) brings the held LiveIndex (live.py) up to date from what changed since its
generation: pose rows with a newer `gen`, and the deletion log (database.py). That reads and builds only the
changed rows; the library's arrays are built in full only when no usable cache exists at all (first search
of a library without descriptors.npy, or a broken one): then, streamed from one SQLite snapshot in two
passes of CHUNK_ROWS rows, the search waits for it.

When the rows outside the base (and the base rows masked out) grow past MERGE_MIN_ROWS and
MERGE_FRACTION of the base, or past MAX_SEGMENTS segments, one background thread merges them into a new
base (chunked; the base's projection basis kept), saves it as descriptors.npy (when the folder is
writable), brings the approximate index of libraries past the library's ANN threshold up to date (ann.py:
the rows removed deleted from it, the rows added added; rebuilt when there is none or the library has
outgrown what it was trained on), prunes
the deletion log up to the saved cache's generation (every cache can catch up from the saved one) and
swaps the new base in. Searches meanwhile use the old base plus its segments.

A reader whose generation is older than the pruned log (another process pruned it) reloads the saved
cache, which is at least that new, and updates from there.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

import numpy as np

from posefinder.models.errors import LibraryError
from posefinder.models.library import cache as cache_mod
from posefinder.models.library import database as db
from posefinder.models.library.live import Changes, LiveIndex, Part

log = logging.getLogger("posefinder.library.cache")

CHUNK_ROWS = 16384
MERGE_MIN_ROWS = 4096
MERGE_FRACTION = 0.02
MAX_SEGMENTS = 12
#: meta key: the deletion log holds every deletion of a later generation.
PRUNED_KEY = "deletions_pruned_through"
_ROW_SQL = (
    "SELECT p.id, p.image_id, coalesce(i.folder_id, -1), p.keypoints FROM poses p "
    "JOIN images i ON i.id = p.image_id"
)
#: (no ORDER BY: it would make SQLite scan every pose in id order instead of searching the gen index)
CHANGED_SQL = f"{_ROW_SQL} WHERE p.gen > ?"


def _rows_to_arrays(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), np.int64, n)
    image_ids = np.fromiter((r[1] for r in rows), np.int64, n)
    folder_ids = np.fromiter((r[2] for r in rows), np.int64, n)
    kp = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f8").reshape(n, cache_mod.K, 3) if n else np.zeros((0, cache_mod.K, 3))
    return ids, image_ids, folder_ids, kp


def row_chunks(con: sqlite3.Connection, chunk: int = CHUNK_ROWS, since: int | None = None):
    """A re-iterable source of every pose row (since: of those written after that generation) in pose id
    order, CHUNK_ROWS at a time (keyset pages), for cache.build_streamed; call it inside one read
    transaction so that both passes see the same rows."""
    where = "" if since is None else f"p.gen > {int(since)} AND "

    def chunks():
        last = -(1 << 62)
        while True:
            rows = con.execute(f"{_ROW_SQL} WHERE {where}p.id > ? ORDER BY p.id LIMIT ?", (last, chunk)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield _rows_to_arrays(rows)

    return chunks


def read_changes(con: sqlite3.Connection, since: int) -> Changes:
    """The rows of the poses written after generation `since` and the ids of the poses deleted after it."""
    ids, image_ids, folder_ids, kp = _rows_to_arrays(con.execute(CHANGED_SQL, (since,)).fetchall())
    return Changes(ids, image_ids, folder_ids, kp, read_deletions(con, since))


def read_deletions(con: sqlite3.Connection, since: int) -> np.ndarray:
    deleted = np.fromiter((r[0] for r in con.execute("SELECT pose_id FROM deleted_poses WHERE gen > ?", (since,))), np.int64)
    return np.unique(deleted)


def streamed_update(con: sqlite3.Connection, live: LiveIndex, gen: int) -> LiveIndex:
    """live brought to generation gen when more rows changed than it holds: the changed rows built, streamed
    (cache.build_streamed, two passes of CHUNK_ROWS rows; on their own principal components when there are
    enough), into one segment beside the base's rows still alive; never all changed rows in memory at once
    as SQLite rows. A background merge follows (its pending rows are past every threshold)."""
    segment = cache_mod.build_streamed(row_chunks(con, since=live.generation), generation=gen)
    gone = np.union1d(read_deletions(con, live.generation), segment.pose_ids)
    parts = [p.without(gone) for p in live.parts]
    parts = [p for i, p in enumerate(parts) if i == 0 or len(p)]
    if len(segment):
        parts.append(Part(segment))
    return LiveIndex(tuple(parts), gen)


def pruned_through(con: sqlite3.Connection) -> int:
    return int(db.get_meta(con, PRUNED_KEY, 0))


def prune_deletions(con: sqlite3.Connection, through: int) -> int:
    """Inside a write transaction: drop the deletion log up to generation `through`; rows dropped."""
    cur = con.execute("DELETE FROM deleted_poses WHERE gen <= ?", (int(through),))
    if through > pruned_through(con):
        db.set_meta(con, PRUNED_KEY, int(through))
    return cur.rowcount


class CacheKeeper:
    """The LiveIndex of one open Library (thread-safe)."""

    def __init__(self, lib):
        self.lib = lib
        self._live: LiveIndex | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False
        self._saved_generation = -1  # of the last cache this keeper saved
        self._pruned = -1
        self.merges = 0  # merges completed (for tests and benchmarks)
        self.full_builds = 0

    # -- the search path -----------------------------------------------------------------------------------
    def current(self) -> LiveIndex:
        """The live index at the library's current generation."""
        gen = self.lib.generation()
        live = self._live
        if live is None or live.generation != gen:
            with self._lock:
                live = self._live
                with self.lib._read() as con:
                    gen = db.generation(con)
                    if live is None or live.generation != gen:
                        live = self._brought_up_to_date(con, live, gen)
                        self._live = live
                self._prune_saved()
        self._maybe_merge(live)
        return live

    def _brought_up_to_date(self, con, live: LiveIndex | None, gen: int) -> LiveIndex:
        floor = pruned_through(con)
        if live is not None and live.generation < floor:
            live = None  # the log no longer holds what it needs: start from the saved cache
        if live is None:
            base = cache_mod.load_index(self.lib.path)
            if base is not None and floor <= base.generation <= gen:
                live = LiveIndex.of(base)
        if live is not None and live.generation < gen:
            pending = con.execute("SELECT count(*) FROM poses WHERE gen > ?", (live.generation,)).fetchone()[0]
            if pending > max(MERGE_MIN_ROWS, len(live.base)):  # more new rows than old: streamed
                live = streamed_update(con, live, gen)
            else:
                live = live.updated(read_changes(con, live.generation), gen)
        if live is None:
            live = LiveIndex.of(self._full_build(con, gen))
        return live

    def _full_build(self, con, gen: int):
        self.full_builds += 1
        index = cache_mod.build_streamed(row_chunks(con), generation=gen)
        return self._saved(index)

    def _saved(self, index, replace: bool = False):
        """The index as saved in the library folder and mapped back (its matrix leaves memory); the index
        itself where the folder cannot be written, or holds a newer one (saved by another process; replace:
        or one of the same generation). A saved one lets the deletion log go up to its generation."""
        on_disk = cache_mod.saved_generation(self.lib.path)
        if on_disk is not None and (on_disk > index.generation or (on_disk == index.generation and not replace)):
            return index
        try:
            cache_mod.save_index(index, self.lib.path)
        except OSError as exc:
            log.info("%s: descriptor cache kept in memory (%s)", self.lib.path, exc)
            return index
        self._saved_generation = max(self._saved_generation, index.generation)
        return cache_mod.load_index(self.lib.path, index.generation) or index

    def _prune_saved(self, through: int | None = None) -> None:
        """Drop the deletion log up to the saved cache's generation (writers only; outside a read snapshot):
        any cache can catch up from the saved one, whoever saved it."""
        through = self._saved_generation if through is None else through
        if self.lib.readonly or through <= self._pruned:
            return
        with contextlib.suppress(LibraryError, sqlite3.Error):
            with self.lib._write() as con:
                prune_deletions(con, through)
            self._pruned = through

    # -- merging in the background -------------------------------------------------------------------------
    def _needs_merge(self, live: LiveIndex) -> bool:
        pending = live.pending_rows()
        return len(live.parts) > MAX_SEGMENTS or pending > max(MERGE_MIN_ROWS, MERGE_FRACTION * len(live.base))

    def _needs_ann(self, live: LiveIndex) -> bool:
        from posefinder.models.library import ann

        if len(live.base) <= self.lib.ann_threshold or ann.held_for(self.lib, live.base):
            return False
        if not ann.available():
            ann.log_missing(self.lib, len(live.base))
            return False
        return True

    def _maybe_merge(self, live: LiveIndex) -> None:
        if self._closed or (self._worker is not None and self._worker.is_alive()):
            return
        # a cache of format 4 has no masked projections: a merge makes them, or they are added to the base
        merge = self._needs_merge(live) or (live.base.proj is not None and live.base.mask_proj is None)
        with_ann = self._needs_ann(live) or (merge and len(live) > self.lib.ann_threshold)
        if not merge and not with_ann:
            return
        self._worker = threading.Thread(target=self._run, args=(live, merge, with_ann), name="posefinder-cache-merge", daemon=True)
        self._worker.start()

    def _run(self, live: LiveIndex, merge: bool, with_ann: bool) -> None:
        try:
            if merge and live.base.mask_proj is None and live.base.proj is not None and not self._needs_merge(live):
                base = self._saved(cache_mod.with_masks(live.base), replace=True)
            else:
                base = self._saved(live.merged()) if merge else live.base
            if self._closed:
                return
            if with_ann:
                from posefinder.models.library import ann

                if merge:
                    ann.ann_after_merge(self.lib, live, base)
                else:
                    ann.ann_for(self.lib, base)
            if merge:
                self._swap(base)
        except (LibraryError, sqlite3.Error, OSError, RuntimeError) as exc:
            if not self._closed:
                log.warning("%s: merging the descriptor cache failed (%s); the search goes on without", self.lib.path, exc)
        finally:
            with contextlib.suppress(LibraryError, sqlite3.Error):
                self.lib._release_thread_connection()

    def _swap(self, base) -> None:
        with self._lock:
            with self.lib._read() as con:
                gen = db.generation(con)
                live = LiveIndex.of(base).updated(read_changes(con, base.generation), gen)
            self._live = live
            self.merges += 1
            self._prune_saved()

    def wait(self, timeout: float | None = None) -> None:
        """Until the background merge (if any) is done."""
        w = self._worker
        if w is not None:
            w.join(timeout)

    def close(self) -> None:
        """Before the library closes: a writer prunes the deletion log up to the saved cache (which a reader
        in another process, or the app's search, may have saved)."""
        self._closed = True
        self._live = None
        if not self.lib.readonly:
            saved = cache_mod.saved_generation(self.lib.path)
            if saved is not None:
                self._prune_saved(saved)
