"""The main window: wires the pose canvas, the results grid, the library panel, menus, toolbar and status bar.

It owns no search, drawing or indexing logic of its own; it connects the parts:
- the canvas's poseChanged (debounced) and editFinished (at once) -> a Query -> Library.search on the
  search worker (only the latest query matters) -> the results grid;
- an image dropped or pasted on the canvas -> its pose estimated on a worker (the injected estimator, else
  the estimator chain) -> the canvas's skeleton snaps to it; without a model, a banner says why and how;
- a result's "use this pose" / "correct this pose" -> the canvas; "Save pose to library" -> Library.set_pose;
- the library panel's indexing -> counts and fresh searches.
The window searches a read-only Library, so searching goes on while the panel's worker indexes.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from posefinder.app.gui.canvas import PoseCanvas
from posefinder.app.gui.library_panel import LibraryPanel, library_title
from posefinder.app.gui.results import FilterBar, ResultsView, display_name
from posefinder.app.gui.settings import SearchOptions, Settings
from posefinder.app.gui.workers import LatestOnlyWorker, Task
from posefinder.models import paths
from posefinder.models.errors import ModelError, PoseFinderError

#: Milliseconds of quiet after the last poseChanged before a search runs (a drag searches as it goes).
SEARCH_DEBOUNCE_MS = 120
#: Default window size (fits a 1440 x 900 screen with room for a dock).
DEFAULT_SIZE = QSize(1440, 880)
#: The library panel's width when the window opens the first time.
PANEL_WIDTH = 270


@dataclass
class Correction:
    """A library pose being corrected on the canvas."""

    pose_id: int
    name: str
    original: object  # the Pose as stored


class Banner(QFrame):
    """A non-blocking message strip over the canvas: a text, optional buttons, a close button."""

    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("kind", "info")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 8, 8)
        self.label = QLabel()
        self.label.setObjectName("bannerText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self._buttons = QHBoxLayout()
        lay.addLayout(self._buttons)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        lay.addWidget(close)
        self.setVisible(False)

    def show_message(self, text: str, kind: str = "info", buttons: list[tuple[str, object]] = ()) -> None:
        """Show text ("info" or "warn") with optional (label, slot) buttons, replacing any other message."""
        while self._buttons.count():
            w = self._buttons.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for label, slot in buttons:
            b = QPushButton(label)
            b.clicked.connect(slot)
            self._buttons.addWidget(b)
        self.label.setText(text)
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setVisible(True)

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.setVisible(False)
        self.closed.emit()


class WelcomePage(QWidget):
    """What the results area shows when no library is open: open one, index a folder, or try the demo."""

    def __init__(self, demo_available: bool, parent=None):
        super().__init__(parent)
        self.setObjectName("welcomePage")
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        box = QVBoxLayout()
        box.setSpacing(12)
        title = QLabel("Find poses in your own drawings")
        title.setObjectName("welcomeTitle")
        text = QLabel(
            "Pose the skeleton on the left, or drop an illustration on it, and PoseFinder shows the "
            "images of your library whose characters stand, sit or fight the same way."
        )
        text.setObjectName("welcomeText")
        text.setWordWrap(True)
        text.setMaximumWidth(520)
        box.addWidget(title)
        box.addWidget(text)
        box.addSpacing(14)
        self.open_button = QPushButton("Open a library…")
        self.open_button.setToolTip("A folder with a PoseFinder library (library.sqlite)")
        self.index_button = QPushButton("Index a folder of images…")
        self.index_button.setToolTip("Make a library of a folder of illustrations: every character's pose is found")
        self.demo_button = QPushButton("Try the demo library")
        self.demo_button.setToolTip("2,000 synthetic figures with exact poses, drawn on this computer once")
        for b in (self.open_button, self.index_button, self.demo_button):
            b.setObjectName("welcomeButton")
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            box.addWidget(b, 0, Qt.AlignmentFlag.AlignLeft)
        self.demo_button.setVisible(demo_available)
        self.demo_progress = QProgressBar()
        self.demo_progress.setObjectName("demoProgress")
        self.demo_progress.setVisible(False)
        self.demo_progress.setMaximumWidth(320)
        box.addWidget(self.demo_progress)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addLayout(box)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(3)


class MainWindow(QMainWindow):
    """PoseFinder's main window. estimator: used for auto-pose and indexing instead of the chain (tests)."""

    searchFinished = Signal(int)  # number of results shown (after each completed search)
    autoPoseFinished = Signal(bool)  # a pose was found and set on the canvas

    def __init__(self, settings: Settings | None = None, estimator=None, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("PoseFinder")
        self.settings = settings if settings is not None else Settings()
        self.library = None  # read-only Library being searched
        self.last_query = None  # the Query of the latest search submitted
        self.last_search_seconds: float | None = None
        self.correction: Correction | None = None
        self._estimator = estimator
        self._loaded_estimator = None
        self._tasks: set[Task] = set()
        self._searches_done = 0
        self._pose_count = 0  # poses the open library searched at the last search
        self._canvas_seq = 0  # the latest request to set the canvas's pose (a drop, a result used or corrected)

        # parts
        self.canvas = PoseCanvas()
        self.banner = Banner()
        self.results = ResultsView(tile_px=self.settings.tile_size(168))
        self.filters = FilterBar()
        self.filters.set_tile_size(self.results.tile_px)
        self.library_panel = LibraryPanel(estimator=estimator)
        self.welcome = WelcomePage(demo_available=importlib.util.find_spec("posefinder.app.demo") is not None)
        self._search_worker = LatestOnlyWorker("search", self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)

        self._build_layout()
        self._build_actions()
        self._connect()
        self.filters.set_options(self.settings.search_options())
        self._restore_window()
        self._show_library_state()

    # -- layout ----------------------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(6, 6, 0, 6)
        left_lay.setSpacing(6)
        left_lay.addWidget(self.banner)
        left_lay.addWidget(self.canvas, 1)

        right = QWidget()
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.setSpacing(0)
        right_lay.addWidget(self.filters)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.welcome)
        self.results_stack.addWidget(self.results)
        right_lay.addWidget(self.results_stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("libraryDock")
        self.library_dock.setWidget(self.library_panel)
        self.library_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library_dock)
        self.resizeDocks([self.library_dock], [PANEL_WIDTH], Qt.Orientation.Horizontal)

        self.status_label = QLabel("")
        self.status_label.setObjectName("searchStatus")
        self.statusBar().addPermanentWidget(self.status_label)
        self.statusBar().addPermanentWidget(self.filters.tile_slider)

    def _build_actions(self) -> None:
        c = self.canvas
        self.actions_by_name: dict[str, QAction] = {}

        def action(name, text, slot, shortcut=None, tip=None, checkable=False):
            a = QAction(text, self)
            a.setObjectName(name)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if tip:
                a.setToolTip(tip)
                a.setStatusTip(tip)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.actions_by_name[name] = a
            return a

        a_open_lib = action("openLibrary", "&Open Library…", self._ask_open_library, "Ctrl+Shift+O")
        a_new_lib = action("newLibrary", "&New Library…", self._ask_new_library)
        a_index_folder = action("indexFolder", "&Index a Folder…", self._ask_index_folder)
        a_open_image = action(
            "openImage", "Open &Image…", self._ask_open_image, QKeySequence.StandardKey.Open,
            "Open an illustration as a guide under the skeleton and find its pose",
        )  # fmt: skip
        a_paste = action("pasteImage", "&Paste Image", self.paste_image, QKeySequence.StandardKey.Paste,
                         "Use the clipboard's image as the guide and find its pose")  # fmt: skip
        a_export = action("exportPose", "&Export Pose…", self._ask_export, "Ctrl+E",
                          "Save the pose as PoseFinder, OpenPose (ControlNet) or COCO JSON, or a PNG")  # fmt: skip
        a_save = action("savePose", "&Save Pose to Library", self.save_corrected_pose, QKeySequence.StandardKey.Save,
                        "Store the corrected pose in the library as hand-edited")  # fmt: skip
        a_save.setEnabled(False)
        a_quit = action("quit", "&Quit", self.close, QKeySequence.StandardKey.Quit)

        stack = c.undo_stack
        a_undo = action("undo", "&Undo", stack.undo, QKeySequence.StandardKey.Undo)
        a_redo = action("redo", "&Redo", stack.redo, QKeySequence.StandardKey.Redo)
        a_undo.setEnabled(stack.canUndo())
        a_redo.setEnabled(stack.canRedo())
        stack.canUndoChanged.connect(a_undo.setEnabled)
        stack.canRedoChanged.connect(a_redo.setEnabled)
        stack.undoTextChanged.connect(lambda text: a_undo.setToolTip(f"Undo {text}".strip()))
        stack.redoTextChanged.connect(lambda text: a_redo.setToolTip(f"Redo {text}".strip()))
        # the canvas's own keys (M, R, F) work while it has focus; the menus name them
        a_mirror = action("mirrorPose", "&Mirror Pose", c.mirror, None, "Flip the skeleton left to right (M)")
        a_reset = action("resetPose", "&Reset Pose", c.reset, None, "Back to a standing pose (R)")
        a_clear_guide = action("clearGuide", "Remove &Guide Image", self.clear_guide, None,
                               "Take the image from under the skeleton")  # fmt: skip
        a_zoom_in = action("zoomIn", "Zoom &In", c.zoom_in, QKeySequence.StandardKey.ZoomIn)
        a_zoom_out = action("zoomOut", "Zoom &Out", c.zoom_out, QKeySequence.StandardKey.ZoomOut)
        a_fit = action("fit", "&Fit", c.fit, "Ctrl+0", "Show the whole figure (F)")
        a_search = action("searchNow", "Search &Now", self.search_now, "F5")
        a_add_folder = action("addFolder", "&Add Folder…", self.library_panel._ask_add_folder)
        a_reindex = action("indexNow", "Index &Now", lambda: self.library_panel.start_index())
        a_cancel = action("cancelIndex", "&Cancel Indexing", self.library_panel.cancel_index)
        a_about = action("about", "&About PoseFinder", self._about)
        a_models = action("models", "Pose &Models…", self._show_models)
        a_import_models = action("importPaperModels", "&Import the Paper's Models…", lambda: self.paper_import.ask(),
                                 None, "Import the authors' released bizarre_pose_models.zip")  # fmt: skip

        self.presets_menu = None
        bar = self.menuBar()
        m_file = bar.addMenu("&File")
        for a in (a_open_lib, a_new_lib, a_index_folder):
            m_file.addAction(a)
        self.recent_menu = m_file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m_file.addSeparator()
        for a in (a_open_image, a_paste, a_export, a_save):
            m_file.addAction(a)
        m_file.addSeparator()
        m_file.addAction(a_quit)
        m_edit = bar.addMenu("&Pose")
        for a in (a_undo, a_redo):
            m_edit.addAction(a)
        m_edit.addSeparator()
        for a in (a_mirror, a_reset, a_clear_guide):
            m_edit.addAction(a)
        self.presets_menu = m_edit.addMenu("&Presets")
        for name in c.preset_names():
            p = QAction(name.replace("_", " ").capitalize(), self)
            p.triggered.connect(lambda _checked=False, n=name: c.apply_preset(n))
            self.presets_menu.addAction(p)
        m_view = bar.addMenu("&View")
        for a in (a_zoom_in, a_zoom_out, a_fit):
            m_view.addAction(a)
        m_view.addSeparator()
        m_view.addAction(self.library_dock.toggleViewAction())
        m_view.addAction(a_search)
        m_lib = bar.addMenu("&Library")
        for a in (a_add_folder, a_reindex, a_cancel):
            m_lib.addAction(a)
        m_help = bar.addMenu("&Help")
        m_help.addAction(a_models)
        m_help.addAction(a_import_models)
        m_help.addAction(a_about)

        tb = QToolBar("Pose")
        tb.setObjectName("poseToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addAction(a_open_image)
        tb.addSeparator()
        tb.addAction(a_undo)
        tb.addAction(a_redo)
        tb.addAction(a_mirror)
        tb.addAction(a_reset)
        presets_button = QToolButton()
        presets_button.setText("Presets")
        presets_button.setMenu(self.presets_menu)
        presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(presets_button)
        tb.addSeparator()
        tb.addAction(a_fit)
        tb.addAction(a_export)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _connect(self) -> None:
        c = self.canvas
        c.poseChanged.connect(self._debounce.start)
        c.editFinished.connect(self.search_now)
        c.imageDropped.connect(self.on_image_dropped)
        c.dropFailed.connect(lambda reason: self.banner.show_message(reason, "warn"))
        self._debounce.timeout.connect(self.search_now)
        self._search_worker.finished.connect(self._on_search_finished)
        self._search_worker.failed.connect(self._on_search_failed)
        self.filters.changed.connect(self._on_filters_changed)
        self.filters.tileSizeChanged.connect(self._on_tile_size)
        self.results.useAsQueryRequested.connect(self.use_as_query)
        self.results.correctRequested.connect(self.correct_pose)
        self.results.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        p = self.library_panel
        p.openRequested.connect(self._ask_open_library)
        p.newRequested.connect(self._ask_new_library)
        p.libraryUpdated.connect(self._on_library_updated)
        p.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        p.indexingChanged.connect(self._on_indexing_changed)
        self.welcome.open_button.clicked.connect(self._ask_open_library)
        self.welcome.index_button.clicked.connect(self._ask_index_folder)
        self.welcome.demo_button.clicked.connect(self.open_demo)

    # -- settings --------------------------------------------------------------------------------------------
    def _restore_window(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
            self.splitter.setSizes([560, 880])
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.splitter_state()
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def save_settings(self) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState(), self.splitter.saveState())
        self.settings.set_search_options(self.filters.options())
        self.settings.set_tile_size(self.results.tile_px)
        self.settings.set_last_library(None if self.library is None else Path(self.library.path))
        self.settings.sync()

    # -- library ---------------------------------------------------------------------------------------------
    def open_library(self, path: str | Path, create: bool = False) -> bool:
        """Search this library from now on (create: make it first). False, with a banner, when it cannot."""
        from posefinder.models.library import Library

        path = Path(path).expanduser().resolve()
        try:
            if create:
                Library.open(path, create=True).close()
            lib = Library.open(path, readonly=True)
        except PoseFinderError as exc:
            self.banner.show_message(str(exc), "warn")
            return False
        self._close_library()
        self.library = lib
        self.results.set_library(lib)
        self.library_panel.set_library(lib)
        self.filters.set_folders(lib.folders())
        self.settings.set_last_library(path)
        self.setWindowTitle(f"{library_title(path)} — PoseFinder")
        self._show_library_state()
        self.search_now()
        return True

    def _close_library(self) -> None:
        if self.library is None:
            return
        self.library_panel.shutdown()
        self.library_panel.set_library(None)
        self._search_worker.cancel_pending()
        self.results.set_library(None)
        self.library.close()
        self.library = None
        self.correction = None
        self.actions_by_name["savePose"].setEnabled(False)

    def _show_library_state(self) -> None:
        has = self.library is not None
        self.results_stack.setCurrentWidget(self.results if has else self.welcome)
        self.filters.setEnabled(has)
        self._update_counts_label()

    def _update_counts_label(self) -> None:
        if self.library is None:
            self.status_label.setText("No library open")
        elif self._searches_done == 0:
            self.status_label.setText(f"Opening {library_title(self.library.path)}…")

    def _on_library_updated(self) -> None:
        if self.library is None:
            return
        self.filters.set_folders(self.library.folders())
        self._update_counts_label()
        self.search_now()

    def _on_indexing_changed(self, running: bool) -> None:
        self.actions_by_name["indexNow"].setEnabled(not running)
        self.actions_by_name["cancelIndex"].setEnabled(running)

    def _ask_open_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a PoseFinder library (a folder with library.sqlite)")
        if folder:
            self.open_library(Path(folder))

    def _ask_new_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new library")
        if folder:
            self.open_library(Path(folder), create=True)

    def _ask_index_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Index a folder of images")
        if folder:
            self.index_folder(Path(folder))

    def index_folder(self, folder: Path) -> bool:
        """Add an image folder to the open library (or to a new one named after it) and index it."""
        if self.library is None:
            base = paths.user_data_dir(create=True) / "libraries"
            target = base / (Path(folder).name or "library")
            n = 2
            while target.exists() and not (target / "library.sqlite").exists():
                target = base / f"{Path(folder).name}-{n}"
                n += 1
            if not self.open_library(target, create=True):
                return False
        return self.library_panel.add_folder(Path(folder))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent_libraries():
            a = self.recent_menu.addAction(str(p))
            a.triggered.connect(lambda _checked=False, p=p: self.open_library(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def open_demo(self) -> None:
        """Build the demo library on a worker (once; it is kept) and open it."""
        from posefinder.app import demo

        self.welcome.demo_button.setEnabled(False)
        self.welcome.demo_progress.setVisible(True)
        self.welcome.demo_progress.setRange(0, 0)
        self.statusBar().showMessage("Building the demo library (once)…")

        def done(path):
            self.welcome.demo_progress.setVisible(False)
            self.welcome.demo_button.setEnabled(True)
            if isinstance(path, BaseException):
                self.banner.show_message(f"the demo library could not be built: {path}", "warn")
                return
            self.open_library(Path(path))

        def progress(done_n, total):
            self.welcome.demo_progress.setRange(0, max(total, 1))
            self.welcome.demo_progress.setValue(done_n)

        self._start_task(lambda t: demo.ensure_demo_library(progress=t.report), done, progress, name="demo")

    # -- search ----------------------------------------------------------------------------------------------
    def search_options(self) -> SearchOptions:
        return self.filters.options()

    def current_query(self):
        """The Query the canvas and the filters describe now."""
        from posefinder.models.descriptor import Query

        opts = self.filters.options()
        return Query(
            self.canvas.pose(), joints=self.canvas.joint_mask(), mirror=opts.mirror,
            orientation_weight=opts.orientation_weight,
        )  # fmt: skip

    def search_now(self) -> None:
        """Search the library for the canvas's pose now (on the search worker)."""
        self._debounce.stop()
        if self.library is None:
            return
        query = self.current_query()
        lib, k, folder = self.library, self.filters.options().k, self.filters.folder()
        self.last_query = query

        def search():
            results = lib.search(query, k=k, folder=folder)
            return results, len(lib.descriptor_index())  # the poses searched (the index is loaded: free)

        self._search_worker.submit(search)

    def search_idle(self) -> bool:
        """No search waiting or running (and none debounced)."""
        return self._search_worker.idle() and not self._debounce.isActive()

    def _on_search_finished(self, ticket: int, outcome, seconds: float) -> None:
        if not self._search_worker.is_current(ticket) or self.library is None:
            return  # a newer query is on its way
        results, self._pose_count = outcome
        self.last_search_seconds = seconds
        self._searches_done += 1
        self.results.set_results(results)
        if not results:
            if self._pose_count == 0:
                self.results.set_empty_text(
                    "This library has no poses yet.\nAdd a folder of images in the Library panel to index it."
                )
            else:
                self.results.set_empty_text("No pose shares enough joints with the query.\nSwitch more joints on.")
        n_on = int(np.sum(self.canvas.joint_mask()))
        self.status_label.setText(
            f"{len(results)} results · {seconds * 1000:.0f} ms · {n_on} joints on · "
            f"{library_title(self.library.path)}: {self._pose_count:,} poses"
        )
        self.searchFinished.emit(len(results))

    def _on_search_failed(self, ticket: int, error) -> None:
        if not self._search_worker.is_current(ticket):
            return
        self._searches_done += 1
        self.results.set_results([])
        text = str(error) if isinstance(error, PoseFinderError) else f"search failed: {error!r}"
        self.results.set_empty_text(text[:1].upper() + text[1:])
        self.status_label.setText(text)
        self.searchFinished.emit(0)

    def _on_filters_changed(self) -> None:
        self.settings.set_search_options(self.filters.options())
        self.search_now()

    def _on_tile_size(self, px: int) -> None:
        self.results.set_tile_size(px)
        self.settings.set_tile_size(px)

    # -- auto-pose -------------------------------------------------------------------------------------------
    def on_image_dropped(self, image, name: str) -> None:
        """An image dropped or pasted on the canvas (which shows it as the guide): estimate its pose."""
        self.end_correction()
        self.auto_pose(image, name)

    def auto_pose(self, image: np.ndarray, name: str = "the image") -> None:
        """Estimate the image's pose off the GUI thread; the skeleton snaps to the best one."""
        seq = self._new_canvas_request()
        self.canvas.set_busy(True, f"Finding the pose in {name}…")
        self.statusBar().showMessage(f"Finding the pose in {name}…")

        def estimate(_task):
            est = self._estimator or self._loaded_estimator
            if est is None:
                from posefinder.models.estimators import chain

                est = chain.select_estimator()
                self._loaded_estimator = est
            return est.name, est.estimate(image)

        self._start_task(estimate, lambda outcome: self._on_auto_pose(outcome, name, seq), name="auto-pose")

    def _on_auto_pose(self, outcome, name: str, seq: int) -> None:
        if seq != self._canvas_seq:
            return  # another image was dropped (or a result chosen) since: that pose is the one that counts
        self.canvas.set_busy(False)
        guide_note = "The image stays under the skeleton as a guide for posing by hand."
        if isinstance(outcome, ModelError):
            text = str(outcome)
            self.banner.show_message(f"{text[:1].upper()}{text[1:]}. {guide_note}", "warn")
            self.statusBar().showMessage("no pose model: pose the skeleton by hand over the image", 8000)
            self.autoPoseFinished.emit(False)
            return
        if isinstance(outcome, BaseException):
            text = str(outcome) if isinstance(outcome, PoseFinderError) else repr(outcome)
            self.banner.show_message(f"Auto-pose failed on {name}: {text}. {guide_note}", "warn")
            self.autoPoseFinished.emit(False)
            return
        model, poses = outcome
        if not poses:
            self.banner.show_message(f"No character found in {name}. {guide_note}", "info")
            self.autoPoseFinished.emit(False)
            return
        self.banner.dismiss()
        self.canvas.set_pose(poses[0])
        more = f" ({len(poses)} characters; the best one is posed)" if len(poses) > 1 else ""
        self.statusBar().showMessage(f"Pose of {name} found by {model}{more}: drag the joints to adjust", 8000)
        self.autoPoseFinished.emit(True)

    def _ask_open_image(self) -> None:
        from posefinder.models.imageio import open_dialog_filters

        file, _ = QFileDialog.getOpenFileName(self, "Open an illustration", "", open_dialog_filters())
        if file:
            self.open_image(Path(file))

    def open_image(self, path: Path) -> bool:
        """Load an image file as the guide and estimate its pose (as if it was dropped)."""
        from posefinder.models.imageio import load_image

        try:
            image = load_image(path)
        except PoseFinderError as exc:
            self.banner.show_message(str(exc), "warn")
            return False
        self.canvas.set_guide_image(image)
        self.on_image_dropped(image, Path(path).name)
        return True

    def paste_image(self) -> bool:
        """Use the clipboard's image (or image file) as the guide and estimate its pose."""
        return self.canvas.paste()

    def clear_guide(self) -> None:
        self.canvas.set_guide_image(None)

    # -- results -> canvas -----------------------------------------------------------------------------------
    def _new_canvas_request(self) -> int:
        """A new request that sets the canvas's pose (an image dropped, a result used or corrected): the
        answers of older ones still on their way (an estimate, an image loading) are dropped."""
        self._canvas_seq += 1
        if self.canvas.is_busy():  # an estimate it replaces
            self.canvas.set_busy(False)
        return self._canvas_seq

    def use_as_query(self, result) -> None:
        """Search with a result's pose: it becomes the canvas's skeleton."""
        self._new_canvas_request()
        self.end_correction()
        self.canvas.set_guide_image(None)
        self.canvas.set_pose(result.pose)
        self.statusBar().showMessage(f"searching with the pose of {display_name(result)}", 6000)

    def correct_pose(self, result) -> None:
        """Open a result's pose for correction: its image as the guide, its pose on the canvas."""
        name = display_name(result)
        path = result.path
        seq, library = self._new_canvas_request(), self.library
        self.end_correction()

        def load(_task):
            from posefinder.models.imageio import load_image

            return load_image(path) if path is not None and Path(path).is_file() else None

        def loaded(image):
            if seq != self._canvas_seq or library is not self.library:
                return  # another pose was asked for, or another library opened, while the image loaded
            if isinstance(image, BaseException):
                self.banner.show_message(f"{name}: {image}; correcting the pose without its image", "warn")
                image = None
            self.canvas.set_guide_image(image)
            self.canvas.set_pose(result.pose)
            self.correction = Correction(result.pose_id, name, result.pose)
            self.actions_by_name["savePose"].setEnabled(True)
            self.banner.show_message(
                f"Correcting the pose of {name}: drag the joints into place, switch off the ones that are not "
                "visible, then save it to the library.",
                "info",
                [("Save pose to library", self.save_corrected_pose), ("Stop", self.end_correction)],
            )

        self._start_task(load, loaded, name="load-image")

    def save_corrected_pose(self) -> bool:
        """Store the canvas's pose as the corrected (hand-edited) pose of the library entry being corrected."""
        if self.correction is None:
            return False
        corr = self.correction
        pose = self.canvas.pose().with_only(self.canvas.joint_mask())
        pose = pose.copy(image_size=corr.original.image_size, bbox_xywh=None, scores=None, score=None)
        try:
            with self.library_panel.writable_library() as lib:
                lib.set_pose(corr.pose_id, pose)
        except PoseFinderError as exc:
            self.banner.show_message(f"The pose was not saved: {exc}", "warn")
            return False
        self.end_correction()
        self.statusBar().showMessage(f"saved the corrected pose of {corr.name} (hand-edited: indexing keeps it)", 8000)
        self._on_library_updated()
        return True

    def end_correction(self) -> None:
        if self.correction is not None:
            self.correction = None
            self.actions_by_name["savePose"].setEnabled(False)
            self.banner.dismiss()

    # -- export ----------------------------------------------------------------------------------------------
    def _ask_export(self) -> None:
        from posefinder.app.gui.export import EXPORT_FORMATS, export_pose

        filters = {f"{label} (*{suffix})": (fmt, suffix) for fmt, (label, suffix) in EXPORT_FORMATS.items()}
        file, chosen = QFileDialog.getSaveFileName(self, "Export pose", "pose", ";;".join(filters))
        if not file:
            return
        fmt, suffix = filters.get(chosen, next(iter(filters.values())))
        path = Path(file)
        if not path.name.endswith(suffix):
            path = path.with_name(path.name + suffix)
        try:
            export_pose(self.canvas.pose(), self.canvas.joint_mask(), path, fmt)
        except (PoseFinderError, OSError) as exc:
            self.banner.show_message(f"The pose was not exported: {exc}", "warn")
            return
        self.statusBar().showMessage(f"exported {path}", 6000)

    # -- help ------------------------------------------------------------------------------------------------
    def _show_models(self) -> None:
        from posefinder.models.estimators import chain

        lines = []
        for a in chain.describe_chain():
            state = "available" if a.available else f"unavailable: {a.reason} {a.how_to_fix}".strip()
            lines.append(f"• {a.name}: {state}")
        if not any(a.available for a in chain.describe_chain()):
            lines.append("\n" + chain.NO_MODEL_MESSAGE)
        box = QMessageBox(QMessageBox.Icon.Information, "Pose models", "\n".join(lines) or chain.NO_MODEL_MESSAGE,
                          QMessageBox.StandardButton.Close, self)  # fmt: skip
        from_zip = box.addButton("Import the paper's models…", QMessageBox.ButtonRole.ActionRole)
        from_folder = box.addButton("…from a folder", QMessageBox.ButtonRole.ActionRole)
        box.exec()
        if box.clickedButton() in (from_zip, from_folder):
            self.paper_import.ask(folder=box.clickedButton() is from_folder)

    @property
    def paper_import(self):
        """Help > Import the paper's models (app/gui/model_import.py)."""
        if getattr(self, "_paper_import", None) is None:
            from posefinder.app.gui.model_import import PaperModelsImport

            self._paper_import = PaperModelsImport(self, self._start_task)
        return self._paper_import

    def _about(self) -> None:
        from posefinder import __version__

        QMessageBox.about(
            self, "About PoseFinder",
            f"PoseFinder {__version__}\nFind reference illustrations by pose.\n\n"
            "Implements Chen & Zwicker, “Transfer Learning for Pose Estimation of Illustrated Characters” "
            "(WACV 2022).",
        )  # fmt: skip

    # -- tasks and shutdown ----------------------------------------------------------------------------------
    def _start_task(self, fn, on_done, on_progress=None, name: str = "task") -> Task:
        task = Task(fn, name=name, parent=self)
        self._tasks.add(task)

        def finish(outcome):
            self._tasks.discard(task)
            on_done(outcome)

        task.finished.connect(finish)
        task.failed.connect(finish)
        if on_progress is not None:
            task.progress.connect(on_progress)
        return task.start()

    def searches_done(self) -> int:
        """Searches whose results were shown since the window opened."""
        return self._searches_done

    def busy(self) -> bool:
        """Work still running that changes what the window shows (searches, auto-pose, thumbnails)."""
        return bool(self._tasks) or not self.search_idle() or not self.results.thumbnails_idle()

    def closeEvent(self, event) -> None:
        self.save_settings()
        if self.library_panel.indexing():
            self.statusBar().showMessage("Stopping indexing after the current batch…")
            QGuiApplication.processEvents()
        self.library_panel.shutdown(timeout=5.0)
        self._search_worker.stop()
        self.results.shutdown()
        for task in list(self._tasks):
            task.cancel()
        if self.library is not None:
            self.library.close()
            self.library = None
        super().closeEvent(event)
