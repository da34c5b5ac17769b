"""Importing annotated poses (COCO, ADD, PoseFinder, OpenPose files) into a library.

Each record's image name keys its entry, and a pose's rank among that image's records in the file keys the
pose: importing the same file again adds nothing, a file with corrected keypoints updates them, a file
with fewer poses for an image replaces them (the image's extra poses of the same source are removed), and a
pose edited by hand in the library is kept as edited. A record without an image name is keyed by its keypoints.
With images_dir, an image found there (by its name, else by its file name alone) is linked: its content is
hashed, its size read and a thumbnail made. Without it, or when the file is missing, the pose is still
searchable and shows the stored name.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from posefinder.models.errors import ImageError, LibraryError
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import database as db
from posefinder.models.library.records import ImportReport
from posefinder.models.library.thumbs import content_hash, make_thumbnail, thumb_path
from posefinder.models.pose import Pose

#: Images per transaction.
BATCH_IMAGES = 256


def record_key(record: PoseRecord) -> str:
    """The name an imported record's image is stored under."""
    if record.image:
        return str(record.image)
    digest = hashlib.blake2b(np.ascontiguousarray(record.pose.keypoints, "<f8").tobytes(), digest_size=8)
    return f"pose-{digest.hexdigest()}"


def find_image(images_dir: Path, name: str) -> Path | None:
    """The file a record's image name refers to inside images_dir (its path, else its file name)."""
    if not name:
        return None
    p = Path(name)
    for cand in (p if p.is_absolute() else images_dir / p, images_dir / p.name):
        if cand.is_file():
            return cand.resolve()
    return None


def _same_pose(a: Pose, b: Pose) -> bool:
    return (
        np.array_equal(a.keypoints, b.keypoints)
        and a.bbox_xywh == b.bbox_xywh
        and a.image_size == b.image_size
        and a.source == b.source
        and a.score == b.score
    )


def _link(lib, path: Path, report: ImportReport) -> dict | None:
    """Facts about an image file (hash, size, dimensions) with its thumbnail made; None if unreadable."""
    from posefinder.models.imageio import load_image

    try:
        st = path.stat()
        digest = content_hash(path)
        image = load_image(path)
    except ImageError as exc:
        report.problems.append(str(exc))
        return None
    except OSError as exc:
        report.problems.append(f"{path}: cannot read ({exc.strerror})")
        return None
    try:
        make_thumbnail(image, thumb_path(lib.path, digest))
    except OSError as exc:
        report.problems.append(f"{path}: thumbnail not written ({exc.strerror})")
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": digest,
            "width": int(image.shape[1]), "height": int(image.shape[0])}  # fmt: skip


def import_records(lib, records: list[PoseRecord], images_dir=None, progress=None) -> ImportReport:
    """Add the records' poses to the library; see the module docstring."""
    if images_dir is not None:
        images_dir = Path(images_dir).expanduser()
        if not images_dir.is_dir():
            raise LibraryError(f"{images_dir}: no such images folder")
    recs = [r if isinstance(r, PoseRecord) else PoseRecord(r) for r in records]
    groups: dict[str, list[Pose]] = {}
    for r in recs:
        groups.setdefault(record_key(r), []).append(r.pose)
    report = ImportReport()
    names = list(groups)
    done = 0
    for start in range(0, len(names), BATCH_IMAGES):
        batch = names[start : start + BATCH_IMAGES]
        links = {}
        if images_dir is not None:
            for name in batch:
                found = find_image(images_dir, name)
                if found is None:
                    report.images_missing += 1
                    continue
                facts = _link(lib, found, report)
                if facts is not None:
                    links[name] = facts
        with lib._write() as con:
            gen = db.generation(con) + 1
            changed = False
            for name in batch:
                changed |= _import_image(con, name, groups[name], links.get(name), gen, report)
            if changed:
                db.set_meta(con, "generation", gen)
        done += len(batch)
        if progress is not None:
            progress(done, len(names))
    return report


def _import_image(con, name: str, poses: list[Pose], link: dict | None, gen: int, report: ImportReport) -> bool:
    row = con.execute("SELECT id, path FROM images WHERE import_key = ?", (name,)).fetchone()
    changed = False
    if link is not None:
        other = con.execute("SELECT id FROM images WHERE path = ?", (link["path"],)).fetchone()
        if other is not None and (row is None or other[0] != row[0]):
            report.problems.append(f"{link['path']}: already in the library as another entry; not linked again")
            link = None
        else:
            report.images_linked += 1
    size = next((p.image_size for p in poses if p.image_size is not None), None)
    if row is None:
        cur = con.execute(
            "INSERT INTO images (folder_id, path, name, origin, import_key, size, mtime_ns, hash, width, height,"
            " status, added) VALUES (NULL, ?, ?, 'import', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                None if link is None else link["path"], name, name,
                None if link is None else link["size"], None if link is None else link["mtime_ns"],
                None if link is None else link["hash"],
                link["width"] if link else (size[0] if size else None),
                link["height"] if link else (size[1] if size else None),
                db.IMPORTED, time.time(),
            ),
        )  # fmt: skip
        image_id = int(cur.lastrowid)
    else:
        image_id = int(row[0])
        if link is not None:
            con.execute(
                "UPDATE images SET path = ?, size = ?, mtime_ns = ?, hash = ?, width = ?, height = ? WHERE id = ?",
                (link["path"], link["size"], link["mtime_ns"], link["hash"], link["width"], link["height"], image_id),
            )
            changed = True  # the cache's folder and path facts do not change, but results show the path
    existing = {
        int(r[2]): r for r in con.execute(f"SELECT {db.POSE_COLUMNS} FROM poses WHERE image_id = ?", (image_id,))
    }
    for idx, pose in enumerate(poses):
        old = existing.get(idx)
        if old is None:
            db.insert_pose(con, image_id, idx, pose, gen)
            report.added += 1
            changed = True
            continue
        old_pose = db.row_to_pose(old)
        if old_pose.is_hand_edited:
            report.kept_hand_edited += 1
        elif _same_pose(old_pose, pose):
            report.unchanged += 1
        else:
            db.update_pose(con, int(old[0]), pose, gen)
            report.updated += 1
            changed = True
    sources = {p.source for p in poses}
    for idx, old in existing.items():
        if idx < len(poses):
            continue
        old_pose = db.row_to_pose(old)
        if old_pose.is_hand_edited:
            report.kept_hand_edited += 1
        elif old_pose.source in sources:  # the file no longer has this pose: the re-import replaces them
            db.delete_poses(con, "id = ?", (int(old[0]),), gen)
            report.removed += 1
            changed = True
    return changed
