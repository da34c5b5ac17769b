"""A non-blocking message strip over the canvas (the window's banner)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton


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

    def show_message(self, text: str, kind: str = "info", buttons: Sequence[tuple[str, object]] = ()) -> None:
        """Show text ("info" or "warn") with optional (label, slot) buttons, replacing any other message."""
        while self._buttons.count():
            item = self._buttons.takeAt(0)
            w = item.widget() if item is not None else None
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

