"""Incremental indexing of image folders: scan, skip unchanged, recognise moves, estimate, commit in batches, prune.

One run:
1. scan each folder for image files (imageio.IMAGE_SUFFIXES; hidden files and folders and the library's
   own folder are skipped). A folder that is not there is reported and nothing of it is pruned.
2. a file with the path, size and modification time of a recorded image is unchanged and skipped (a bad
   image too, until it changes; an image recorded while no pose model was available is estimated now if
   one is). Other files are hashed (blake2b of the content): a new path whose content is that of a
   recorded image whose file is gone is a move (poses kept); a changed file with the same content only
   has its facts updated.
3. the rest runs through the runner, `batch_size` images at a time, each batch committed in one
   transaction: an interruption (even SIGKILL) loses at most the current batch, and the next run picks up
   where it stopped, without duplicates (image paths are unique). `cancel` is looked at between images:
   a cancelled run commits the images of its batch estimated so far and stops.
4. after every batch went through, images whose files are gone are pruned (a cancelled run prunes nothing).

A pose edited by hand is never replaced: an image holding one is not re-estimated.

runner(paths) -> iterator of (path, result) or (path, result, image): result is a list of Poses, None when
no estimator ran (the image is recorded as waiting for a pose model), or a PoseFinderError (the image is
recorded as bad, with the reason). image, when given, is the decoded (H, W, 3) uint8 array, used for the
thumbnail and the size. The default runner decodes with imageio.load_image and estimates with the chain's
first available estimator; when none is available it records the images and says why.

A streaming runner (one with a `stream` method, such as build/cluster.py's RayRunner) is handed all the
images to estimate at once, so that a cluster keeps every worker busy, and the results are committed
`batch_size` at a time as they arrive, in whatever order: runner.stream(paths) yields the same items, the
image as a DecodedElsewhere (size, content hash and thumbnail made where it was decoded). Before that, the
files whose content decides what to do with them (changed files; new files when files have gone, for the
moves) are hashed by runner.hash_files(paths) -> (path, hex or ImageError), where the runner has one.
A path answered twice (a retried task) counts once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from posefinder.models.errors import ImageError, LibraryError, ModelError, PoseFinderError
from posefinder.models.files import readable_name, stored_name
from posefinder.models.library import database as db
from posefinder.models.library.records import IndexReport
from posefinder.models.library.thumbs import content_hash, make_thumbnail, thumb_path, write_thumbnail
from posefinder.models.pose import SOURCE_HAND

#: Images per transaction.
BATCH_SIZE = 64

Runner = Callable[[list[Path]], Iterable[tuple]]


@dataclass
class _Work:
    path: Path
    folder_id: int
    size: int
    mtime_ns: int
    kind: str  # "new", "changed", "pending"
    image_id: int | None = None  # changed/pending: the recorded image
    old_hash: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True)
class DecodedElsewhere:
    """What a runner that decoded an image in another process sends instead of its pixels: its size (None
    when it could not be decoded), the content hash of the bytes it read, the thumbnail (thumbs.encode_thumbnail)."""

    width: int | None
    height: int | None
    content_hash: str | None = None
    thumbnail: bytes | None = None


def default_runner(estimator=None) -> Runner:
    """read_image + estimator.estimate per path; with no estimator, decode only (result None). A working
    file's poses are in canvas pixels (scaled from its preview); its canvas size is the 4th item."""
    from posefinder.models.imageio import read_image

    def run(paths: list[Path]) -> Iterator[tuple]:
        for path in paths:
            try:
                decoded = read_image(path)
            except PoseFinderError as exc:
                yield path, exc
                continue
            image, canvas = decoded.image, decoded.canvas_size
            if estimator is None:
                yield path, None, image, canvas
                continue
            try:
                poses = decoded.to_canvas(list(estimator.estimate(image)))
            except PoseFinderError as exc:
                yield path, exc, image, canvas
                continue
            yield path, poses, image, canvas

    return run


def scan_folder(folder: Path, skip: Path | None = None, skipped: list[str] | None = None) -> list[tuple[Path, int, int]]:
    """[(path, size, mtime_ns)] of the regular image files under folder (links followed), sorted by path.
    FIFOs, sockets and devices, also behind links, are never opened: their reasons go to skipped."""
    import stat

    from posefinder.models.files import entry_kind, not_regular_reason
    from posefinder.models.imageio import IMAGE_SUFFIXES

    out = []
    skip_s = None if skip is None else os.path.normcase(str(skip))
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and os.path.normcase(os.path.join(dirpath, d)) != skip_s
        )  # fmt: skip
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                continue
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                if skipped is not None and (st is None or entry_kind(st.st_mode) is not None):
                    skipped.append(not_regular_reason(p) or f"{p}: not a regular file; skipped")
                continue
            out.append((Path(p), int(st.st_size), int(st.st_mtime_ns)))
    out.sort(key=lambda t: str(t[0]))
    return out


