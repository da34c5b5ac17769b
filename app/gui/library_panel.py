"""The library panel: which library is open, its folders, indexing with progress and cancel, and its counts.

Indexing runs on a worker thread through the process's one writable Library of the library
(models/library/writers: Library.index with progress and a cancel Event looked at between images); the
window keeps searching its read-only one meanwhile. The indexer commits in batches, so cancelling, closing
the app or a crash mid-run loses at most the current batch, and the next run finishes the job. Writes the
window needs while an index runs (saving a corrected pose) go through the same shared writer
(`writable_library()`). Opening another library or closing never waits for a run: it is cancelled and left
to stop in the background (`stopping()`), its outcome ignored.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from posefinder.app.gui.workers import Task
from posefinder.models.errors import PoseFinderError

#: Images per committed batch when the app indexes (smaller than the CLI's: cancel answers sooner).
GUI_BATCH_SIZE = 16
#: Seconds between count refreshes (and re-searches) while an index runs.
LIVE_REFRESH_S = 2.0


def library_title(path: Path) -> str:
    """What the app calls a library: its folder's name ("demo library" for .../demo/library)."""
    path = Path(path)
    if path.name.lower() in ("library", "lib") and path.parent.name:
        return f"{path.parent.name} library"
    return path.name or str(path)


