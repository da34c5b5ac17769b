"""One writer per library per process: the writable Library that indexing, imports and corrections share.

`Library.open(path)` takes the library's OS writer lock, so a second writer in the same process (a
correction saved while the app indexes) would be refused as "locked by another PoseFinder process".
`shared_writer(path)` hands every user in the process the same writable Library instead: it is opened by
the first user, counted, and closed (its lock released) when the last one leaves. Library methods may be
called from any thread (each thread has its own SQLite connection; SQLite serialises the transactions),
so an index run on a worker thread and a save on the GUI thread write through it side by side.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

_lock = threading.Lock()
_open: dict[Path, list] = {}  # resolved library folder -> [Library, users]


def _key(path) -> Path:
    return Path(path).expanduser().resolve()


def acquire(path, create: bool = False):
    """The process's writable Library of path (opened on first use); pair with release()."""
    from posefinder.models.library.library import Library

    key = _key(path)
    with _lock:
        entry = _open.get(key)
        if entry is None:
            entry = _open[key] = [Library.open(key, create=create), 0]
        entry[1] += 1
        return entry[0]


def release(lib) -> None:
    """One user of a shared writer is done with it; the last one closes it."""
    key = _key(lib.path)
    with _lock:
        entry = _open.get(key)
        if entry is None or entry[0] is not lib:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _open[key]
            lib.close()


def users(path) -> int:
    """How many users hold the shared writer of path now (0: none is open)."""
    with _lock:
        entry = _open.get(_key(path))
        return 0 if entry is None else entry[1]


@contextlib.contextmanager
def shared_writer(path, create: bool = False) -> Iterator:
    """with shared_writer(path) as lib: the process's one writable Library of path."""
    lib = acquire(path, create=create)
    try:
        yield lib
    finally:
        release(lib)
