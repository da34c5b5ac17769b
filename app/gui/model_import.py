"""Help > "Import the paper's models…": the authors' released zip (or the folder it unpacks to) imported
off the GUI thread (models/checkpoints), with a progress dialog and the result in a message box."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from posefinder.models.errors import PoseFinderError

TITLE = "Import the paper's models"
STEPS = 1000


def result_text(report) -> str:
    """What an ImportReport says, one line per model or file."""
    lines = [f"Installed {name}: {what}" for name, what in report.installed]
    lines += [f"{name} is already installed from the same files; nothing changed" for name, _ in report.already]
    lines += [f"Skipped {Path(file).name}: {why}" for file, why in report.skipped]
    return "\n".join(lines) or "Nothing was imported."


class PaperModelsImport(QObject):
    """Asks for the zip or folder, runs the import as a window task (start_task(fn, on_done, on_progress)),
    shows progress and then the result. `last_text` keeps what the result box said (tests read it)."""

    def __init__(self, parent: QWidget, start_task, show_result: bool = True) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.start_task = start_task
        self.show_result = show_result
        self.task = None
        self.progress: QProgressDialog | None = None
        self.last_text = ""
        self.succeeded = False

    def ask(self, folder: bool = False) -> None:
        if folder:
            chosen = QFileDialog.getExistingDirectory(self.parent_widget, f"{TITLE}: the unpacked folder")
        else:
            chosen, _ = QFileDialog.getOpenFileName(self.parent_widget, f"{TITLE}: bizarre_pose_models.zip", "",
                                                    "The authors' models (*.zip *.ckpt)")  # fmt: skip
        if chosen:
            self.start([Path(chosen)])

    def start(self, paths: list[Path]):
        from posefinder.models.checkpoints.importer import import_release
        from posefinder.models.weights import ModelStore

        self.progress = QProgressDialog("Reading the checkpoints…", "", 0, STEPS, self.parent_widget)
        self.progress.setWindowTitle(TITLE)
        self.progress.setCancelButton(None)  # each model installs whole or not at all; no half-way stop
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(0)
        messages: list[str] = []

        def job(task):
            def report(fraction: float, message: str) -> None:
                messages.append(message)
                task.report(round(fraction * STEPS), STEPS)

            return import_release(paths, ModelStore(), progress=report)

        def on_progress(done: int, total: int) -> None:
            dialog = self.progress
            if dialog is None:
                return
            if messages:
                dialog.setLabelText(messages[-1])
            # A modal dialog's setValue runs the event loop, where _done may close the dialog: set it last.
            dialog.setValue(min(done, STEPS - 1))

        self.task = self.start_task(job, self._done, on_progress, name="import-paper-models")
        return self.task

    def _done(self, outcome) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
        if isinstance(outcome, BaseException):
            self.succeeded = False
            self.last_text = str(outcome) if isinstance(outcome, PoseFinderError) else repr(outcome)
            if self.show_result:
                QMessageBox.warning(self.parent_widget, TITLE, f"Nothing was installed: {self.last_text}")
            return
        self.succeeded = bool(outcome.installed or outcome.already)
        self.last_text = result_text(outcome)
        if self.show_result:
            if self.succeeded:
                QMessageBox.information(self.parent_widget, TITLE, self.last_text)
            else:
                QMessageBox.warning(self.parent_widget, TITLE, f"Nothing was installed:\n{self.last_text}")
