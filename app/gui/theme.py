"""The app's look: a dark Fusion palette and a small style sheet (artists' tools are dark, images stand out)."""

from __future__ import annotations

#: Window, panel and text colours (hex) of the dark theme; the results tiles use the same.
COLORS = {
    "window": "#232427",
    "base": "#1b1c1e",
    "panel": "#2b2d31",
    "tile": "#303236",
    "tile_image": "#3a3c41",
    "text": "#e4e4e6",
    "muted": "#9a9ca3",
    "accent": "#4aa3ff",
    "warn_bg": "#4a3a1c",
    "warn_text": "#ffd89a",
    "info_bg": "#1f3a56",
    "info_text": "#cfe6ff",
}

STYLE_SHEET = """
QMainWindow, QDialog { background: %(window)s; }
QToolBar { background: %(panel)s; border: none; spacing: 2px; padding: 3px; }
QToolBar QToolButton { padding: 4px 8px; border-radius: 4px; }
QToolBar QToolButton:hover { background: #3b3e44; }
QToolBar QToolButton:checked { background: #24476b; }
QStatusBar { background: %(panel)s; color: %(muted)s; }
QDockWidget { color: %(text)s; }
QDockWidget::title { background: %(panel)s; padding: 5px 8px; text-align: left; }
QListView#resultsView { background: %(base)s; border: none; }
QGraphicsView#poseCanvas { border: none; }
QSplitter::handle { background: %(window)s; }
QPushButton { padding: 5px 12px; border-radius: 4px; background: #3a3d43; border: 1px solid #4a4d54; }
QPushButton:hover { background: #454850; }
QPushButton:default { border-color: %(accent)s; }
QPushButton#welcomeButton { padding: 12px 22px; font-size: 15px; min-width: 260px; text-align: left; }
QProgressBar { border: 1px solid #4a4d54; border-radius: 4px; text-align: center; background: %(base)s; height: 16px; }
QProgressBar::chunk { background: %(accent)s; border-radius: 3px; }
QLabel#panelTitle { font-size: 15px; font-weight: 600; }
QLabel#muted { color: %(muted)s; }
QLabel#welcomeTitle { font-size: 26px; font-weight: 600; }
QLabel#welcomeText { color: %(muted)s; font-size: 14px; }
QFrame#banner[kind="warn"] { background: %(warn_bg)s; border-radius: 6px; }
QFrame#banner[kind="warn"] QLabel { color: %(warn_text)s; }
QFrame#banner[kind="info"] { background: %(info_bg)s; border-radius: 6px; }
QFrame#banner[kind="info"] QLabel { color: %(info_text)s; }
QFrame#filterBar { background: %(panel)s; }
QListWidget { background: %(base)s; border: 1px solid #3a3d43; border-radius: 4px; }
""" % COLORS


def apply_dark_theme(app) -> None:
    """Fusion style, a dark palette and the style sheet, on the whole application."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    pal = QPalette()
    c = COLORS
    roles = {
        QPalette.ColorRole.Window: c["window"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"],
        QPalette.ColorRole.AlternateBase: c["panel"],
        QPalette.ColorRole.ToolTipBase: c["panel"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: "#34363b",
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#2f6fb0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: c["accent"],
        QPalette.ColorRole.PlaceholderText: c["muted"],
    }
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6c6e74"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)
