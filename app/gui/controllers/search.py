"""Search: the canvas's pose and the filters -> a Query -> Library.search on the search worker (only the
latest query matters) -> the results grid and the status line."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from posefinder.app.gui.library_panel import library_title
from posefinder.app.gui.workers import LatestOnlyWorker
from posefinder.models.errors import PoseFinderError

#: Milliseconds of quiet after the last poseChanged before a search runs (a drag searches as it goes).
SEARCH_DEBOUNCE_MS = 120


class SearchController(QObject):
    """Searches the library it is given for what canvas and filters describe; shows the results."""

    finished = Signal(int)  # number of results shown (after each completed search)

    def __init__(self, canvas, filters, results, status_label, parent=None):
        super().__init__(parent)
        self.canvas, self.filters, self.results, self.status_label = canvas, filters, results, status_label
        self.library = None
        self.last_query = None  # the Query of the latest search submitted
        self.last_seconds: float | None = None
        self.done = 0  # searches whose results were shown
        self._pose_count = 0
        self._worker = LatestOnlyWorker("search", self)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self.debounce.timeout.connect(self.search_now)

    def set_library(self, lib) -> None:
        """Search this (read-only) library from now on; None forgets the old one's searches on their way."""
        self._worker.cancel_pending()
        self.library = lib

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
        self.debounce.stop()
        if self.library is None:
            return
        query = self.current_query()
        lib, k, folder = self.library, self.filters.options().k, self.filters.folder()
        tags, characters = self.filters.tag_filter(), self.filters.characters()
        self.last_query = query

        def search():
            results = lib.search(query, k=k, folder=folder, tags=tags or None, characters=characters)
            return results, len(lib.descriptor_index())  # the poses searched (the index is loaded: free)

        self._worker.submit(search)

    def idle(self) -> bool:
        """No search waiting or running (and none debounced)."""
        return self._worker.idle() and not self.debounce.isActive()

    def stop(self) -> None:
        self.debounce.stop()
        self._worker.stop(timeout=0.0)  # a search running now ends on its own; never waited for

    def show_opening(self) -> None:
        if self.library is None:
            self.status_label.setText("No library open")
        elif self.done == 0:
            self.status_label.setText(f"Opening {library_title(self.library.path)}…")

    def _on_finished(self, ticket: int, outcome, seconds: float) -> None:
        if not self._worker.is_current(ticket) or self.library is None:
            return  # a newer query is on its way
        results, self._pose_count = outcome
        self.last_seconds = seconds
        self.done += 1
        self.results.set_results(results)
        if not results:
            if self._pose_count == 0:
                self.results.set_empty_text(
                    "This library has no poses yet.\nAdd a folder of images in the Library panel to index it."
                )
            elif self.filters.characters() is not None:
                self.results.set_empty_text("No image with this many characters has a pose like this.\n"
                                            "Choose 'Solo or group' in the filter bar.")  # fmt: skip
            elif self.filters.tag_filter():
                self.results.set_empty_text("No image with these tags has a pose like this.\nRemove a tag from the filter.")
            else:
                self.results.set_empty_text("No pose shares enough joints with the query.\nSwitch more joints on.")
        n_on = int(np.sum(self.canvas.joint_mask()))
        self.status_label.setText(
            f"{len(results)} results · {seconds * 1000:.0f} ms · {n_on} joints on · "
            f"{library_title(self.library.path)}: {self._pose_count:,} poses"
        )
        self.finished.emit(len(results))

    def _on_failed(self, ticket: int, error) -> None:
        if not self._worker.is_current(ticket):
            return
        self.done += 1
        self.results.set_results([])
        text = str(error) if isinstance(error, PoseFinderError) else f"search failed: {error!r}"
        self.results.set_empty_text(text[:1].upper() + text[1:])
        self.status_label.setText(text)
        self.finished.emit(0)
