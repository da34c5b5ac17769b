"""The results' tag filter: a line of tags to include and, written -tag, to exclude, with completion over the
library's tags and their image counts (as Danbooru's search box reads them)."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit

from posefinder.models.library.library_tags import TagFilter

#: How many of an image's tags its tooltip and its context menu name.
TOP_TAGS = 8


def parse_tags(text: str) -> TagFilter:
    """'sword skirt -hat' -> TagFilter(include=(sword, skirt), exclude=(hat,)); commas separate too."""
    include: list[str] = []
    exclude: list[str] = []
    for word in text.replace(",", " ").split():
        if word.startswith("-") and len(word) > 1:
            exclude.append(word[1:])
        elif word != "-":
            include.append(word)
    return TagFilter(tuple(dict.fromkeys(include)), tuple(dict.fromkeys(exclude)))


class TagFilterEdit(QLineEdit):
    """Tags to include (tag) and exclude (-tag); completes the word under the cursor from the library's tags
    ("tag  (count)" in the list). changed: the filter the text describes changed."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("tagFilter")
        self.setClearButtonEnabled(True)
        self.setPlaceholderText("Tags: sword -hat")
        self.setToolTip("Only images with these tags; -tag: only images without it")
        self._model = QStringListModel(self)
        self._completer = QCompleter(self._model, self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setWidget(self)
        self._completer.activated.connect(self._complete)
        self._counts: dict[str, int] = {}
        self._last = TagFilter()
        self.textEdited.connect(self._on_edited)
        self.editingFinished.connect(self._emit_if_changed)
        self.returnPressed.connect(self._emit_if_changed)

    def set_tags(self, counts: list[tuple[str, int]]) -> None:
        """The library's tags with their image counts, most frequent first."""
        self._counts = dict(counts)
        self._model.setStringList([f"{t}  ({n})" for t, n in counts])
        self.setEnabled(bool(counts) or bool(self.text()))
        self.setToolTip("Only images with these tags; -tag: only images without it" if counts else
                        "This library has no tags: install a tagger (posefinder tags --install) and index it")  # fmt: skip

    def completions(self) -> list[str]:
        return self._model.stringList()

    def tag_filter(self) -> TagFilter:
        return parse_tags(self.text())

    def add_tag(self, tag: str, exclude: bool = False) -> None:
        """Add a tag to the filter (from a tile's menu) and apply it."""
        flt = self.tag_filter()
        words = [t for t in flt.include if t != tag] + [f"-{t}" for t in flt.exclude if t != tag]
        words.append(f"-{tag}" if exclude else tag)
        self.setText(" ".join(words))
        self._emit_if_changed()

    def _word(self) -> str:
        head = self.text()[: self.cursorPosition()]
        word = head.replace(",", " ").split(" ")[-1]
        return word[1:] if word.startswith("-") else word

    def _on_edited(self, _text: str) -> None:
        word = self._word()
        if word:
            self._completer.setCompletionPrefix(word)
            self._completer.complete()
        elif (popup := self._completer.popup()) is not None:
            popup.hide()

    def _complete(self, entry: str) -> None:
        tag = entry.split("  (")[0]
        text, pos = self.text(), self.cursorPosition()
        start = pos - len(self._word())
        self.setText(text[:start] + tag + " " + text[pos:].lstrip())
        self.setCursorPosition(start + len(tag) + 1)
        self._emit_if_changed()

    def _emit_if_changed(self) -> None:
        flt = self.tag_filter()
        if flt != self._last:
            self._last = flt
            self.changed.emit()
