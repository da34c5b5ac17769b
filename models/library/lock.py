"""The writer lock of a library: an exclusive OS lock on `library.lock`, released by the OS if a process dies.

One process writes a library at a time (indexing, importing, editing poses); readers (search) take no lock.
"""

from __future__ import annotations

import os
from pathlib import Path

from posefinder.models.errors import LibraryError

LOCK_FILE = "library.lock"

LOCKED_MESSAGE = (
    "library is locked by another PoseFinder process (indexing, importing or the app); "
    "wait for it to finish or close it, then try again"
)


class WriterLock:
    """Holds the exclusive lock while alive; `release()` lets go."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "WriterLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            raise LibraryError(f"{self.path.parent}: {LOCKED_MESSAGE}") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