def index_folders(
    lib,
    folders: list[Path] | None = None,
    runner: Runner | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel=None,
    batch_size: int = BATCH_SIZE,
    thumbnails: bool = True,
    model: str | None = None,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
    tagger="auto",
    retag: bool = False,
) -> IndexReport:
    """Index the given folders (added to the library first) or all the library's folders; an IndexReport.

    model/device choose the default runner's estimator (chain.select_estimator); log receives one line
    per notable event (unreadable image, no pose model, no tagger). tagger: "auto" (the newest installed,
    tagging.newest_tagger), an ImageTagger, or None (no tagging); retag: re-tag images another tagger
    tagged (library_tags.tag_images)."""
    if lib.readonly:
        raise LibraryError(f"{lib.path}: the library is open read-only")
    if folders is not None:
        for f in folders:
            if not Path(f).expanduser().is_dir():
                raise LibraryError(f"{f}: no such folder")
        targets = [lib.add_folder(f) for f in folders]
    else:
        targets = lib.folders()
    report = IndexReport()
    con = lib._con()
    lib_dir = lib.path.resolve()

    # 1-2. scan and classify
    work: list[_Work] = []
    missing: dict[int, tuple[str, str | None, int]] = {}  # image id -> (path, hash, folder id)
    for folder in targets:
        folder = Path(folder)
        if not folder.is_dir():
            report.missing_folders.append(str(folder))
            if log:
                log(f"{folder}: folder not found; its images are kept")
            continue
        fid = lib._folder_id(con, folder)
        recorded = {
            r[1]: r
            for r in con.execute(
                "SELECT id, path, size, mtime_ns, hash, status FROM images WHERE folder_id = ?", (fid,)
            )
        }
        seen = set()
        skipped: list[str] = []
        for path, size, mtime in scan_folder(folder, skip=lib_dir, skipped=skipped):
            report.scanned += 1
            key = stored_name(path)
            seen.add(key)
            rec = recorded.get(key)
            if rec is None:
                other = con.execute("SELECT 1 FROM images WHERE path = ?", (key,)).fetchone()
                if other is not None:  # linked by an import or another library folder
                    report.unchanged += 1
                    continue
                work.append(_Work(path, fid, size, mtime, "new"))
            elif rec[2] == size and rec[3] == mtime:
                if rec[5] == db.PENDING:
                    work.append(_Work(path, fid, size, mtime, "pending", image_id=rec[0], old_hash=rec[4]))
                else:
                    report.unchanged += 1
            else:
                work.append(_Work(path, fid, size, mtime, "changed", image_id=rec[0], old_hash=rec[4]))
        report.skipped += skipped
        if log:
            for line in skipped:
                log(line)
        for key, rec in recorded.items():
            if key not in seen:
                missing[rec[0]] = (key, rec[4], fid)

    # 3. batches
    state = _RunState(lib, runner, model, device, report, log, thumbnails)
    if any(w.kind == "pending" for w in work):
        state.runner()  # images waiting for a pose model: only worth a run when there is one now
        if not state.estimates:
            report.unchanged += sum(w.kind == "pending" for w in work)
            work = [w for w in work if w.kind != "pending"]
    total = len(work)
    done = 0
    if progress is not None:
        progress(0, total)
    if state.estimates and hasattr(state.runner(), "stream"):
        _index_streaming(state, work, missing, batch_size, progress, cancel)
        if report.cancelled:  # nothing pruned, nothing tagged
            return report
        work = []  # all handled: the loop below has nothing to do; pruning and tagging follow
    for start in range(0, len(work), batch_size):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        batch = work[start : start + batch_size]
        done += _run_batch(state, batch, missing, cancel)
        if progress is not None:
            progress(done, total)
        if state.cancelled:  # asked between two images of the batch: what was estimated is committed
            report.cancelled = True
            break
    else:
        # 4. prune what is gone
        if missing:
            with lib._write() as w:
                gen = db.bump_generation(w)
                db.delete_images(w, list(missing), gen)
            report.removed += len(missing)
        if tagger is not None:
            from posefinder.models.library.library_tags import tag_images

            tag_images(lib, tagger, retag=retag, report=report, cancel=cancel, log=log, batch_size=batch_size)
    return report