class FolderList(QListWidget):
    """The library's image folders; says what to do when there is none."""

    EMPTY_TEXT = "No image folders.\nAdd one to index its images."

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.count() == 0:
            from PySide6.QtGui import QPainter

            p = QPainter(self.viewport())
            p.setPen(self.palette().color(self.palette().ColorRole.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(8, 8, -8, -8),
                       int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.EMPTY_TEXT)  # fmt: skip
            p.end()


class LibraryPanel(QWidget):
    """The library panel (objectName "libraryPanel"). The window gives it the open (read-only) Library."""

    openRequested = Signal()  # "Open…" clicked: the window asks for a folder
    newRequested = Signal()  # "New…" clicked
    libraryUpdated = Signal()  # the library's poses changed (index batches, folder removed): search again
    indexingChanged = Signal(bool)
    indexFinished = Signal(object)  # IndexReport, or the exception that stopped the run
    message = Signal(str)

    def __init__(self, parent=None, estimator=None):
        super().__init__(parent)
        self.setObjectName("libraryPanel")
        self.setAccessibleName("Library")
        self.estimator = estimator
        self._lib = None
        self._task: Task | None = None
        self._stopping: set[Task] = set()  # runs cancelled by shutdown() that have not ended yet
        self._last_refresh = 0.0
        self.last_report = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)

        self.title = QLabel("No library")
        self.title.setObjectName("panelTitle")
        self.path_label = QLabel("Open a library or create one to search your images.")
        self.path_label.setObjectName("muted")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.title)
        lay.addWidget(self.path_label)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a library folder")
        self.new_button = QPushButton("New…")
        self.new_button.setToolTip("Create a new library in an empty folder")
        row.addWidget(self.open_button)
        row.addWidget(self.new_button)
        row.addStretch(1)
        lay.addLayout(row)

        folders_label = QLabel("Image folders")
        folders_label.setObjectName("panelTitle")
        lay.addSpacing(6)
        lay.addWidget(folders_label)
        self.folder_list = FolderList()
        self.folder_list.setObjectName("folderList")
        self.folder_list.setMinimumHeight(60)
        self.folder_list.setMaximumHeight(180)
        lay.addWidget(self.folder_list)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add folder…")
        from posefinder.models.imageio import supported_types_text

        self.add_button.setToolTip(f"Add a folder of images; it is indexed right away. {supported_types_text()}")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected folder and its poses from the library (files stay)")
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        lay.addLayout(row)

        row = QHBoxLayout()
        self.index_button = QPushButton("Index now")
        self.index_button.setToolTip("Look for new, changed, moved and deleted images in the folders")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; the next run continues from there")
        row.addWidget(self.index_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setObjectName("indexProgress")
        self.progress.setAccessibleName("Indexing progress")
        self.progress.setFormat("%v / %m images")
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        counts_title = QLabel("In this library")
        counts_title.setObjectName("panelTitle")
        lay.addSpacing(6)
        lay.addWidget(counts_title)
        form = QFormLayout()
        form.setHorizontalSpacing(16)
        self.count_labels: dict[str, QLabel] = {}
        for key, text, tip in (
            ("images", "Images", "images recorded (unreadable ones excluded)"),
            ("poses", "Poses", "characters' poses you can search"),
            ("images_without_character", "Without a character", "images in which the model found no character"),
            ("images_not_estimated", "Waiting for a model", "images recorded while no pose model was available"),
            ("images_bad", "Unreadable", "files that could not be read; skipped until they change"),
        ):
            value = QLabel("–")
            value.setObjectName(f"count_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight)
            label = QLabel(text)
            label.setToolTip(tip)
            form.addRow(label, value)
            self.count_labels[key] = value
        lay.addLayout(form)
        lay.addStretch(1)

        self.open_button.clicked.connect(self.openRequested.emit)
        self.new_button.clicked.connect(self.newRequested.emit)
        self.add_button.clicked.connect(self._ask_add_folder)
        self.remove_button.clicked.connect(self._ask_remove_folder)
        self.index_button.clicked.connect(lambda: self.start_index())
        self.cancel_button.clicked.connect(self.cancel_index)
        self.folder_list.currentRowChanged.connect(lambda _r: self._update_buttons())
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.timeout.connect(self.refresh)
        self._update_buttons()

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def library(self):
        return self._lib

    def set_library(self, lib) -> None:
        """Show this (read-only) library; None shows none. Cancels an index of the previous one."""
        if self.indexing():
            self.shutdown()
        self._lib = lib
        if lib is None:
            self.title.setText("No library")
            self.path_label.setText("Open a library or create one to search your images.")
        else:
            self.title.setText(library_title(lib.path))
            self.path_label.setText(str(lib.path))
            self.path_label.setToolTip(str(lib.path))
        self.status.setText("")
        self.progress.setVisible(False)
        self.refresh()

    def indexing(self) -> bool:
        """An index run was started and its end has not been handled yet (it may be finishing its batch)."""
        return self._task is not None

    def refresh(self) -> None:
        """Re-read the folders and counts."""
        self.folder_list.clear()
        if self._lib is None:
            for label in self.count_labels.values():
                label.setText("–")
            self._update_buttons()
            return
        try:
            counts = self._lib.counts()
            folders = self._lib.folders()
        except PoseFinderError as exc:
            self.status.setText(str(exc))
            return
        for f in folders:
            item = QListWidgetItem(f.name or str(f))
            item.setToolTip(str(f) if f.is_dir() else f"{f} (not found: unplugged or moved?)")
            item.setData(Qt.ItemDataRole.UserRole, str(f))
            if not f.is_dir():
                item.setForeground(Qt.GlobalColor.gray)
            self.folder_list.addItem(item)
        for key, label in self.count_labels.items():
            label.setText(f"{getattr(counts, key):,}")
        self._update_buttons()

    def counts(self):
        return None if self._lib is None else self._lib.counts()

    def _update_buttons(self) -> None:
        has = self._lib is not None
        busy = self.indexing()
        self.add_button.setEnabled(has and not busy)
        self.remove_button.setEnabled(has and not busy and self.folder_list.currentRow() >= 0)
        self.index_button.setEnabled(has and not busy and self.folder_list.count() > 0)
        self.cancel_button.setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.index_button.setVisible(not busy)

    # -- writing -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writable_library(self):
        """The process's writable Library of the open library (shared with a running index) for a write."""
        from posefinder.models.errors import LibraryError
        from posefinder.models.library.writers import shared_writer

        if self._lib is None:
            raise LibraryError("no library is open")
        with shared_writer(self._lib.path) as lib:
            yield lib

    def add_folder(self, folder: Path, index: bool = True) -> bool:
        """Add an image folder to the library (and index it); False with a message when it cannot."""
        try:
            with self.writable_library() as lib:
                added = lib.add_folder(folder)
        except PoseFinderError as exc:
            self._say(str(exc))
            return False
        self.refresh()
        self._say(f"added {added}")
        if index:
            self.start_index()
        return True

    def remove_folder(self, folder: Path) -> bool:
        """Remove a folder and its poses from the library (the files stay)."""
        if self.indexing():
            self._say("wait for indexing to finish (or cancel it) before removing a folder")
            return False
        try:
            with self.writable_library() as lib:
                n = lib.remove_folder(folder)
        except PoseFinderError as exc:
            self._say(str(exc))
            return False
        self.refresh()
        self._say(f"removed {folder} ({n:,} images)")
        self.libraryUpdated.emit()
        return True

    def _ask_add_folder(self) -> None:
        from posefinder.models.imageio import supported_types_text

        folder = QFileDialog.getExistingDirectory(self, f"Add a folder of images ({supported_types_text()})")
        if folder:
            self.add_folder(Path(folder))

    def _ask_remove_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is None:
            return
        folder = Path(item.data(Qt.ItemDataRole.UserRole))
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Remove {folder} and its poses from the library?\nThe image files are not touched.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(folder)

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit(text)

    # -- indexing ------------------------------------------------------------------------------------------
    def start_index(self, batch_size: int = GUI_BATCH_SIZE) -> bool:
        """Index the library's folders on a worker thread; False when one runs already or none is open."""
        if self._lib is None or self.indexing():
            return False
        path = self._lib.path
        estimator = self.estimator

        def run(task: Task):
            from posefinder.models.library.indexer import default_runner
            from posefinder.models.library.writers import shared_writer

            runner = default_runner(estimator) if estimator is not None else None
            with shared_writer(path) as lib:
                return lib.index(runner=runner, progress=task.report, cancel=task.cancel_event, batch_size=batch_size)

        task = self._task = Task(run, name="index")
        task.finished.connect(self._forget_stopped)
        task.failed.connect(self._forget_stopped)
        task.progress.connect(self._current_only(task, self._on_progress))
        task.finished.connect(self._current_only(task, self._on_finished))
        task.failed.connect(self._current_only(task, self._on_finished))
        self.progress.setRange(0, 0)  # scanning: busy until the first progress report
        self.progress.setVisible(True)
        self.status.setText("Looking for new and changed images…")
        self._task.start()
        self._update_buttons()
        self.indexingChanged.emit(True)
        return True

    def cancel_index(self) -> None:
        if self.indexing() and self._task is not None:
            self._task.cancel()
            self.status.setText("Cancelling after the current batch…")
            self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        """Cancel a running index and return at once: the run stops in the background after the image it
        is estimating (`stopping()` until then), its committed batches kept, its report dropped
        (indexFinished is not emitted; indexingChanged(False) is). A run still going when the process ends
        dies with it, which the batched commits make safe."""
        task = self._task
        if task is None:
            return
        task.cancel()
        if task.running():
            self._stopping.add(task)
        self._task = None
        self.progress.setVisible(False)
        self._update_buttons()
        self.indexingChanged.emit(False)

    def _forget_stopped(self, _outcome) -> None:
        task = self.sender()
        if task in self._stopping:
            self._stopping.discard(task)
            task.deleteLater()

    def stopping(self) -> bool:
        """A cancelled run has not ended yet (it still holds the library's writer)."""
        return any(t.running() for t in self._stopping)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait (off the GUI's hot paths: tests, scripts) until cancelled runs have ended; True if they did."""
        return all(t.wait(timeout) for t in list(self._stopping))

    def _current_only(self, task: Task, slot):
        """slot, called only while task is the panel's run: a run stopped by shutdown() (another library
        was opened meanwhile) may still report, and must not end or show as the next run."""

        def call(*args):
            if task is self._task:
                slot(*args)

        return call

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if total == 0:
            self.status.setText("Nothing new to index.")
        elif not (self._task and self._task.cancel_event.is_set()):
            self.status.setText(f"Indexing: {done:,} of {total:,} new or changed images")
        now = time.monotonic()
        if done and now - self._last_refresh > LIVE_REFRESH_S:
            self._last_refresh = now
            self.refresh()
            self.libraryUpdated.emit()

    def _on_finished(self, outcome) -> None:
        if self._task is not None:
            self._task.deleteLater()
        self._task = None
        self.progress.setVisible(False)
        self.last_report = outcome
        if isinstance(outcome, BaseException):
            text = str(outcome) if isinstance(outcome, PoseFinderError) else f"indexing failed: {outcome!r}"
        else:
            text = ("Cancelled: " if outcome.cancelled else "Done: ") + outcome.summary()
            if outcome.model_message:
                text += f". {outcome.model_message}"
            if outcome.unavailable_line():
                text += f". {outcome.unavailable_line()}"
            if outcome.cancelled:
                text += ". Index again to continue."
        self.status.setText(text)
        self.refresh()
        self._update_buttons()
        self.indexingChanged.emit(False)
        self.indexFinished.emit(outcome)
        self.libraryUpdated.emit()
        self.message.emit(text)
