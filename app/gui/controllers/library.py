"""The open library's lifecycle: opening (or creating) one read-only for searching, closing it, and where a
folder indexed without an open library gets its new library. The panel's index run of the old library is
cancelled and left to stop in the background, so switching never waits."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from posefinder.models import paths


class LibrarySession(QObject):
    opened = Signal(object)  # the new read-only Library
    closed = Signal()  # the previous one is closed (before `opened` of the next)

    def __init__(self, panel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.library = None  # read-only Library being searched

    def open(self, path: str | Path, create: bool = False):
        """Open this library read-only (create: make it first through the process's shared writer) and close
        the previous one; PoseFinderError (and the previous one stays open) when it cannot."""
        from posefinder.models.library import Library
        from posefinder.models.library.writers import shared_writer

        path = Path(path).expanduser().resolve()
        if create:
            with shared_writer(path, create=True):
                pass
        lib = Library.open(path, readonly=True)
        self.close()
        self.library = lib
        self.opened.emit(lib)
        return lib

    def close(self) -> None:
        if self.library is None:
            return
        self.panel.shutdown()  # returns at once: a run stops in the background
        self.panel.set_library(None)
        lib, self.library = self.library, None
        self.closed.emit()
        lib.close()

    @staticmethod
    def library_for_folder(folder: Path) -> Path:
        """Where a new library for an image folder goes: the user's data folder, named after it."""
        base = paths.user_data_dir(create=True) / "libraries"
        target = base / (Path(folder).name or "library")
        n = 2
        while target.exists() and not (target / "library.sqlite").exists():
            target = base / f"{Path(folder).name}-{n}"
            n += 1
        return target