class _RunState:
    """The runner of one index run, made on first need (loading a model is slow)."""

    def __init__(self, lib, runner, model, device, report: IndexReport, log, thumbnails: bool):
        self.lib, self._runner, self.model, self.device = lib, runner, model, device
        self.report, self.log, self.thumbnails = report, log, thumbnails
        self._resolved = runner is not None
        self.estimates = True  # False when no model: images are recorded unposed
        self.cancelled = False  # the run was cancelled between two images of a batch

    def runner(self) -> Runner:
        if not self._resolved:
            from posefinder.models.estimators import chain

            try:
                est = chain.select_estimator(self.model, device=self.device)
            except ModelError as exc:
                if self.model is not None:
                    raise
                est = None
                self.estimates = False
                self.report.model_message = str(exc)
                if self.log:
                    self.log(f"images are recorded without poses: {exc}")
            self._runner = default_runner(est)
            self._resolved = True
        return self._runner


def file_hash(path: Path) -> tuple[str | None, str | None]:
    """(content hash, None), or (None, why the file cannot be read)."""
    try:
        return content_hash(path), None
    except ImageError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{readable_name(path)}: cannot read ({exc.strerror})"


def _classify(state: _RunState, batch: list[_Work], missing: dict, reasons: dict | None = None):
    """(to_run, moves, touch, bad_read) of a batch. reasons: None to hash every item here; else the items
    were hashed before (content_hash set, or path -> why it cannot be read in reasons), and a new item
    without a hash is to run (its hash comes with its result)."""
    lib = state.lib
    con = lib._con()
    to_run: list[_Work] = []
    moves: list[tuple[_Work, int]] = []
    touch: list[tuple[_Work, dict]] = []  # same content, new size/mtime; or new content kept for a hand edit
    bad_read: list[tuple[_Work, str]] = []
    missing_by_hash: dict[str, int] = {}
    for iid, (_, h, _) in missing.items():
        if h is not None:
            missing_by_hash.setdefault(h, iid)
    for w in batch:
        if reasons is None:
            w.content_hash, reason = file_hash(w.path)
        else:
            reason = reasons.get(str(w.path))
        if reason is not None:
            bad_read.append((w, reason))
            continue
        if w.content_hash is None and w.kind == "new":
            to_run.append(w)
        elif w.kind == "new" and w.content_hash in missing_by_hash:
            iid = missing_by_hash.pop(w.content_hash)
            missing.pop(iid, None)
            moves.append((w, iid))
        elif w.kind == "changed" and w.content_hash == w.old_hash:
            touch.append((w, {}))
        elif w.kind in ("changed", "pending") and _has_hand_pose(con, w.image_id):
            # never re-estimate an image whose pose was edited by hand; a new content's size and thumbnail
            facts = _image_facts(lib, w, None, None, state.thumbnails) if w.content_hash != w.old_hash else {}
            touch.append((w, facts))
        else:
            to_run.append(w)
    return to_run, moves, touch, bad_read


def _run_batch(state: _RunState, batch: list[_Work], missing: dict, cancel=None) -> int:
    """Estimate and commit one batch; the number of its images handled. A cancel seen between two images
    stops the estimates there (state.cancelled): the images done are committed, the rest wait for the
    next run."""
    to_run, moves, touch, bad_read = _classify(state, batch, missing)
    results: dict[str, tuple] = {}
    unavailable: set[str] = set()
    handled: set[str] = set()  # paths the runner answered (results or an unavailable format)
    skipped = 0
    if to_run:
        by_path = {str(w.path): w for w in to_run}
        for item in state.runner()([w.path for w in to_run]):
            w = by_path.get(str(item[0]))
            if w is None:
                continue
            handled.add(str(w.path))
            _take(state, w, item, results, unavailable)
            if cancel is not None and cancel.is_set() and len(handled) < len(to_run):
                state.cancelled = True
                break
        if state.cancelled:
            skipped = len(to_run) - len(handled)
            to_run = [w for w in to_run if str(w.path) in handled]

    _commit(state, moves, touch, bad_read, to_run, results, unavailable)
    return len(batch) - skipped


def _take(state: _RunState, w: _Work, item: tuple, results: dict, unavailable: set) -> None:
    """File one runner item of w: its result and facts into results, or its path into unavailable."""
    from posefinder.models.imageio.plugins import FormatUnavailable

    result = item[1]
    image = item[2] if len(item) > 2 else None
    if isinstance(image, DecodedElsewhere) and image.content_hash is not None:
        w.content_hash = image.content_hash  # the hash of the bytes the estimate was made from
    if isinstance(result, FormatUnavailable):  # counted once per type; read when the extra is there
        state.report.unavailable[result.kind] = state.report.unavailable.get(result.kind, 0) + 1
        unavailable.add(str(w.path))
    else:
        facts = _image_facts(state.lib, w, result, image, state.thumbnails, item[3] if len(item) > 3 else None)
        results[str(w.path)] = (result, facts)


