"""Pose file formats: PoseFinder JSON, COCO keypoints, OpenPose (ControlNet) JSON and ADD annotations.

`read_poses(path)` detects the format and returns PoseRecords; `write_poses(records, path, fmt)` writes one.
"""

from __future__ import annotations

import json
from pathlib import Path

from posefinder.models.atomic import write_text
from posefinder.models.errors import PoseFileError
from posefinder.models.formats import add, coco, openpose, posefinder_json
from posefinder.models.formats.record import PoseRecord

#: format name -> module with `detect(obj) -> bool`, `parse(obj) -> list[PoseRecord]`, `dump(records) -> obj`.
FORMATS = {
    "posefinder": posefinder_json,
    "coco": coco,
    "openpose": openpose,
    "add": add,
}

#: Largest pose file read (bytes): a pose file is small; anything larger is not one.
MAX_POSE_FILE_BYTES = 512 * 1024 * 1024

__all__ = ["FORMATS", "PoseRecord", "detect_format", "parse_poses", "read_poses", "write_poses", "dumps"]


def detect_format(obj) -> str:
    """The name of the format a decoded JSON document is in; PoseFileError when none fits."""
    for name, mod in FORMATS.items():
        if mod.detect(obj):
            return name
    raise PoseFileError(
        "not a pose file PoseFinder knows (expected PoseFinder, COCO keypoint, OpenPose or ADD JSON)"
    )


def parse_poses(obj, fmt: str | None = None) -> list[PoseRecord]:
    """PoseRecords from a decoded JSON document, in the given format or the detected one."""
    fmt = fmt or detect_format(obj)
    if fmt not in FORMATS:
        raise PoseFileError(f"unknown pose format {fmt!r}; use one of: {', '.join(FORMATS)}")
    try:
        return FORMATS[fmt].parse(obj)
    except PoseFileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise PoseFileError(f"malformed {fmt} pose data ({exc.__class__.__name__}: {exc})") from exc


def read_poses(path: str | Path, fmt: str | None = None) -> list[PoseRecord]:
    """Read every pose in a pose file of any known format."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise PoseFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PoseFileError(f"{path}: cannot read ({exc.strerror})") from None
    if size > MAX_POSE_FILE_BYTES:
        raise PoseFileError(f"{path}: {size} bytes is too large for a pose file")
    try:
        text = path.read_text(encoding="utf-8")
        obj = json.loads(text)
    except UnicodeDecodeError:
        raise PoseFileError(f"{path}: not a JSON pose file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise PoseFileError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise PoseFileError(f"{path}: not a pose file (its JSON is nested too deeply)") from None
    except OSError as exc:
        raise PoseFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        records = parse_poses(obj, fmt)
    except PoseFileError as exc:
        raise PoseFileError(f"{path}: {exc}") from None
    return records


def dumps(records: list[PoseRecord], fmt: str = "posefinder") -> str:
    """The JSON text of records in a format."""
    if fmt not in FORMATS:
        raise PoseFileError(f"unknown pose format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return json.dumps(FORMATS[fmt].dump(list(records)), indent=1)


def write_poses(records, path: str | Path, fmt: str = "posefinder") -> None:
    """Write records (PoseRecords or Poses) to path in a format, atomically."""
    recs = [r if isinstance(r, PoseRecord) else PoseRecord(r) for r in records]
    text = dumps(recs, fmt)
    write_text(path, text)
