"""Atomic file writes: a reader sees the old file or the new one, never half of one.

    with atomic_path(target) as tmp:       # any writer that takes a path (safetensors, Pillow, ONNX export)
        save_file(state, str(tmp))
    with atomic_open(target, "wb") as f:   # a file object
        np.save(f, array)
    write_text(target, text); write_bytes(target, data)

The data goes to a temporary file beside the target (same folder, so the rename stays on one filesystem),
named ".tmp-<unique>-<target name>" (the target's suffix is kept for writers that pick a format from it; the
".tmp-" prefix marks leftovers of an interrupted write, which folder scans skip). When the block ends without
an error the file is flushed to disk and renamed over the target (os.replace: atomic on POSIX and Windows);
on an error the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_PREFIX = ".tmp-"


def temporary_name(target: str | Path) -> Path:
    """A fresh temporary path beside target (unique per call, so concurrent writers never share one)."""
    target = Path(target)
    return target.with_name(f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{target.name}")


def is_temporary(path: str | Path) -> bool:
    """Whether path names an unfinished write of this module (or of the writers it replaced)."""
    return Path(path).name.startswith(TMP_PREFIX)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write; it replaces target when the block ends without an error.

    durable: flush the file to disk before the rename, so a power cut leaves the old or the new file, not an
    empty one (False for caches that are rebuilt when lost).
    """
    target = Path(target)
    tmp = temporary_name(target)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "wb", *, encoding: str | None = None,
                durable: bool = True) -> Iterator[IO[Any]]:  # fmt: skip
    """An open file (mode "wb" or "w") whose content replaces target when the block ends without an error."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(target, durable=durable) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
        f.flush()


def move_into_place(finished: str | Path, target: str | Path, *, durable: bool = True) -> Path:
    """Move a finished file (written under temporary_name(...) beside target) onto target in one rename."""
    finished = Path(finished)
    if durable:
        _fsync(finished)
    os.replace(finished, target)
    return Path(target)


def write_bytes(target: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Write data to target atomically; target."""
    with atomic_open(target, "wb", durable=durable) as f:
        f.write(data)
    return Path(target)


def write_text(target: str | Path, text: str, *, encoding: str = "utf-8", durable: bool = True) -> Path:
    """Write text to target atomically; target."""
    with atomic_open(target, "w", encoding=encoding, durable=durable) as f:
        f.write(text)
    return Path(target)
