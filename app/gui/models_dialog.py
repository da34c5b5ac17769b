"""Help > Pose Models…: what auto-pose uses and why, the installed models (choose the one in use, e.g. go
back to the version a fine-tuned model came from), importing the paper's models, and "Improve auto-pose from
my corrections (N)": fine-tuning on the library's hand-corrected poses (posefinder.build.finetune) off the
GUI thread, with progress, cancel and the before/after figures on the held-out corrections.

Fine-tuning needs torch and Lightning (the [train] extra); they are imported only when it starts, so the
dialog opens on a torch-free install and says what is missing.
"""

from __future__ import annotations

import importlib.util

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from posefinder.models.errors import PoseFinderError

TITLE = "Pose models"
STEPS = 1000
IMPROVE_TEXT = "Improve auto-pose from my corrections ({n})"


def training_missing() -> str | None:
    """Why fine-tuning cannot run on this install (None: it can)."""
    from posefinder.models.estimators.base import torch_installed

    if not torch_installed():
        return "fine-tuning needs torch (install PoseFinder with the [train] extra)"
    if importlib.util.find_spec("lightning") is None:
        return "fine-tuning needs PyTorch Lightning (install PoseFinder with the [train] extra)"
    return None


class PoseModelsDialog(QDialog):
    """The pose models dialog. library: the open Library (or None); start_task(fn, on_done, on_progress,
    name=...) runs a job off the GUI thread (the window's TaskBook). `modelChanged` tells the window that the
    model in use changed (auto-pose reloads it). `last_result` keeps the last fine-tuning's outcome (tests)."""

    modelChanged = Signal()
    importRequested = Signal(bool)  # folder?

    def __init__(self, parent, library, start_task, min_corrections: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.library = library
        self.start_task = start_task
        from posefinder.models.library.corrections import with_images

        self.corrections = len(with_images(library.corrections())[0]) if library is not None else 0
        self.min_corrections = min_corrections if min_corrections is not None else _min_corrections()
        self.task = None
        self.last_result = None
        self.options_overrides: dict = {}  # FinetuneOptions fields set by tests (steps, batch size)

        self.chain_label = QLabel()
        self.chain_label.setWordWrap(True)
        self.chain_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.models = QListWidget()
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_selected)
        self.models.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.improve_button = QPushButton(IMPROVE_TEXT.format(n=self.corrections))
        self.improve_button.clicked.connect(self.improve)
        self.improve_note = QLabel()  # why the entry is off (torch missing, too few corrections, ...)
        self.improve_note.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel fine-tuning")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, STEPS)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        import_zip = QPushButton("Import the paper's models…")
        import_folder = QPushButton("…from a folder")
        import_zip.clicked.connect(lambda: self._import(False))
        import_folder.clicked.connect(lambda: self._import(True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.chain_label)
        layout.addWidget(QLabel("Installed models:"))
        layout.addWidget(self.models)
        row = QHBoxLayout()
        row.addWidget(self.use_button)
        row.addStretch(1)
        row.addWidget(import_zip)
        row.addWidget(import_folder)
        layout.addLayout(row)
        layout.addWidget(self.improve_button)
        layout.addWidget(self.improve_note)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.cancel_button)
        layout.addWidget(buttons)
        self.resize(640, 460)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the chain and the store."""
        from posefinder.models.estimators import chain
        from posefinder.models.weights import ModelStore

        described = chain.describe_chain()
        chosen = next((a for a in described if a.available), None)
        lines = [f"• {a.name}: " + ("available" if a.available else f"unavailable: {a.reason}") for a in described]
        head = f"Auto-pose uses {chosen.name}: {chosen.reason}" if chosen else chain.NO_MODEL_MESSAGE
        self.chain_label.setText(head + "\n" + "\n".join(lines))
        store = ModelStore()
        in_use = _model_in_use(store)
        self.models.clear()
        for m in store.list():
            if m.card is None:
                text = f"{m.name}  (broken: {m.error})"
            else:
                text = f"{m.name}  {m.architecture}"
                lineage = m.card.extra.get("lineage") or {}
                if lineage:
                    before = lineage.get("held_out_metrics", {}).get("before", {}).get("oks50")
                    after = lineage.get("held_out_metrics", {}).get("after", {}).get("oks50")
                    text += (f"  fine-tuned from {lineage.get('base', {}).get('name')} on {lineage.get('train')} "
                             f"corrections (held-out OKS@50 {before:.3f} → {after:.3f})")  # fmt: skip
                if in_use is not None and m.name == in_use:
                    text += "  [in use]"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, m.name if m.card is not None else None)
            self.models.addItem(item)
            if in_use is not None and m.name == in_use:
                self.models.setCurrentItem(item)
        self._update_buttons()

    def in_use(self) -> str | None:
        from posefinder.models.weights import ModelStore

        return _model_in_use(ModelStore())

    def _update_buttons(self) -> None:
        item = self.models.currentItem()
        name = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        running = self.task is not None
        self.use_button.setEnabled(bool(name) and name != self.in_use() and not running)
        why = self.improve_unavailable()
        self.improve_button.setEnabled(why is None and not running)
        self.improve_note.setText("" if why is None else f"Improving auto-pose is off: {why}.")
        self.improve_note.setVisible(why is not None)
        self.improve_button.setToolTip(why or "Fine-tune the model in use on the poses you corrected in this library; "
                                       "it is installed only when it is better on corrections held out to judge it")

    def improve_unavailable(self) -> str | None:
        """Why "Improve auto-pose" cannot run now (None: it can)."""
        if self.library is None:
            return "open a library first: fine-tuning learns from the poses you corrected in it"
        missing = training_missing()
        if missing:
            return missing
        if self.corrections < self.min_corrections:
            return (f"{self.corrections} corrected poses in this library; fine-tuning needs at least "
                    f"{self.min_corrections} (a result's menu: Correct this pose…)")  # fmt: skip
        if self.in_use() is None:
            return "no installed pose model to fine-tune: import the paper's models or install one"
        return None

    # -- actions -------------------------------------------------------------------------------------------
    def use_selected(self) -> None:
        from posefinder.models.weights import ModelStore

        item = self.models.currentItem()
        name = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not name:
            return
        try:
            ModelStore().use(name)
        except PoseFinderError as exc:
            self.status.setText(f"Could not switch: {exc}")
            return
        self.status.setText(f"Auto-pose now uses {name}.")
        self.refresh()
        self.modelChanged.emit()

    def _import(self, folder: bool) -> None:
        self.importRequested.emit(folder)
        self.refresh()

    def improve(self):
        """Start fine-tuning on the library's corrections (a window task); returns the task."""
        why = self.improve_unavailable()
        if why is not None or self.task is not None:
            self.status.setText(why or "fine-tuning is already running")
            return None
        messages: list[str] = []
        overrides = dict(self.options_overrides)
        library_path = self.library.path

        def job(task):
            from posefinder.build.finetune import FinetuneOptions, finetune

            def report(fraction: float, message: str) -> None:
                messages.append(message)
                task.report(round(fraction * STEPS), STEPS)

            options = FinetuneOptions(library=library_path, **overrides)
            return finetune(options, progress=report, cancel=task.cancel_event.is_set)

        def on_progress(done: int, total: int) -> None:
            if messages:
                self.status.setText(messages[-1])
            self.progress.setValue(min(done, STEPS))

        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting fine-tuning…")
        self.task = self.start_task(job, self._done, on_progress, name="finetune")
        self._update_buttons()
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("Cancelling… (the installed models stay as they are)")

    def _done(self, outcome) -> None:
        self.task = None
        self.progress.hide()
        self.cancel_button.hide()
        self.last_result = outcome
        if isinstance(outcome, BaseException):
            text = str(outcome) if isinstance(outcome, PoseFinderError) else repr(outcome)
            self.status.setText(f"Nothing was installed: {text}")
        else:
            self.status.setText(outcome.summary())
            if outcome.installed:
                self.modelChanged.emit()
        if not self.isVisible() and self.result() == QDialog.DialogCode.Rejected and self.parent() is not None:
            self.deleteLater()  # closed while the run was stopping (the window's _show_models let it live)
            return
        self.refresh()

    def reject(self) -> None:
        if self.task is not None:  # closing the dialog stops the run (nothing is installed)
            self.cancel()
        super().reject()


def _model_in_use(store) -> str | None:
    """The installed paper model auto-pose uses (chain order and the in-use choice), or None."""
    from posefinder.models.estimators import chain

    for entry in chain.ordered():
        if entry.name in ("feature-matching", "feature-concatenation"):
            model = store.newest(entry.name)
            if model is not None:
                return model.name
    return None


def _min_corrections() -> int:
    # build/finetune.py's constant, without importing build's training code into the app's paths
    return 20
