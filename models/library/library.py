"""Library: open a library folder, search it, import poses, index image folders, edit poses.

A library is a folder holding `library.sqlite` (the truth), `descriptors.npy` + `descriptors.index.npz`
(the derived descriptor cache, brought up to date from what changed: cache_keeper.py) and `thumbs/`. One process writes a library
at a time (`library.lock`); any number read it, also while it is being indexed. Every method may be
called from any thread: each thread gets its own SQLite connection, and searches share the read-only
descriptor matrix.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from posefinder import __version__
from posefinder.models.errors import LibraryError
from posefinder.models.library import database as db
from posefinder.models.library.library_tags import TagFilter, TagIdCache, bump_tags_generation, default_threshold, image_tags, tag_counts, tag_row_mask
from posefinder.models.library.lock import WriterLock
from posefinder.models.library.records import Correction, ImageInfo, LibraryCounts, SearchResult
from posefinder.models.files import as_path
from posefinder.models.library.cache_keeper import CacheKeeper
from posefinder.models.library.live import Hit, LiveIndex
from posefinder.models.library.search import KnnResult
from posefinder.models.library.thumbs import thumb_path
from posefinder.models.pose import SOURCE_HAND, Pose

#: Library.search's character-count filters: images with one character (solo figures), or with several.
CHARACTER_FILTERS = ("one", "several")

#: Libraries with more entries than this search full queries through the approximate index (ann.py)
#: with an exact re-rank, when the [ann] extra is installed; smaller ones (and partial queries) are exact.
ANN_THRESHOLD = 4_000_000


def _not_a_library(path: Path) -> LibraryError:
    return LibraryError(
        f"no PoseFinder library at {path}; create one with `posefinder index FOLDER --library {path}` "
        f"or `posefinder import POSES.json --library {path}`"
    )


class Library:
    """An open library. Use `Library.open(path)`; close it (or use `with`) when done."""

    def __init__(self, path: Path, readonly: bool, lock: WriterLock | None):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = lock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._keeper = CacheKeeper(self)
        self._closed = False
        self.ann_threshold = ANN_THRESHOLD
        self._ann = None  # ann.AnnIndex, held while it matches the descriptor cache
        self._tag_ids = TagIdCache()  # each filtered tag's image ids, until the tags change
        # (generation, (image ids, poses per image)) of the last character-count filter
        self._characters_cache: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None

    # -- opening and closing -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = False, readonly: bool = False) -> "Library":
        """Open (or with create, make) the library in folder `path`.

        LibraryError when it is missing, not a library, locked by another writer, corrupt, or written by a
        newer PoseFinder. readonly: search only, takes no lock, works while another process indexes.
        """
        path = Path(path).expanduser()
        dbfile = path / db.DB_FILE
        if path.exists() and not path.is_dir():
            raise LibraryError(f"{path} is a file; a library is a folder (give a new or existing library folder)")
        if not dbfile.exists():
            if not create or readonly:
                raise _not_a_library(path)
            if path.is_dir() and any(p for p in path.iterdir() if not p.name.startswith(".")):
                raise LibraryError(
                    f"{path} is a folder with other files but no library.sqlite; give a new or empty folder "
                    "for a new library"
                )
            path.mkdir(parents=True, exist_ok=True)
            lock = WriterLock(path).acquire()
            try:
                if not dbfile.exists():
                    db.create(dbfile)
            except BaseException:
                lock.release()
                raise
        elif readonly:
            lock = None
        else:
            lock = WriterLock(path).acquire()
        lib = cls(path, readonly, lock)
        try:
            con = lib._con()
            db.check_version(con, path, readonly)
            if not readonly and db.get_meta(con, "written_by") != f"PoseFinder {__version__}":
                with lib._write() as w:
                    db.set_meta(w, "written_by", f"PoseFinder {__version__}")
        except BaseException:
            lib.close()
            raise
        return lib

    def close(self) -> None:
        if not self._closed:
            with contextlib.suppress(LibraryError, sqlite3.Error, OSError):
                self._keeper.close()
        with self._connections_lock:
            for con in self._connections:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._ann = None
        self._closed = True

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r}{', readonly' if self.readonly else ''})"

    # -- connections and transactions ----------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        if self._closed:
            raise LibraryError(f"{self.path}: the library is closed")
        con = getattr(self._local, "con", None)
        if con is None:
            con = db.connect(self.path / db.DB_FILE, readonly=self.readonly)
            self._local.con = con
            with self._connections_lock:
                self._connections.append(con)
        return con

    @contextlib.contextmanager
    def _write(self):
        """A write transaction on this thread's connection (committed on success, rolled back on error)."""
        if self.readonly:
            raise LibraryError(f"{self.path}: the library is open read-only")
        con = self._con()
        try:
            con.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LibraryError(f"{self.path}: cannot write the library ({exc})") from None
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _read(self):
        """A consistent snapshot for several reads on this thread's connection."""
        con = self._con()
        if con.in_transaction:
            yield con
            return
        con.execute("BEGIN")
        try:
            yield con
        finally:
            with contextlib.suppress(sqlite3.Error):
                con.execute("COMMIT")

    # -- folders -------------------------------------------------------------------------------------------
    def folders(self) -> list[Path]:
        return [Path(r[0]) for r in self._con().execute("SELECT path FROM folders ORDER BY path")]

    def add_folder(self, path: str | Path) -> Path:
        """Add an image folder (indexed by the next `index()`); its resolved path."""
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise LibraryError(f"{folder}: no such folder")
        with self._write() as con:
            con.execute("INSERT OR IGNORE INTO folders (path, added) VALUES (?, strftime('%s','now'))", (str(folder),))
        return folder

    def remove_folder(self, path: str | Path) -> int:
        """Remove a folder and every entry indexed from it; the number of images removed."""
        folder = str(Path(path).expanduser().resolve())
        with self._write() as con:
            row = con.execute("SELECT id FROM folders WHERE path = ?", (folder,)).fetchone()
            if row is None:
                raise LibraryError(f"{folder} is not a folder of this library")
            ids = [r[0] for r in con.execute("SELECT id FROM images WHERE folder_id = ?", (row[0],))]
            gen = db.bump_generation(con)
            db.delete_images(con, ids, gen)
            con.execute("DELETE FROM folders WHERE id = ?", (row[0],))
        return len(ids)

    def _folder_id(self, con, folder: Path) -> int | None:
        row = con.execute("SELECT id FROM folders WHERE path = ?", (str(folder),)).fetchone()
        return None if row is None else int(row[0])

    # -- counts and lookups --------------------------------------------------------------------------------
    def counts(self) -> LibraryCounts:
        with self._read() as con:
            images = con.execute("SELECT count(*) FROM images WHERE status != ?", (db.BAD,)).fetchone()[0]
            poses = con.execute("SELECT count(*) FROM poses").fetchone()[0]
            without = con.execute(
                "SELECT count(*) FROM images i WHERE i.status = ? AND NOT EXISTS "
                "(SELECT 1 FROM poses p WHERE p.image_id = i.id)",
                (db.ESTIMATED,),
            ).fetchone()[0]
            pending = con.execute("SELECT count(*) FROM images WHERE status = ?", (db.PENDING,)).fetchone()[0]
            bad = con.execute("SELECT count(*) FROM images WHERE status = ?", (db.BAD,)).fetchone()[0]
        return LibraryCounts(images, poses, without, pending, bad)

    def generation(self) -> int:
        """Bumped by every change of the library's poses."""
        return db.generation(self._con())

    def get_pose(self, pose_id: int) -> Pose:
        row = self._con().execute(f"SELECT {db.POSE_COLUMNS} FROM poses WHERE id = ?", (int(pose_id),)).fetchone()
        if row is None:
            raise LibraryError(f"no pose {pose_id} in the library (it was removed)")
        return db.row_to_pose(row)

    def poses_of_image(self, image_id: int) -> list[tuple[int, Pose]]:
        """[(pose_id, pose)] of an image, best first."""
        rows = self._con().execute(
            f"SELECT {db.POSE_COLUMNS} FROM poses WHERE image_id = ? ORDER BY idx", (int(image_id),)
        ).fetchall()
        return [(int(r[0]), db.row_to_pose(r)) for r in rows]

    def set_pose(self, pose_id: int, pose: Pose) -> None:
        """Replace a pose by a hand-edited one (source "hand": re-indexing never overwrites it)."""
        with self._write() as con:
            if con.execute("SELECT 1 FROM poses WHERE id = ?", (int(pose_id),)).fetchone() is None:
                raise LibraryError(f"no pose {pose_id} in the library (it was removed)")
            gen = db.bump_generation(con)
            db.update_pose(con, int(pose_id), pose.copy(source=SOURCE_HAND), gen)

    def add_pose(self, image_id: int, pose: Pose) -> int:
        """Add a hand-made pose to an image (e.g. a character the estimator missed); its pose id."""
        with self._write() as con:
            if con.execute("SELECT 1 FROM images WHERE id = ?", (int(image_id),)).fetchone() is None:
                raise LibraryError(f"no image {image_id} in the library (it was removed)")
            idx = con.execute("SELECT coalesce(max(idx) + 1, 0) FROM poses WHERE image_id = ?", (int(image_id),)).fetchone()[0]
            gen = db.bump_generation(con)
            return db.insert_pose(con, int(image_id), int(idx), pose.copy(source=SOURCE_HAND), gen)

    def corrections(self) -> list[Correction]:
        """Every hand-edited pose (source "hand") with its image, in pose id order: what fine-tuning learns
        from (`posefinder-train finetune`) and `posefinder export-corrections` writes. Poses with fewer than
        two keypoints are left out (nothing to learn from)."""
        rows = self._con().execute(
            f"SELECT {', '.join('p.' + c.strip() for c in db.POSE_COLUMNS.split(','))}, i.path, i.hash "
            "FROM poses p JOIN images i ON i.id = p.image_id WHERE p.source = ? ORDER BY p.id",
            (SOURCE_HAND,),
        ).fetchall()
        out = []
        for row in rows:
            pose = db.row_to_pose(row[:-2])
            if pose.present.sum() < 2:
                continue
            out.append(Correction(int(row[0]), int(row[1]), as_path(row[-2]), row[-1], pose))
        return out

    def delete_pose(self, pose_id: int) -> None:
        with self._write() as con:
            gen = db.bump_generation(con)
            db.delete_poses(con, "id = ?", (int(pose_id),), gen)

    def image_info(self, image_id: int) -> ImageInfo:
        row = self._con().execute(
            "SELECT i.id, i.name, i.path, f.path, i.origin, i.status, i.error, i.width, i.height, i.hash "
            "FROM images i LEFT JOIN folders f ON f.id = i.folder_id WHERE i.id = ?",
            (int(image_id),),
        ).fetchone()
        if row is None:
            raise LibraryError(f"no image {image_id} in the library (it was removed)")
        return ImageInfo(
            int(row[0]), row[1], as_path(row[2]), None if row[3] is None else Path(row[3]),
            row[4], row[5], row[6], row[7], row[8], row[9],
        )  # fmt: skip

    def bad_images(self) -> list[tuple[str, str]]:
        """[(name, reason)] of images that could not be read."""
        return [(r[0], r[1] or "") for r in self._con().execute("SELECT name, error FROM images WHERE status = ? ORDER BY name", (db.BAD,))]

    def thumbnail_path(self, image_id: int) -> Path | None:
        """thumbs/<content hash>.jpg of an image, None when it has none (no image file, or not decoded yet)."""
        row = self._con().execute("SELECT hash FROM images WHERE id = ?", (int(image_id),)).fetchone()
        if row is None or row[0] is None:
            return None
        p = thumb_path(self.path, row[0])
        return p if p.exists() else None

    # -- tags ----------------------------------------------------------------------------------------------
    def set_tags(self, image_id: int, tags: dict[str, float] | list[str]) -> None:
        """Replace an image's tags (from the tagger): names, or name -> score."""
        items = tags.items() if isinstance(tags, dict) else [(t, None) for t in tags]
        with self._write() as con:
            con.execute("DELETE FROM tags WHERE image_id = ?", (int(image_id),))
            con.executemany(
                "INSERT OR REPLACE INTO tags (image_id, tag, score) VALUES (?, ?, ?)",
                [(int(image_id), str(t), None if s is None else float(s)) for t, s in items],
            )
            bump_tags_generation(con)

    def tag_names(self, names: list[str] | None = None) -> list[str]:
        """The tags some image of the library has (of `names` only, when given), sorted."""
        rows = self._con().execute("SELECT DISTINCT tag FROM tags ORDER BY tag").fetchall()
        have = [r[0] for r in rows]
        return have if names is None else [t for t in have if t in set(names)]

    def tags(self, image_id: int) -> dict[str, float | None]:
        return {t: s for t, s in self._con().execute("SELECT tag, score FROM tags WHERE image_id = ? ORDER BY tag", (int(image_id),))}

    # -- the descriptor cache ------------------------------------------------------------------------------
    def descriptor_index(self) -> LiveIndex:
        """The searchable arrays at the library's current generation: the saved cache brought up to date
        from what changed (cache_keeper.py); built in full only when no usable cache exists."""
        return self._keeper.current()

    def wait_for_cache(self, timeout: float | None = None) -> None:
        """Until the descriptor cache's background work (a merge, an approximate index build) is done."""
        self._keeper.wait(timeout)

    def _release_thread_connection(self) -> None:
        """Close this thread's connection (a thread that ends, e.g. the cache's background merge)."""
        con = getattr(self._local, "con", None)
        if con is None:
            return
        self._local.con = None
        with self._connections_lock:
            if con in self._connections:
                self._connections.remove(con)
        con.close()

    # -- search --------------------------------------------------------------------------------------------
    def search(self, query, k: int = 20, folder: str | Path | None = None, tags=None,
               characters: str | None = None) -> list[SearchResult]:  # fmt: skip
        """The k poses nearest to the query, best first (thread-safe). Exact, except for unfiltered
        queries with all their joints on and no orientation term on libraries past `ann_threshold` entries
        with the [ann] extra installed: those go through the approximate index (ann.py; exact distances,
        recall@10 about 0.99).

        folder: only images under this folder; tags: only images that have all these tags (names), or a
        library_tags.TagFilter (include, exclude, min_score); characters: "one" (only images with one
        character: solo figures) or "several" (two or more), counted by the image's searchable poses.
        """
        if characters is not None and characters not in CHARACTER_FILTERS:
            raise ValueError(f"characters: one of {', '.join(CHARACTER_FILTERS)}, not {characters!r}")
        live = self.descriptor_index()
        images = None
        if folder is not None:
            images = self._filtered_image_ids(folder)
        if characters is not None:
            counted = self._images_with_characters(live, characters)
            images = counted if images is None else np.intersect1d(images, counted, assume_unique=True)
        if tags is not None and not isinstance(tags, TagFilter):
            tags = TagFilter(include=tuple(tags))
        if tags:
            among = live.image_ids() if images is None else images
            images = among[tag_row_mask(self._con(), tags, among, ids_of=self._tag_ids)]
        base_search: Callable[..., KnnResult | None] | None = None
        if images is None and len(live) > self.ann_threshold:
            from posefinder.models.library import ann

            base_search = functools.partial(ann.search, self)

        return self._results(live.search(query, k, images=images, base_search=base_search))

    def _images_with_characters(self, live: LiveIndex, characters: str) -> np.ndarray:
        """The ids of the images with one ("one") or several ("several") live poses, kept per generation."""
        cached = self._characters_cache
        if cached is not None and cached[0] == live.generation:
            ids, counts = cached[1]
        else:
            ids, counts = np.unique(live.image_ids(), return_counts=True)
            self._characters_cache = (live.generation, (ids, counts))
        return ids[counts == 1] if characters == "one" else ids[counts >= 2]

    def _filtered_image_ids(self, folder) -> np.ndarray:
        sql, params = "SELECT id FROM images WHERE 1", []
        if folder is not None:
            prefix = str(Path(folder).expanduser().resolve())
            sep = "/" if "/" in prefix else "\\"
            prefix = prefix.rstrip(sep) + sep
            sql += " AND path >= ? AND path < ?"
            params += [prefix, prefix[:-1] + chr(ord(sep) + 1)]
        return np.fromiter((r[0] for r in self._con().execute(sql, params)), dtype=np.int64)

    def tag_counts(self, min_score: float | None = None) -> list[tuple[str, int]]:
        """[(tag, images)] at score >= min_score (default: the tagger's threshold), most frequent first."""
        return tag_counts(self._con(), min_score)

    def image_tags(self, image_ids, min_score: float | None = None) -> dict[int, list[tuple[str, float | None]]]:
        """image id -> its [(tag, score)] at score >= min_score (default: the tagger's), best first."""
        return image_tags(self._con(), image_ids, min_score)

    def tag_threshold(self) -> float:
        """The default threshold: that of the tagger that tagged the library (the paper's 0.5 otherwise)."""
        return default_threshold(self._con())

    def _results(self, hits: list[Hit]) -> list[SearchResult]:
        if not hits:
            return []
        pose_ids = [h.pose_id for h in hits]
        marks = ",".join("?" * len(pose_ids))
        rows = self._con().execute(
            f"SELECT {', '.join('p.' + c.strip() for c in db.POSE_COLUMNS.split(','))}, i.name, i.path "
            f"FROM poses p JOIN images i ON i.id = p.image_id WHERE p.id IN ({marks})",
            pose_ids,
        ).fetchall()
        by_id = {int(r[0]): r for r in rows}
        out = []
        for pid, dist, mir in ((h.pose_id, h.distance, h.mirrored) for h in hits):
            r = by_id.get(pid)
            if r is None:  # removed since the cache was read
                continue
            out.append(
                SearchResult(
                    pose_id=pid,
                    image_id=int(r[1]),
                    image=r[11],
                    path=as_path(r[12]),
                    distance=float(dist),
                    mirrored=bool(mir),
                    pose=db.row_to_pose(r[:11]),
                )
            )
        return out

    # -- writing poses in bulk -----------------------------------------------------------------------------
    def import_records(self, records, images_dir: str | Path | None = None, progress=None):
        """Add the poses of pose-file records (see importer.py); an ImportReport."""
        from posefinder.models.library.importer import import_records

        return import_records(self, records, images_dir=images_dir, progress=progress)

    def index(self, folders=None, runner=None, progress=None, cancel=None, **options):
        """Index image folders incrementally (see indexer.py); an IndexReport."""
        from posefinder.models.library.indexer import index_folders

        return index_folders(self, folders=folders, runner=runner, progress=progress, cancel=cancel, **options)
