"""posefinder.app.gui: the PySide6 desktop app. `launch()` opens the main window (Qt is imported lazily).

Modules: main_window (layout plus wiring), actions (the typed tuple of the window's actions), controllers
(search, auto-pose, corrections, the open library), tasks (one-shot background tasks), canvas (the pose
canvas, with canvas_items, pose_commands, image_drop; its state, presets and export are Qt-free in
models/editing), banner and welcome (messages, the page without a library), results (the results grid and
filters), library_panel (folders, indexing, counts), workers (threads), settings (QSettings), theme (dark look).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: How long `launch(screenshot=...)` waits for the first search and the thumbnails before it saves anyway.
SCREENSHOT_TIMEOUT_S = 120.0
#: The window size of screenshots (README pictures).
SCREENSHOT_SIZE = (1440, 880)


def _needs_offscreen() -> bool:
    """No display to draw on (a server, CI): Qt's offscreen platform still renders the window."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def application(argv: list[str] | None = None):
    """The QApplication (made once, with the dark theme)."""
    from PySide6.QtWidgets import QApplication

    from posefinder.app.gui.theme import apply_dark_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0] if sys.argv else "posefinder"])
        app.setApplicationName("PoseFinder")
        app.setOrganizationName("PoseFinder")
        app.setApplicationDisplayName("PoseFinder")
        apply_dark_theme(app)
    return app


def wait_until_settled(window, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> bool:
    """Run the event loop until the window has shown its first results and loaded their thumbnails (or
    has nothing to load); False when timeout_s passed first.

    window.busy() is exact: a search, task or thumbnail counts until its outcome is shown, and new results
    until their first paint has asked for the tiles it shows."""
    import time

    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if not window.busy() and (window.library is None or window.searches_done() > 0):
            return True
        time.sleep(0.005)
    return False


def save_screenshot(window, path: Path) -> Path:
    """Render the whole window into a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap = window.grab()
    if not pixmap.save(str(path), "PNG"):
        from posefinder.models.errors import PoseFinderError

        raise PoseFinderError(f"{path}: cannot write the screenshot")
    return path


def _first_pose(path: Path):
    from posefinder.models.errors import PoseFileError
    from posefinder.models.formats import read_poses

    records = read_poses(Path(path))
    if not records:
        raise PoseFileError(f"{path}: the file holds no pose")
    return records[0].pose


def launch(
    library: Path | None = None, screenshot: Path | None = None, estimator=None, pose: Path | None = None
) -> int:
    """Open the main window on `library` (else the last one), run the app; an exit code.

    With `screenshot`, renders the window once the first search and its thumbnails are done, saves the
    PNG there and returns 0 without waiting for the user. estimator: used instead of the estimator chain.
    pose: a pose file (any format PoseFinder reads) whose first pose the canvas starts with.
    A library or pose file given here that cannot be read raises a PoseFinderError (one line for the
    CLI); a last library that is gone only shows a banner.
    """
    if screenshot is not None and _needs_offscreen():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = application()

    from posefinder.app.gui.main_window import MainWindow
    from posefinder.app.gui.settings import Settings
    from posefinder.models.library import Library

    if library is not None:  # fail early with the library's own message, before a window shows
        Library.open(library, readonly=True).close()
    start_pose = _first_pose(pose) if pose is not None else None
    settings = Settings()
    window = MainWindow(settings=settings, estimator=estimator)
    target = library if library is not None else settings.last_library()
    if target is not None:
        if not window.open_library(target) and library is None:
            window.banner.show_message(
                f"The last library could not be opened: {window.banner.label.text()}", "warn"
            )
    if start_pose is not None:
        window.canvas.set_pose(start_pose, undoable=False)
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        wait_until_settled(window)
        try:
            save_screenshot(window, Path(screenshot))
        finally:
            window.close()
        print(f"saved {screenshot}")
        return 0
    window.show()
    return int(app.exec())
