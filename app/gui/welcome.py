"""What the results area shows when no library is open: open one, index a folder, or try the demo."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


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