def _index_streaming(state: _RunState, work: list[_Work], missing: dict, batch_size: int, progress, cancel) -> None:
    """Index work through a streaming runner (see the module's docstring): hash what the decisions need,
    commit what needs no estimate, then stream every image to estimate and commit the results in batches."""
    report, runner = state.report, state.runner()
    total, done = len(work), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    moves_possible = any(h is not None for _, h, _ in missing.values())
    need = [w for w in work if w.kind != "new" or moves_possible]
    reasons: dict[str, str] = {}
    if need:
        by_path = {str(w.path): w for w in need}
        hash_files = getattr(runner, "hash_files", None)
        answers = hash_files([w.path for w in need]) if hash_files else ((w.path, file_hash(w.path)) for w in need)
        for path, answer in answers:
            w = by_path.pop(str(path), None)
            if w is None:
                continue
            if isinstance(answer, tuple):
                w.content_hash, reason = answer
            elif isinstance(answer, Exception):
                w.content_hash, reason = None, str(answer)
            else:
                w.content_hash, reason = str(answer), None
            if reason is not None:
                reasons[str(path)] = reason
        for key in by_path:  # never answered: hashed here
            by_path[key].content_hash, reason = file_hash(by_path[key].path)
            if reason is not None:
                reasons[key] = reason
    to_run, moves, touch, bad_read = _classify(state, work, missing, reasons)
    for start in range(0, max(len(moves), len(touch), len(bad_read)), batch_size):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            return
        part = (moves[start : start + batch_size], touch[start : start + batch_size], bad_read[start : start + batch_size])
        _commit(state, *part, [], {}, set())
        advance(sum(len(p) for p in part))

    waiting = {str(w.path): w for w in to_run}  # answered ones leave it: what is left at the end had no answer
    batch: list[_Work] = []
    results: dict[str, tuple] = {}
    unavailable: set[str] = set()
    if to_run and not (cancel is not None and cancel.is_set()):
        for item in runner.stream([w.path for w in to_run]):
            w = waiting.pop(str(item[0]), None)
            if w is None:  # not asked for, or answered before (a retried task)
                continue
            _take(state, w, item, results, unavailable)
            batch.append(w)
            if len(batch) >= batch_size:
                _commit(state, [], [], [], batch, results, unavailable)
                advance(len(batch))
                batch, results, unavailable = [], {}, set()
            if cancel is not None and cancel.is_set():
                break
    if batch:
        _commit(state, [], [], [], batch, results, unavailable)
        advance(len(batch))
    if cancel is not None and cancel.is_set() and waiting:
        report.cancelled = True
        return
    left = list(waiting.values())
    if left:  # the runner ended without them: recorded as bad (with why), tried again when they change
        _commit(state, [], [], [], left, {}, set())
        advance(len(left))


