"""library.sqlite: the schema, its version and migrations, connections, and pose rows <-> Pose.

SQLite in WAL mode (readers never wait for a writer), foreign keys on, a busy timeout for the moments a
checkpoint holds the file. The schema version lives in the `meta` table; a library written by a newer
PoseFinder is refused. `meta.generation` is bumped by every transaction that changes poses (the descriptor
cache records the generation it was built from); each pose row carries the generation of its last change
and deleted poses are logged with theirs, so a cache can also be brought up to date by its changes alone.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any
from pathlib import Path

import numpy as np

from posefinder import __version__
from posefinder.models import skeleton
from posefinder.models.errors import LibraryError
from posefinder.models.pose import Pose

DB_FILE = "library.sqlite"

#: The schema this PoseFinder writes. Bump it with a migration in MIGRATIONS.
SCHEMA_VERSION = 2

#: Image status: estimated (by a model, possibly no character), imported (poses from a pose file),
#: pending (recorded, no pose model was available), bad (could not be read; reason in `error`).
ESTIMATED, IMPORTED, PENDING, BAD = "estimated", "imported", "pending", "bad"

SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE folders (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    added REAL NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    folder_id INTEGER REFERENCES folders(id),
    path TEXT UNIQUE,              -- absolute path of the linked file; NULL for a pose imported without it
    name TEXT NOT NULL,            -- what users see: the path of an indexed file, the name a pose file gave
    origin TEXT NOT NULL,          -- 'index' or 'import'
    import_key TEXT UNIQUE,        -- imports: the image name (or pose content) that makes re-imports idempotent
    size INTEGER,
    mtime_ns INTEGER,
    hash TEXT,                     -- blake2b of the content (hex), recognises moved files
    width INTEGER,
    height INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    added REAL NOT NULL
);
CREATE INDEX images_hash ON images(hash);
CREATE INDEX images_folder ON images(folder_id);
CREATE TABLE poses (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id),
    idx INTEGER NOT NULL,          -- the character's rank in its image (0 = best)
    keypoints BLOB NOT NULL,       -- (25, 3) float64 [x, y, v] in image pixels
    bbox TEXT,                     -- JSON [x, y, w, h] or NULL
    image_w INTEGER,
    image_h INTEGER,
    source TEXT NOT NULL,          -- 'hand' (never overwritten), 'annotation', 'synthetic', 'model:<name>'
    scores BLOB,                   -- (25,) float64 or NULL
    score REAL,
    meta TEXT,                     -- JSON
    gen INTEGER NOT NULL,          -- generation of the last change
    updated REAL NOT NULL,
    UNIQUE (image_id, idx)
);
CREATE INDEX poses_gen ON poses(gen);
CREATE TABLE deleted_poses (pose_id INTEGER NOT NULL, gen INTEGER NOT NULL);
CREATE TABLE tags (
    image_id INTEGER NOT NULL REFERENCES images(id),
    tag TEXT NOT NULL,
    score REAL,
    PRIMARY KEY (image_id, tag)
);
CREATE INDEX tags_tag ON tags(tag);
"""

#: Version 2: the taggers that tagged the library's images (name, version, default threshold, the floor
#: below which scores are not stored) and, per image, the tagger that gave its tags (NULL: not tagged yet).
TAGGERS_V2 = """
CREATE TABLE taggers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    threshold REAL NOT NULL,       -- the card's default threshold (search --min-score overrides it)
    floor REAL NOT NULL,           -- scores below it were not stored
    classes INTEGER NOT NULL,
    added REAL NOT NULL,
    UNIQUE (name, version)
);
ALTER TABLE images ADD COLUMN tagger_id INTEGER REFERENCES taggers(id);
CREATE INDEX tags_tag_score ON tags(tag, score, image_id);
"""

#: version -> SQL that upgrades a library from version - 1.
MIGRATIONS: dict[int, str] = {2: TAGGERS_V2}


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection to library.sqlite (read-only: never writes, works while another process indexes)."""
    uri = f"{Path(path).resolve().as_uri()}?mode={'ro' if readonly else 'rw'}"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=True)
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        # switching to WAL rewrites the file's header: only for a PoseFinder library, never for another
        # program's database (or an empty file) that happens to be called library.sqlite
        if not readonly and _has_meta(con):
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise LibraryError(f"{path}: not a PoseFinder library or a corrupt one ({exc})") from None
    return con


def _has_meta(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None


def create(path: Path) -> None:
    """A new, empty library.sqlite at path."""
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("BEGIN")
        for stmt in _statements(SCHEMA_V1) + _statements(TAGGERS_V2):
            con.execute(stmt)
        set_meta(con, "schema_version", SCHEMA_VERSION)
        set_meta(con, "generation", 0)
        set_meta(con, "written_by", f"PoseFinder {__version__}")
        set_meta(con, "created", time.time())
        con.execute("COMMIT")
    finally:
        con.close()


def _statements(sql: str) -> list[str]:
    """The statements of a schema script (comments dropped), to run inside one transaction."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def get_meta(con: sqlite3.Connection, key: str, default=None) -> Any:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else row[0]


def set_meta(con: sqlite3.Connection, key: str, value) -> None:
    con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))


def generation(con: sqlite3.Connection) -> int:
    return int(get_meta(con, "generation", 0))


