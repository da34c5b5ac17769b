"""The main window: layout plus wiring of the pose canvas, the results grid, the library panel, menus,
toolbar and status bar. The flows between them live in controllers (app/gui/controllers):
- search: the canvas's poseChanged (debounced) and editFinished (at once) -> a Query -> Library.search on
  the search worker (only the latest query matters) -> the results grid;
- auto-pose: an image dropped or pasted on the canvas -> its pose estimated on one worker (the injected
  estimator, else the estimator chain, loaded once) -> the canvas's skeleton snaps to it; without a model,
  a banner says why and how;
- corrections: a result's "correct this pose" -> the canvas over its image -> "Save pose to library";
- the library panel's indexing -> counts and fresh searches.
The window searches a read-only Library, so searching goes on while the panel's worker indexes; writes go
through the process's one writer of the library (models/library/writers).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from posefinder.app.gui.actions import Actions, make_actions
from posefinder.app.gui.banner import Banner
from posefinder.app.gui.canvas import PoseCanvas
from posefinder.app.gui.controllers.autopose import AutoPoseController
from posefinder.app.gui.controllers.corrections import CorrectionController
from posefinder.app.gui.controllers.library import LibrarySession
from posefinder.app.gui.controllers.requests import CanvasRequests
from posefinder.app.gui.controllers.search import SearchController
from posefinder.app.gui.library_panel import LibraryPanel, library_title
from posefinder.app.gui.results import FilterBar, ResultsView, display_name
from posefinder.app.gui.settings import SearchOptions, Settings
from posefinder.app.gui.tasks import TaskBook
from posefinder.app.gui.welcome import WelcomePage
from posefinder.models.errors import PoseFinderError

#: Default window size (fits a 1440 x 900 screen with room for a dock).
DEFAULT_SIZE = QSize(1440, 880)
#: The library panel's width when the window opens the first time.
PANEL_WIDTH = 270


class MainWindow(QMainWindow):
    """PoseFinder's main window. estimator: used for auto-pose and indexing instead of the chain (tests)."""

    searchFinished = Signal(int)  # number of results shown (after each completed search)
    autoPoseFinished = Signal(bool)  # a pose was found and set on the canvas

    def __init__(self, settings: Settings | None = None, estimator=None, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("PoseFinder")
        self.settings = settings if settings is not None else Settings()

        # parts
        self.canvas = PoseCanvas()
        self.banner = Banner()
        self.results = ResultsView(tile_px=self.settings.tile_size(168))
        self.filters = FilterBar()
        self.filters.set_tile_size(self.results.tile_px)
        self.library_panel = LibraryPanel(estimator=estimator)
        self.welcome = WelcomePage(demo_available=importlib.util.find_spec("posefinder.app.demo") is not None)
        self.status_label = QLabel("")
        self.status_label.setObjectName("searchStatus")

        # flows
        self.session = LibrarySession(self.library_panel, self)
        self.tasks = TaskBook()
        requests = CanvasRequests(self.canvas)
        self.searcher = SearchController(self.canvas, self.filters, self.results, self.status_label, self)
        self.auto_poser = AutoPoseController(self.canvas, self.banner, requests, self._show_status, estimator, self)
        self.corrector = CorrectionController(self.canvas, self.banner, requests, self.tasks,
                                              self.library_panel.writable_library, self._show_status, self)  # fmt: skip
        self._requests = requests

        self._build_layout()
        self.actions: Actions = make_actions(self)
        self._build_menus()
        self._connect()
        self.filters.set_options(self.settings.search_options())
        self._restore_window()
        self._show_library_state()

    @property
    def actions_by_name(self) -> dict[str, QAction]:
        """objectName -> action (e.g. "savePose")."""
        return self.actions.by_name()

    @property
    def library(self):
        """The read-only Library being searched, or None."""
        return self.session.library

    @property
    def correction(self):
        """The library pose being corrected on the canvas, or None."""
        return self.corrector.correction

    @property
    def last_query(self):
        return self.searcher.last_query

    @property
    def last_search_seconds(self) -> float | None:
        return self.searcher.last_seconds

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

        self.statusBar().addPermanentWidget(self.status_label)
        self.statusBar().addPermanentWidget(self.filters.tile_slider)

    def _build_menus(self) -> None:
        a, c, bar = self.actions, self.canvas, self.menuBar()
        m_file = bar.addMenu("&File")
        m_file.addActions([a.open_library, a.new_library, a.index_folder])
        self.recent_menu = m_file.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m_file.addSeparator()
        m_file.addActions([a.open_image, a.paste_image, a.export_pose, a.save_pose])
        m_file.addSeparator()
        m_file.addAction(a.quit)
        m_edit = bar.addMenu("&Pose")
        m_edit.addActions([a.undo, a.redo])
        m_edit.addSeparator()
        m_edit.addActions([a.mirror_pose, a.reset_pose, a.clear_guide])
        self.presets_menu = m_edit.addMenu("&Presets")
        for name in c.preset_names():
            p = QAction(name.replace("_", " ").capitalize(), self)
            p.triggered.connect(lambda _checked=False, n=name: c.apply_preset(n))
            self.presets_menu.addAction(p)
        self.body_menu = m_edit.addMenu("&Body Type")
        for name in c.body_type_names():
            b = self.body_menu.addAction(name.capitalize(), lambda _checked=False, n=name: c.set_body_type(n))
            b.setCheckable(True)
            b.setChecked(name == c.body_type())
            c.bodyTypeChanged.connect(lambda current, b=b, n=name: b.setChecked(current == n))
        m_edit.addAction(a.free_mode)
        m_view = bar.addMenu("&View")
        m_view.addActions([a.zoom_in, a.zoom_out, a.fit])
        m_view.addSeparator()
        m_view.addActions([self.library_dock.toggleViewAction(), a.search_now])
        bar.addMenu("&Library").addActions([a.add_folder, a.index_now, a.cancel_index])
        bar.addMenu("&Help").addActions([a.models, a.import_models, a.about])

        tb = QToolBar("Pose")
        tb.setObjectName("poseToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addAction(a.open_image)
        tb.addSeparator()
        tb.addActions([a.undo, a.redo, a.mirror_pose, a.reset_pose])
        presets_button = QToolButton()
        presets_button.setText("Presets")
        presets_button.setMenu(self.presets_menu)
        presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(presets_button)
        body_button = QToolButton()
        body_button.setText("Body")
        body_button.setMenu(self.body_menu)
        body_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(body_button)
        tb.addAction(a.free_mode)
        tb.addSeparator()
        tb.addActions([a.fit, a.export_pose])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _connect(self) -> None:
        c, s = self.canvas, self.searcher
        c.poseChanged.connect(s.debounce.start)
        c.editFinished.connect(s.search_now)
        c.imageDropped.connect(self.on_image_dropped)
        c.dropFailed.connect(lambda reason: self.banner.show_message(reason, "warn"))
        s.finished.connect(self.searchFinished)
        self.session.opened.connect(self._on_library_opened)
        self.session.closed.connect(self._on_library_closed)
        self.auto_poser.finished.connect(self.autoPoseFinished)
        self.corrector.active_changed.connect(self.actions.save_pose.setEnabled)
        self.corrector.saved.connect(lambda _pose_id: self._on_library_updated())
        self.filters.changed.connect(self._on_filters_changed)
        self.filters.tileSizeChanged.connect(self._on_tile_size)
        self.results.tagSearchRequested.connect(self.filters.tag_edit.add_tag)
        self.results.useAsQueryRequested.connect(self.use_as_query)
        self.results.correctRequested.connect(self.correct_pose)
        self.results.message.connect(lambda text: self._show_status(text, 6000))
        p = self.library_panel
        p.openRequested.connect(self.ask_open_library)
        p.newRequested.connect(self.ask_new_library)
        p.libraryUpdated.connect(self._on_library_updated)
        p.message.connect(lambda text: self._show_status(text, 8000))
        p.indexingChanged.connect(self._on_indexing_changed)
        self.welcome.open_button.clicked.connect(self.ask_open_library)
        self.welcome.index_button.clicked.connect(self.ask_index_folder)
        self.welcome.demo_button.clicked.connect(self.open_demo)

    def _show_status(self, text: str, ms: int = 0) -> None:
        self.statusBar().showMessage(text, ms)

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
        """Search this library from now on (create: make it first). False, with a banner, when it cannot.

        Returns at once even while the previous library is indexed: that run stops in the background."""
        try:
            self.session.open(path, create=create)
        except PoseFinderError as exc:
            self.banner.show_message(str(exc), "warn")
            return False
        return True

    def _on_library_opened(self, lib) -> None:
        self.searcher.set_library(lib)
        self.corrector.library = lib
        self.results.set_library(lib)
        self.library_panel.set_library(lib)
        self.filters.set_folders(lib.folders())
        self.filters.set_tags(lib.tag_counts())
        self.settings.set_last_library(lib.path)
        self.setWindowTitle(f"{library_title(lib.path)} — PoseFinder")
        self._show_library_state()
        self.search_now()

    def _on_library_closed(self) -> None:
        self.searcher.set_library(None)
        self.corrector.library = None
        self.corrector.forget()
        self.results.set_library(None)

    def _show_library_state(self) -> None:
        has = self.library is not None
        self.results_stack.setCurrentWidget(self.results if has else self.welcome)
        self.filters.setEnabled(has)
        self.searcher.show_opening()

    def _on_library_updated(self) -> None:
        if self.library is None:
            return
        self.filters.set_folders(self.library.folders())
        self.filters.set_tags(self.library.tag_counts())
        self.searcher.show_opening()
        self.search_now()

    def _on_indexing_changed(self, running: bool) -> None:
        self.actions.index_now.setEnabled(not running)
        self.actions.cancel_index.setEnabled(running)

    def ask_open_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a PoseFinder library (a folder with library.sqlite)")
        if folder:
            self.open_library(Path(folder))

    def ask_new_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new library")
        if folder:
            self.open_library(Path(folder), create=True)

    def ask_index_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Index a folder of images")
        if folder:
            self.index_folder(Path(folder))

    def index_folder(self, folder: Path) -> bool:
        """Add an image folder to the open library (or to a new one named after it) and index it."""
        if self.library is None and not self.open_library(self.session.library_for_folder(folder), create=True):
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
        self._show_status("Building the demo library (once)…")

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

        self.tasks.start(lambda t: demo.ensure_demo_library(progress=t.report), done, progress, name="demo")

    # -- search ----------------------------------------------------------------------------------------------
    def search_options(self) -> SearchOptions:
        return self.filters.options()

    def current_query(self):
        """The Query the canvas and the filters describe now."""
        return self.searcher.current_query()

    def search_now(self) -> None:
        """Search the library for the canvas's pose now (on the search worker)."""
        self.searcher.search_now()

    def search_idle(self) -> bool:
        """No search waiting or running (and none debounced)."""
        return self.searcher.idle()

    def searches_done(self) -> int:
        """Searches whose results were shown since the window opened."""
        return self.searcher.done

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

    def auto_pose(self, image, name: str = "the image") -> None:
        """Estimate the image's pose off the GUI thread; the skeleton snaps to the best one."""
        self.auto_poser.estimate(image, name)

    def ask_open_image(self) -> None:
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
    def use_as_query(self, result) -> None:
        """Search with a result's pose: it becomes the canvas's skeleton."""
        self._requests.new()
        self.end_correction()
        self.canvas.set_guide_image(None)
        self.canvas.set_pose(result.pose)
        self._show_status(f"searching with the pose of {display_name(result)}", 6000)

    def correct_pose(self, result) -> None:
        """Open a result's pose for correction: its image as the guide, its pose on the canvas."""
        self.corrector.start(result, display_name(result))

    def save_corrected_pose(self) -> bool:
        """Store the canvas's pose as the corrected (hand-edited) pose of the library entry being corrected."""
        return self.corrector.save()

    def end_correction(self) -> None:
        self.corrector.end()

    # -- export ----------------------------------------------------------------------------------------------
    def ask_export(self) -> None:
        from posefinder.models.editing.export import EXPORT_FORMATS, export_pose

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
        self._show_status(f"exported {path}", 6000)

    # -- help ------------------------------------------------------------------------------------------------
    def _show_models(self) -> None:
        """Help > Pose Models…: the chain, the installed models (the one in use chosen here), importing the
        paper's models, and improving auto-pose from the library's corrections (app/gui/models_dialog.py)."""
        dialog = self.models_dialog()
        dialog.exec()
        if dialog.task is None:  # a fine-tuning still stopping lets the dialog go when it has (dialog._done)
            dialog.deleteLater()

    def models_dialog(self):
        """A new pose models dialog on the open library (not shown)."""
        from posefinder.app.gui.models_dialog import PoseModelsDialog

        dialog = PoseModelsDialog(self, self.library, self.tasks.start)
        dialog.modelChanged.connect(self.auto_poser.reload_model)
        dialog.importRequested.connect(lambda folder: self.paper_import.ask(folder=folder))
        return dialog

    @property
    def paper_import(self):
        """Help > Import the paper's models (app/gui/model_import.py)."""
        if getattr(self, "_paper_import", None) is None:
            from posefinder.app.gui.model_import import PaperModelsImport

            self._paper_import = PaperModelsImport(self, self.tasks.start)
        return self._paper_import

    def _about(self) -> None:
        from posefinder import __version__

        QMessageBox.about(
            self, "About PoseFinder",
            f"PoseFinder {__version__}\nFind reference illustrations by pose.\n\n"
            "Implements Chen & Zwicker, “Transfer Learning for Pose Estimation of Illustrated Characters” "
            "(WACV 2022).",
        )  # fmt: skip

    # -- state and shutdown ----------------------------------------------------------------------------------
    def busy(self) -> bool:
        """Work still running that changes what the window shows (searches, auto-pose, tasks, thumbnails)."""
        return (
            bool(self.tasks.running()) or not self.search_idle() or not self.auto_poser.idle()
            or not self.results.thumbnails_idle()
        )  # fmt: skip

    def closeEvent(self, event) -> None:
        """Closes at once: a running index is cancelled and stops in the background (its batches kept)."""
        self.save_settings()
        self.library_panel.shutdown()
        self.searcher.stop()
        self.auto_poser.stop()
        self.results.shutdown()
        self.tasks.cancel_all()
        self.session.close()
        super().closeEvent(event)