def _commit(state: _RunState, moves, touch, bad_read, to_run: list[_Work], results: dict, unavailable: set) -> None:
    """One transaction: the moves, touched and unreadable images, and the results of to_run (path -> (result,
    facts); an image without one is recorded as bad, one in unavailable waits for its format's extra)."""
    lib, report = state.lib, state.report
    with lib._write() as wcon:
        gen = db.generation(wcon) + 1
        changed = False
        for w, iid in moves:
            wcon.execute(
                "UPDATE images SET path = ?, name = ?, folder_id = ?, size = ?, mtime_ns = ? WHERE id = ?",
                (stored_name(w.path), readable_name(w.path), w.folder_id, w.size, w.mtime_ns, iid),
            )
            wcon.execute("UPDATE poses SET gen = ? WHERE image_id = ?", (gen, iid))
            changed = True
            report.moved += 1
        for w, facts in touch:
            wcon.execute(
                "UPDATE images SET size = ?, mtime_ns = ?, hash = ?, width = coalesce(?, width), height = coalesce(?, height)"
                " WHERE id = ?",
                (w.size, w.mtime_ns, w.content_hash, facts.get("width"), facts.get("height"), w.image_id),
            )
            if w.kind == "changed":
                report.changed += 1
            else:
                report.unchanged += 1
        for w, reason in bad_read:
            iid = _record(wcon, w, db.BAD, reason, {}, report)
            changed |= db.delete_poses(wcon, "image_id = ? AND source != ?", (iid, SOURCE_HAND), gen) > 0
            report.bad.append(reason)
        for w in to_run:
            if str(w.path) in unavailable:
                continue
            got = results.get(str(w.path))
            if got is None:
                reason = f"{readable_name(w.path)}: the pose runner returned no result"
                _record(wcon, w, db.BAD, reason, {}, report)
                report.bad.append(reason)
                continue
            result, facts = got
            if isinstance(result, PoseFinderError):
                iid = _record(wcon, w, db.BAD, str(result), facts, report)
                changed |= db.delete_poses(wcon, "image_id = ? AND source != ?", (iid, SOURCE_HAND), gen) > 0
                report.bad.append(str(result))
                if state.log:
                    state.log(f"skipped: {result}")
                continue
            if result is None:
                iid = _record(wcon, w, db.PENDING, None, facts, report)
                report.not_estimated += 1
                continue
            iid = _record(wcon, w, db.ESTIMATED, None, facts, report)
            report.estimated += 1
            n_old = db.delete_poses(wcon, "image_id = ? AND source != ?", (iid, SOURCE_HAND), gen)
            base = wcon.execute("SELECT coalesce(max(idx) + 1, 0) FROM poses WHERE image_id = ?", (iid,)).fetchone()[0]
            for j, pose in enumerate(result):
                db.insert_pose(wcon, iid, int(base) + j, pose, gen)
            report.poses += len(result)
            changed |= bool(result) or n_old > 0
        if changed:
            db.set_meta(wcon, "generation", gen)


def _has_hand_pose(con, image_id: int | None) -> bool:
    if image_id is None:
        return False
    return con.execute("SELECT 1 FROM poses WHERE image_id = ? AND source = ? LIMIT 1", (image_id, SOURCE_HAND)).fetchone() is not None


def _image_facts(lib, w: _Work, result, image: np.ndarray | DecodedElsewhere | None, thumbnails: bool, canvas=None) -> dict:
    """width/height (a working file's canvas, else the decoded image's, else the header's) and the thumbnail."""
    from posefinder.models.imageio import image_size, read_image

    facts: dict = {}
    if isinstance(image, DecodedElsewhere):
        if image.width is not None and image.height is not None:
            facts["width"], facts["height"] = (int(canvas[0]), int(canvas[1])) if canvas else (image.width, image.height)
        if thumbnails and image.thumbnail is not None and w.content_hash is not None:
            try:
                write_thumbnail(image.thumbnail, thumb_path(lib.path, w.content_hash))
            except OSError:
                pass
        return facts
    if isinstance(result, PoseFinderError) and image is None:
        return facts
    thumb = thumb_path(lib.path, w.content_hash) if thumbnails and w.content_hash is not None else None
    if image is None and thumb is not None and not thumb.exists():
        try:
            decoded = read_image(w.path)
            image, canvas = decoded.image, canvas or decoded.canvas_size
        except ImageError:
            image = None
    if image is not None:
        facts["width"], facts["height"] = (int(canvas[0]), int(canvas[1])) if canvas else (int(image.shape[1]), int(image.shape[0]))
        if thumb is not None:
            try:
                make_thumbnail(image, thumb)
            except OSError:
                pass
    else:
        try:
            facts["width"], facts["height"] = image_size(w.path)
        except ImageError:
            pass
    return facts


def _record(con, w: _Work, status: str, error: str | None, facts: dict, report: IndexReport) -> int:
    """Insert or update the image row of a work item; its id."""
    if w.image_id is None:
        cur = con.execute(
            "INSERT INTO images (folder_id, path, name, origin, size, mtime_ns, hash, width, height, status, error,"
            " added) VALUES (?, ?, ?, 'index', ?, ?, ?, ?, ?, ?, ?, ?)",
            (w.folder_id, stored_name(w.path), readable_name(w.path), w.size, w.mtime_ns, w.content_hash, facts.get("width"),
             facts.get("height"), status, error, time.time()),
        )  # fmt: skip
        w.image_id = int(cur.lastrowid)
        report.added += 1
    else:
        con.execute(
            "UPDATE images SET size = ?, mtime_ns = ?, hash = ?, width = coalesce(?, width),"
            " height = coalesce(?, height), status = ?, error = ? WHERE id = ?",
            (w.size, w.mtime_ns, w.content_hash, facts.get("width"), facts.get("height"), status, error, w.image_id),
        )
        if w.kind == "changed":  # new content: tagged again
            con.execute("UPDATE images SET tagger_id = NULL WHERE id = ?", (w.image_id,))
        if w.kind == "changed":
            report.changed += 1
    return w.image_id