def bump_generation(con: sqlite3.Connection) -> int:
    """Inside a write transaction: the next generation (stored)."""
    gen = generation(con) + 1
    set_meta(con, "generation", gen)
    return gen


def check_version(con: sqlite3.Connection, path: Path, readonly: bool) -> int:
    """The library's schema version; LibraryError when it is newer than this PoseFinder reads or missing.
    A writer upgrades an older library in place."""
    try:
        raw = get_meta(con, "schema_version")
    except sqlite3.DatabaseError:
        raw = None
    if raw is None:
        raise LibraryError(f"{path}: library.sqlite is not a PoseFinder library (it has no schema version)")
    version = int(raw)
    if version > SCHEMA_VERSION:
        by = get_meta(con, "written_by", "a newer PoseFinder")
        raise LibraryError(
            f"{path}: this library was written by {by} (library format {version}; this PoseFinder "
            f"{__version__} reads up to {SCHEMA_VERSION}); update PoseFinder to open it"
        )
    if version < SCHEMA_VERSION and not readonly:
        migrate(con, version)
    return version


def migrate(con: sqlite3.Connection, version: int) -> None:
    """Upgrade from `version` to SCHEMA_VERSION, one step per transaction."""
    for v in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _statements(MIGRATIONS[v]):
                con.execute(stmt)
            set_meta(con, "schema_version", v)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


# -- pose rows ---------------------------------------------------------------------------------------------
POSE_COLUMNS = "id, image_id, idx, keypoints, bbox, image_w, image_h, source, scores, score, meta"


def pose_to_row(pose: Pose) -> dict:
    """The column values of a pose row (without ids and generation)."""
    return {
        "keypoints": np.ascontiguousarray(pose.keypoints, dtype="<f8").tobytes(),
        "bbox": None if pose.bbox_xywh is None else json.dumps(list(pose.bbox_xywh)),
        "image_w": None if pose.image_size is None else int(pose.image_size[0]),
        "image_h": None if pose.image_size is None else int(pose.image_size[1]),
        "source": pose.source,
        "scores": None if pose.scores is None else np.ascontiguousarray(pose.scores, dtype="<f8").tobytes(),
        "score": pose.score,
        "meta": json.dumps(_jsonable(pose.meta)) if pose.meta else None,
    }


def _jsonable(obj):
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        return {k: v for k, v in obj.items() if _is_json(v)}


def _is_json(v) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def keypoints_from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f8").reshape(skeleton.NUM_KEYPOINTS, 3)


def row_to_pose(row) -> Pose:
    """A Pose from a row selected with POSE_COLUMNS."""
    _, _, _, kp, bbox, w, h, source, scores, score, meta = row
    return Pose(
        keypoints=keypoints_from_blob(kp).copy(),
        bbox_xywh=None if bbox is None else json.loads(bbox),
        image_size=None if w is None or h is None else (w, h),
        source=source,
        scores=None if scores is None else np.frombuffer(scores, dtype="<f8").copy(),
        score=score,
        meta=json.loads(meta) if meta else {},
    )


def insert_pose(con: sqlite3.Connection, image_id: int, idx: int, pose: Pose, gen: int) -> int:
    r = pose_to_row(pose)
    cur = con.execute(
        "INSERT INTO poses (image_id, idx, keypoints, bbox, image_w, image_h, source, scores, score, meta, gen, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (image_id, idx, r["keypoints"], r["bbox"], r["image_w"], r["image_h"], r["source"], r["scores"],
         r["score"], r["meta"], gen, time.time()),
    )  # fmt: skip
    if cur.lastrowid is None:  # sqlite3 sets it after every INSERT
        raise RuntimeError("SQLite gave no row id for an inserted pose")
    return cur.lastrowid


def update_pose(con: sqlite3.Connection, pose_id: int, pose: Pose, gen: int) -> None:
    r = pose_to_row(pose)
    con.execute(
        "UPDATE poses SET keypoints = ?, bbox = ?, image_w = ?, image_h = ?, source = ?, scores = ?, score = ?,"
        " meta = ?, gen = ?, updated = ? WHERE id = ?",
        (r["keypoints"], r["bbox"], r["image_w"], r["image_h"], r["source"], r["scores"], r["score"], r["meta"],
         gen, time.time(), pose_id),
    )  # fmt: skip


def delete_poses(con: sqlite3.Connection, where: str, params: tuple, gen: int) -> int:
    """Delete the poses matching a WHERE clause, logging them for the cache; the number deleted."""
    ids = [r[0] for r in con.execute(f"SELECT id FROM poses WHERE {where}", params)]
    if ids:
        con.executemany("INSERT INTO deleted_poses (pose_id, gen) VALUES (?, ?)", [(i, gen) for i in ids])
        con.executemany("DELETE FROM poses WHERE id = ?", [(i,) for i in ids])
    return len(ids)


def delete_images(con: sqlite3.Connection, image_ids: list[int], gen: int) -> None:
    """Delete images with their poses and tags."""
    for iid in image_ids:
        delete_poses(con, "image_id = ?", (iid,), gen)
        con.execute("DELETE FROM tags WHERE image_id = ?", (iid,))
        con.execute("DELETE FROM images WHERE id = ?", (iid,))
    if image_ids:  # readers' cached tag filters (library_tags.TagIdCache) start again
        set_meta(con, "tags_generation", int(get_meta(con, "tags_generation", 0) or 0) + 1)
