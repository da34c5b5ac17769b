"""The library's tags: tagging its images with the installed tagger, and the queries over what it stored.

Tagging (after indexing's pose batches): every image with a file that no tagger tagged yet (new, changed,
or indexed before a tagger was installed) runs through the tagger; with retag=True images another tagger
tagged run again. Scores at least tagging.FLOOR are stored with the tagger that gave them (table
taggers: name, version, default threshold), batch by batch, so an interruption loses one batch. Images
the tagger tagged already are never decoded again.

The queries need no tagger: a library whose tagger was removed is searched by its stored tags, at the
threshold its tagger recorded (default_threshold) unless the search names one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from posefinder.models.errors import LibraryError, ModelError, PoseFinderError
from posefinder.models.library import database as db


@dataclass(frozen=True)
class TagFilter:
    """Images that have every `include` tag and none of the `exclude` tags, at score >= min_score (None:
    the library's default threshold)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_score: float | None = None

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


def _has_taggers(con) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'taggers'").fetchone() is not None


def default_threshold(con) -> float:
    """The threshold of the tagger that tagged most recently (its card's), else the paper's 0.5."""
    from posefinder.models.tagging import DEFAULT_THRESHOLD

    if not _has_taggers(con):
        return DEFAULT_THRESHOLD
    row = con.execute("SELECT threshold FROM taggers ORDER BY added DESC, id DESC LIMIT 1").fetchone()
    return DEFAULT_THRESHOLD if row is None else float(row[0])


def tagged_ids(con, tag: str, threshold: float) -> np.ndarray:
    """Ids of the images with this tag at score >= threshold (a range of the covering index tags_tag_score;
    tags stored without a score always count)."""
    rows = con.execute(
        "SELECT image_id FROM tags WHERE tag = ? AND score >= ? UNION ALL "
        "SELECT image_id FROM tags WHERE tag = ? AND score IS NULL",
        (str(tag), float(threshold), str(tag)),
    )
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


#: meta key bumped by every change of the tags (the TagIdCache of readers notices it).
TAGS_GENERATION = "tags_generation"


def bump_tags_generation(con) -> None:
    db.set_meta(con, TAGS_GENERATION, int(db.get_meta(con, TAGS_GENERATION, 0) or 0) + 1)


class TagIdCache:
    """Each tag's image ids at a threshold, kept between searches until the library's tags change (a
    reader's filtered searches then cost a lookup table, not an SQLite range of the tag's rows)."""

    def __init__(self, size: int = 64) -> None:
        import threading
        from collections import OrderedDict

        self._lock = threading.Lock()
        self._ids: OrderedDict = OrderedDict()
        self._gen = None
        self.size = size

    def __call__(self, con, tag: str, threshold: float) -> np.ndarray:
        gen = db.get_meta(con, TAGS_GENERATION, "0")
        key = (str(tag), float(threshold))
        with self._lock:
            if gen != self._gen:
                self._ids.clear()
                self._gen = gen
            hit = self._ids.get(key)
            if hit is not None:
                self._ids.move_to_end(key)
                return hit
        ids = tagged_ids(con, tag, threshold)
        with self._lock:
            if gen == self._gen:
                self._ids[key] = ids
                while len(self._ids) > self.size:
                    self._ids.popitem(last=False)
        return ids


def ids_mask(row_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """row_ids[i] in ids, for every i (a lookup table over the ids: one gather, no sort)."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    if len(ids) == 0 or len(row_ids) == 0:
        return np.zeros(len(row_ids), dtype=bool)
    lut = np.zeros(max(int(row_ids.max()), int(ids.max())) + 1, dtype=bool)
    lut[ids] = True
    return lut[row_ids]


def tag_row_mask(con, flt: TagFilter, row_image_ids: np.ndarray, ids_of=tagged_ids) -> np.ndarray:
    """Which rows (their images' ids) pass the filter; ids_of(con, tag, threshold): a tag's image ids
    (tagged_ids, or a TagIdCache)."""
    threshold = default_threshold(con) if flt.min_score is None else float(flt.min_score)
    mask = np.ones(len(row_image_ids), dtype=bool)
    for t in flt.include:
        mask &= ids_mask(row_image_ids, ids_of(con, t, threshold))
    for t in flt.exclude:
        mask &= ~ids_mask(row_image_ids, ids_of(con, t, threshold))
    return mask


def allowed_image_ids(con, flt: TagFilter) -> np.ndarray:
    """Sorted ids of the library's images that pass the filter."""
    ids = np.fromiter((r[0] for r in con.execute("SELECT id FROM images ORDER BY id")), dtype=np.int64)
    return ids[tag_row_mask(con, flt, ids)]


def tag_counts(con, min_score: float | None = None) -> list[tuple[str, int]]:
    """[(tag, images with it at score >= threshold)], most frequent first, then by name."""
    threshold = default_threshold(con) if min_score is None else float(min_score)
    rows = con.execute(
        "SELECT tag, count(*) AS n FROM tags WHERE coalesce(score, 1.0) >= ? GROUP BY tag ORDER BY n DESC, tag",
        (threshold,),
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def image_tags(con, image_ids, min_score: float | None = None) -> dict[int, list[tuple[str, float | None]]]:
    """image id -> [(tag, score)] at score >= threshold, highest score first."""
    threshold = default_threshold(con) if min_score is None else float(min_score)
    ids = [int(i) for i in image_ids]
    out: dict[int, list] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for iid, tag, score in con.execute(
            f"SELECT image_id, tag, score FROM tags WHERE image_id IN ({marks}) AND coalesce(score, 1.0) >= ? "
            "ORDER BY image_id, coalesce(score, 1.0) DESC, tag",
            [*part, threshold],
        ):
            out[int(iid)].append((tag, score))
    return out


def check_tags_known(con, names) -> None:
    """LibraryError unless some image has each of these tags: a misspelt --tag never quietly finds nothing."""
    names = sorted(set(names))
    if not names:
        return
    if con.execute("SELECT 1 FROM tags LIMIT 1").fetchone() is None:
        from posefinder.models.tagging import NO_TAGGER_HINT

        raise LibraryError(
            f"the library has no tags yet; index it with a tagger installed ({NO_TAGGER_HINT.split(': ', 1)[1]})"
        )
    marks = ",".join("?" * len(names))
    have = {r[0] for r in con.execute(f"SELECT DISTINCT tag FROM tags WHERE tag IN ({marks})", names)}
    missing = [n for n in names if n not in have]
    if missing:
        raise LibraryError(f"no image of the library has the tag {', '.join(map(repr, missing))}; "
                           "`posefinder tags --library LIB` lists its tags")  # fmt: skip


def _register(con, tagger_info) -> int:
    con.execute(
        "INSERT OR IGNORE INTO taggers (name, version, threshold, floor, classes, added) VALUES (?, ?, ?, ?, ?, ?)",
        (tagger_info.name, tagger_info.version, tagger_info.threshold, _floor(), len(tagger_info.classes), time.time()),
    )
    con.execute(
        "UPDATE taggers SET added = ? WHERE name = ? AND version = ?",
        (time.time(), tagger_info.name, tagger_info.version),
    )
    return int(con.execute("SELECT id FROM taggers WHERE name = ? AND version = ?",
                           (tagger_info.name, tagger_info.version)).fetchone()[0])  # fmt: skip


def _floor() -> float:
    from posefinder.models.tagging import FLOOR

    return FLOOR


def tag_images(
    lib, tagger="auto", *, retag: bool = False, report=None, cancel=None, log=None, batch_size: int = 64
) -> int:
    """Tag the images that need it (see the module's text); how many were tagged. tagger: "auto" (the
    newest installed; none installed: says so once through log and report.tag_message) or an ImageTagger."""
    from posefinder.models.files import as_path
    from posefinder.models.imageio import read_image
    from posefinder.models.tagging import NO_TAGGER_HINT, ImageTagger, newest_tagger

    if isinstance(tagger, str):  # "auto"
        info = newest_tagger()
        if info is None:
            if report is not None:
                report.tag_message = NO_TAGGER_HINT
            if log:
                log(NO_TAGGER_HINT)
            return 0
        try:
            runner: ImageTagger = ImageTagger(info)
        except ImportError:  # a torch-free install: the tagger's network needs the [torch] extra
            message = f"tags are off: running the tagger {info.name!r} needs PyTorch (pip install posefinder[torch])"
            if report is not None:
                report.tag_message = message
            if log:
                log(message)
            return 0
        except (ModelError, OSError) as exc:
            message = f"tags are off: the tagger {info.name!r} cannot be loaded ({exc})"
            if report is not None:
                report.tag_message = message
            if log:
                log(message)
            return 0
    else:
        runner = tagger
    info = runner.info
    with lib._write() as con:
        tid = _register(con, info)
    where = "path IS NOT NULL AND status != ? AND (tagger_id IS NULL" + (" OR tagger_id != ?)" if retag else ")")
    params = [db.BAD] + ([tid] if retag else [])
    todo = lib._con().execute(f"SELECT id, path FROM images WHERE {where} ORDER BY id", params).fetchall()
    if report is not None:
        report.tagger = info.key
    done = 0
    for start in range(0, len(todo), batch_size):
        if cancel is not None and cancel.is_set():
            if report is not None:
                report.cancelled = True
            break
        results = []
        for iid, path in todo[start : start + batch_size]:
            try:
                image = read_image(as_path(path)).image
            except PoseFinderError as exc:
                if log:
                    log(f"not tagged: {exc}")
                continue
            results.append((iid, runner.tag(image)))
        with lib._write() as con:
            for iid, tags in results:
                con.execute("DELETE FROM tags WHERE image_id = ?", (iid,))
                con.executemany("INSERT INTO tags (image_id, tag, score) VALUES (?, ?, ?)",
                                [(iid, t, s) for t, s in tags.items()])  # fmt: skip
                con.execute("UPDATE images SET tagger_id = ? WHERE id = ?", (tid, iid))
            bump_tags_generation(con)
        done += len(results)
        if report is not None:
            report.tagged += len(results)
    return done
