"""The results grid: thumbnails with the matched skeleton drawn over each, distance and file name, with
their filters (folder, mirror, number of results, orientation) and their context menu.

ResultsView (objectName "resultsView") is a QListView in icon mode over a ResultsModel, painted by a
ResultDelegate. Thumbnails are rendered off the GUI thread (workers.ThumbnailLoader): the library's
thumbnail, else the image file, else the skeleton alone on a neutral tile; the skeleton is mapped from
image pixels onto it and drawn with models.drawing.draw_skeleton. Rendered tiles are kept in an LRU cache.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPoint, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QFont,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPainter,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QSlider,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
)

from posefinder.app.gui.image_drop import rgb_to_qimage
from posefinder.app.gui.settings import K_RANGE, SearchOptions
from posefinder.app.gui.tag_filter import TOP_TAGS, TagFilterEdit
from posefinder.app.gui.theme import COLORS
from posefinder.app.gui.workers import LRUCache, ThumbnailLoader
from posefinder.models.files import readable_name
from posefinder.models.library.thumbs import THUMB_PX

#: Rendered tiles kept in memory.
TILE_CACHE_SIZE = 600
#: Default tile width in pixels (the image area is square; the labels go below it).
DEFAULT_TILE_PX = 168
TEXT_HEIGHT_PX = 40
#: Fraction of a neutral tile left free around a skeleton drawn without its image.
NEUTRAL_MARGIN = 0.12

#: Orientation choices of the filter bar: label -> weight of the orientation term (0 = the paper's ranking).
ORIENTATION_CHOICES: tuple[tuple[str, float], ...] = (
    ("Any rotation", 0.0),
    ("Similar rotation", 0.5),
    ("Same rotation", 2.0),
)
#: the character-count filter: label, Library.search's characters
CHARACTER_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("Solo or group", None),
    ("Solo", "one"),
    ("Group", "several"),
)


def display_name(result) -> str:
    """What a result's tile shows: the file name of its image, with the application's name when it is a
    painting application's working file ("pose.clip · Clip Studio")."""
    from posefinder.models.imageio import WORKING_FILE_KINDS

    name = Path(str(result.image)).name or str(result.image)
    kind = WORKING_FILE_KINDS.get(Path(name).suffix.lower())
    return f"{name} · {kind}" if kind else name


def open_label(result) -> str:
    """The context menu's open action: "Open in Krita" for a working file, else "Open"."""
    from posefinder.models.imageio import WORKING_FILE_KINDS

    kind = WORKING_FILE_KINDS.get(Path(str(result.image)).suffix.lower())
    return f"Open in {kind}" if kind else "Open"


# -- tile rendering (worker threads) ---------------------------------------------------------------------------
def _hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _downscaled(image: np.ndarray, size_px: int) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= size_px:
        return image
    img = Image.fromarray(np.ascontiguousarray(image))
    img.thumbnail((size_px, size_px), Image.Resampling.BILINEAR)
    return np.asarray(img.convert("RGB"))


def tile_array(lib, result, size_px: int = THUMB_PX) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the result's picture with its matched skeleton drawn over it.

    The picture is the library's thumbnail when the image's size is known (to map the pose onto it), else
    the image file downscaled, else a neutral tile with the skeleton fitted into it.
    """
    from posefinder.models.drawing import draw_skeleton
    from posefinder.models.errors import PoseFinderError
    from posefinder.models.imageio import load_image

    pose = result.pose
    picture, scale, offset = None, 1.0, np.zeros(2)
    full_w = pose.image_size[0] if pose.image_size else None
    thumb = lib.thumbnail_path(result.image_id) if lib is not None else None
    if thumb is not None and lib is not None:  # (a thumbnail comes from a library)
        if full_w is None:
            try:
                full_w = lib.image_info(result.image_id).width
            except PoseFinderError:
                full_w = None
        if full_w:
            try:
                picture = load_image(thumb)
                scale = picture.shape[1] / float(full_w)
            except PoseFinderError:
                picture = None
    if picture is None and result.path is not None and Path(result.path).is_file():
        try:
            full = load_image(result.path)
            picture = _downscaled(full, size_px)
            scale = picture.shape[1] / float(full.shape[1])
        except PoseFinderError:
            picture = None
    if picture is None:
        picture = np.empty((size_px, size_px, 3), np.uint8)
        picture[:] = _hex_rgb(COLORS["tile_image"])
        x, y, w, h = pose.bbox() if pose.present.any() else (0.0, 0.0, 1.0, 1.0)
        free = size_px * (1 - 2 * NEUTRAL_MARGIN)
        scale = free / max(w, h, 1e-6)
        offset = np.array([size_px / 2 - (x + w / 2) * scale, size_px / 2 - (y + h / 2) * scale])
    mapped = pose.copy()
    present = mapped.present
    mapped.keypoints[present, :2] = mapped.keypoints[present, :2] * scale + offset
    thickness = max(2, int(round(max(picture.shape[:2]) / 110)))
    return draw_skeleton(picture, mapped, thickness=thickness)


def tile_key(lib, result) -> tuple:
    """What a rendered tile depends on: the library, the pose (a corrected pose is a new tile)."""
    kp = np.ascontiguousarray(result.pose.keypoints)
    return (str(getattr(lib, "path", "")), int(result.pose_id), hash(kp.tobytes()))


# -- model -----------------------------------------------------------------------------------------------------
class ResultsModel(QAbstractListModel):
    """The search results, best first."""

    ResultRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent=None):
        super().__init__(parent)
        self._results: list = []
        self.tags_of: Callable[[Any], list] | None = None  # result -> its top [(tag, score)] (set by the view)

    def set_results(self, results) -> None:
        self.beginResetModel()
        self._results = list(results)
        self.endResetModel()

    def results(self) -> list:
        return list(self._results)

    def result(self, row: int):
        return self._results[row] if 0 <= row < len(self._results) else None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._results)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        r = self.result(index.row()) if index.isValid() else None
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return display_name(r)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = readable_name(r.path) if r.path is not None else f"{r.image} (pose imported without its image file)"
            extra = ", mirrored" if r.mirrored else ""
            tags = self.tags_of(r) if self.tags_of is not None else []
            shown = "\ntags: " + ", ".join(t for t, _ in tags) if tags else ""
            return f"{where}\ndistance {r.distance:.4f}{extra}\npose: {r.pose.source}{shown}"
        if role == self.ResultRole:
            return r
        return None


# -- delegate --------------------------------------------------------------------------------------------------
class ResultDelegate(QStyledItemDelegate):
    """Paints a tile: the picture (aspect kept) on a dark card, the file name and the distance below."""

    def __init__(self, view: "ResultsView"):
        super().__init__(view)
        self._view = view

    def sizeHint(self, option, index) -> QSize:
        t = self._view.tile_px
        return QSize(t, t + TEXT_HEIGHT_PX)

    def paint(self, painter: QPainter, option, index) -> None:
        r = index.data(ResultsModel.ResultRole)
        if r is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        card = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.setPen(QPen(QColor(COLORS["accent"]), 2) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#383b40" if hover and not selected else COLORS["tile"]))
        painter.drawRoundedRect(card, 6, 6)

        side = card.width() - 10
        area = QRect(card.left() + 5, card.top() + 5, side, side)
        image = self._view.thumbnail(r)
        if image is not None and not image.isNull():
            size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(area.center())
            painter.drawImage(target, image)
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(COLORS["tile_image"]))
            painter.drawRoundedRect(area, 4, 4)

        text_top = area.bottom() + 4
        fm = option.fontMetrics
        painter.setPen(QColor(COLORS["text"]))
        name = fm.elidedText(index.data(Qt.ItemDataRole.DisplayRole), Qt.TextElideMode.ElideMiddle, side)
        painter.drawText(QRect(area.left(), text_top, side, fm.height()), Qt.AlignmentFlag.AlignLeft, name)
        painter.setPen(QColor(COLORS["muted"]))
        line2 = QRect(area.left(), text_top + fm.height() + 1, side, fm.height())
        painter.drawText(line2, Qt.AlignmentFlag.AlignLeft, f"#{index.row() + 1}   d = {r.distance:.3f}")
        if r.mirrored:
            painter.setPen(QColor(COLORS["accent"]))
            painter.drawText(line2, Qt.AlignmentFlag.AlignRight, "mirrored")
        painter.restore()


# -- view ------------------------------------------------------------------------------------------------------
class ResultsView(QListView):
    """The results grid (objectName "resultsView")."""

    useAsQueryRequested = Signal(object)  # SearchResult
    correctRequested = Signal(object)  # SearchResult
    tagSearchRequested = Signal(str)  # a tag of a result's image: add it to the filter
    message = Signal(str)  # one line for the status bar
    resultsPainted = Signal(int)  # the number of results, the first time a new set is painted

    def __init__(self, parent=None, tile_px: int = DEFAULT_TILE_PX):
        super().__init__(parent)
        self.setObjectName("resultsView")
        self.setAccessibleName("Search results")
        self.tile_px = int(tile_px)
        self._lib = None
        self._cache = LRUCache(TILE_CACHE_SIZE)
        self._loader = ThumbnailLoader(threads=2, parent=self)
        self._loader.loaded.connect(self._on_loaded)
        self._empty_text = ""
        self._unpainted = False
        self._wanted: dict = {}  # tiles the last paint needed: key -> render job
        self.results_model = ResultsModel(self)
        self.results_model.tags_of = self.top_tags
        self.setModel(self.results_model)
        self.setItemDelegate(ResultDelegate(self))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWrapping(True)
        self.setSpacing(4)
        self.setMouseTracking(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.doubleClicked.connect(lambda index: self.open_result(self.results_model.result(index.row())))

    # -- content -----------------------------------------------------------------------------------------------
    def set_library(self, lib) -> None:
        self._lib = lib
        self._wanted.clear()
        self._loader.clear_pending()
        self.set_results([])

    def top_tags(self, result) -> list[tuple[str, float | None]]:
        """The image's tags above the library's threshold, best first (TOP_TAGS of them)."""
        if self._lib is None:
            return []
        try:
            return self._lib.image_tags([result.image_id]).get(result.image_id, [])[:TOP_TAGS]
        except Exception:  # a library closed or changed under the tooltip: no tags shown
            return []

    def set_results(self, results) -> None:
        self._wanted.clear()
        self._loader.clear_pending()
        self.results_model.set_results(results)
        self._unpainted = True
        if results:
            self.scrollToTop()
        self.viewport().update()

    def results(self) -> list:
        return self.results_model.results()

    def set_empty_text(self, text: str) -> None:
        """What the empty grid says (why there are no results and what to do)."""
        self._empty_text = text
        self.viewport().update()

    def empty_text(self) -> str:
        return self._empty_text

    def set_tile_size(self, px: int) -> None:
        self.tile_px = int(px)
        self.scheduleDelayedItemsLayout()
        self.viewport().update()

    def selected_result(self):
        idx = self.currentIndex()
        return self.results_model.result(idx.row()) if idx.isValid() else None

    # -- thumbnails --------------------------------------------------------------------------------------------
    def thumbnail(self, result) -> QImage | None:
        """The rendered tile of a result, or None while it loads (the load is started)."""
        key = tile_key(self._lib, result)
        image = self._cache.get(key)
        if image is None and key not in self._cache:
            lib = self._lib
            # asked for once the paint is over: the loaders do not compete with the first paint
            self._wanted[key] = lambda: rgb_to_qimage(tile_array(lib, result))
        return image

    def _request_wanted(self) -> None:
        # reversed: the loader serves the newest request first, so the first tiles come first
        for key, job in reversed(list(self._wanted.items())):
            self._loader.request(key, job)
        self._wanted.clear()

    def thumbnails_idle(self) -> bool:
        """No tile is waiting to be asked for, loading, or loaded and not yet cached; results set on a shown
        grid are first painted (the paint asks for the tiles it shows)."""
        awaiting_paint = self._unpainted and self.results_model.rowCount() > 0 and self.isVisible()
        return not awaiting_paint and not self._wanted and self._loader.idle()

    def _on_loaded(self, key, image) -> None:
        if image is None:
            image = QImage()  # unreadable: cached as empty so it is not retried on every paint
        self._cache.put(key, image)
        self.viewport().update()

    def shutdown(self) -> None:
        self._loader.stop()

    # -- painting ----------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.results_model.rowCount() == 0 and self._empty_text:
            p = QPainter(self.viewport())
            p.setPen(QColor(COLORS["muted"]))
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.15)
            p.setFont(f)
            rect = self.viewport().rect().adjusted(40, 40, -40, -40)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)
            p.end()
        if self._unpainted:
            self._unpainted = False
            self.resultsPainted.emit(self.results_model.rowCount())
        if self._wanted:
            self._request_wanted()

    # -- actions -----------------------------------------------------------------------------------------------
    def open_result(self, result) -> bool:
        if result is None:
            return False
        if result.path is None or not Path(result.path).exists():
            self.message.emit(f"{display_name(result)}: no image file (the pose was imported without it, or it moved)")
            return False
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(result.path))))

    def reveal_result(self, result) -> bool:
        if result is None or result.path is None:
            self.message.emit("this pose has no image file to show")
            return False
        return reveal_in_folder(Path(result.path))

    def copy_path(self, result) -> None:
        if result is None:
            return
        text = readable_name(result.path) if result.path is not None else str(result.image)
        QGuiApplication.clipboard().setText(text)
        self.message.emit(f"copied {text}")

    def context_menu(self, result) -> QMenu:
        """The menu of a result's tile."""
        menu = QMenu(self)
        has_file = result.path is not None

        def add(text, slot, enabled=True, shortcut=None):
            action = QAction(text, menu)
            action.setEnabled(enabled)
            if shortcut:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        add(open_label(result), lambda: self.open_result(result), has_file)  # in the file's own application
        add("Show in folder", lambda: self.reveal_result(result), has_file)
        add("Copy path", lambda: self.copy_path(result))
        menu.addSeparator()
        add("Use this pose as the query", lambda: self.useAsQueryRequested.emit(result))
        add("Correct this pose…", lambda: self.correctRequested.emit(result))
        tags = self.top_tags(result)
        sub = menu.addMenu("Search with this tag")
        sub.setObjectName("tagSearchMenu")
        sub.setEnabled(bool(tags))
        for tag, score in tags:
            label = tag if score is None else f"{tag}  ({score:.2f})"
            action = sub.addAction(label)
            action.triggered.connect(lambda _c=False, t=tag: self.tagSearchRequested.emit(t))
        return menu

    def contextMenuEvent(self, event) -> None:
        index = self.indexAt(event.pos())
        result = self.results_model.result(index.row()) if index.isValid() else None
        if result is None:
            return
        self.setCurrentIndex(index)
        self.context_menu(result).exec(event.globalPos())

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_result(self.selected_result())
            return
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_path(self.selected_result())
            return
        super().keyPressEvent(event)


def reveal_in_folder(path: Path) -> bool:
    """Show a file selected in the system's file manager (its folder, where selecting is not possible)."""
    from PySide6.QtCore import QProcess

    path = Path(path)
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    if sys.platform == "win32":
        return QProcess.startDetached("explorer", [f"/select,{path}"])[0]
    ok = QProcess.startDetached(
        "dbus-send",
        ["--session", "--dest=org.freedesktop.FileManager1", "--type=method_call",
         "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
         f"array:string:{QUrl.fromLocalFile(str(path)).toString()}", "string:"],
    )[0]  # fmt: skip
    return ok or QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


# -- filters ---------------------------------------------------------------------------------------------------
class FilterBar(QFrame):
    """The results filters: folder, mirror, orientation, characters, tags, number of results; and the tile size."""

    changed = Signal()
    tileSizeChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("filterBar")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(10)

        self.folder_combo = QComboBox()
        self.folder_combo.setObjectName("folderFilter")
        self.folder_combo.setToolTip("Only show images under this folder")
        self.folder_combo.setMinimumContentsLength(8)
        self.folder_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mirror_box = QCheckBox("Mirror")
        self.mirror_box.setObjectName("mirrorFilter")
        self.mirror_box.setToolTip("Also find the pose mirrored left to right (the better match counts)")
        self.k_spin = QSpinBox()
        self.k_spin.setObjectName("countFilter")
        self.k_spin.setRange(*K_RANGE)
        self.k_spin.setToolTip("How many results to show")
        self.orientation_combo = QComboBox()
        self.orientation_combo.setObjectName("orientationFilter")
        self.orientation_combo.setToolTip(
            "Whether the figure's rotation in the picture matters: 'Any rotation' also matches a handstand to "
            "standing"
        )
        for label, weight in ORIENTATION_CHOICES:
            self.orientation_combo.addItem(label, weight)
        self.characters_combo = QComboBox()
        self.characters_combo.setObjectName("charactersFilter")
        self.characters_combo.setToolTip("Solo: only images with one character; Group: only images with two or more")
        for label, value in CHARACTER_CHOICES:
            self.characters_combo.addItem(label, value)
        # the thumbnail size slider lives in the window's status bar (where image browsers keep it)
        self.tile_slider = QSlider(Qt.Orientation.Horizontal)
        self.tile_slider.setObjectName("tileSize")
        self.tile_slider.setRange(96, 320)
        self.tile_slider.setFixedWidth(120)
        self.tile_slider.setToolTip("Thumbnail size")

        folder_label = QLabel("Folder")
        folder_label.setObjectName("muted")
        lay.addWidget(folder_label)
        lay.addWidget(self.folder_combo, 1)
        lay.addWidget(self.mirror_box)
        lay.addWidget(self.orientation_combo)
        lay.addWidget(self.characters_combo)
        self.tag_edit = TagFilterEdit()
        self.tag_edit.setMinimumWidth(150)
        lay.addWidget(self.tag_edit, 1)
        k_label = QLabel("Show")
        k_label.setObjectName("muted")
        lay.addWidget(k_label)
        lay.addWidget(self.k_spin)
        lay.addStretch(0)

        self.set_folders([])
        self.set_options(SearchOptions())
        self.folder_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.mirror_box.toggled.connect(lambda _b: self.changed.emit())
        self.k_spin.valueChanged.connect(lambda _v: self.changed.emit())
        self.orientation_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.characters_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.tile_slider.valueChanged.connect(self.tileSizeChanged.emit)
        self.tag_edit.changed.connect(self.changed.emit)

    def set_folders(self, folders: list[Path]) -> None:
        """The library's folders (the current choice is kept when it is still there)."""
        current = self.folder()
        self.folder_combo.blockSignals(True)
        self.folder_combo.clear()
        self.folder_combo.addItem("All folders", None)
        for f in folders:
            self.folder_combo.addItem(Path(f).name or str(f), str(f))
            self.folder_combo.setItemData(self.folder_combo.count() - 1, str(f), Qt.ItemDataRole.ToolTipRole)
        i = self.folder_combo.findData(str(current)) if current is not None else 0
        self.folder_combo.setCurrentIndex(max(i, 0))
        self.folder_combo.blockSignals(False)
        # poses imported with their images (the demo library) have no image folder to choose
        self.folder_combo.setEnabled(bool(folders))
        self.folder_combo.setToolTip(
            "Only show images under this folder" if folders
            else "This library has no image folders to choose from (add one in the Library panel)"
        )  # fmt: skip
        if current is not None and i < 0:
            self.changed.emit()

    def set_tags(self, counts: list[tuple[str, int]]) -> None:
        """The library's tags with their image counts, for the tag filter's completion."""
        self.tag_edit.set_tags(counts)

    def tag_filter(self):
        """The TagFilter the tag field describes (empty: no tag filter)."""
        return self.tag_edit.tag_filter()

    def characters(self) -> str | None:
        """The character-count filter: None (any), "one" or "several" (Library.search's characters)."""
        return self.characters_combo.currentData()

    def set_characters(self, characters: str | None) -> None:
        self.characters_combo.setCurrentIndex(max(self.characters_combo.findData(characters), 0))

    def folder(self) -> Path | None:
        data = self.folder_combo.currentData()
        return Path(data) if data else None

    def set_folder(self, folder: Path | None) -> None:
        i = 0 if folder is None else self.folder_combo.findData(str(folder))
        if i >= 0:
            self.folder_combo.setCurrentIndex(i)

    def options(self) -> SearchOptions:
        return SearchOptions(
            mirror=self.mirror_box.isChecked(),
            k=self.k_spin.value(),
            orientation_weight=float(self.orientation_combo.currentData()),
        )

    def set_options(self, options: SearchOptions) -> None:
        for w in (self.mirror_box, self.k_spin, self.orientation_combo):
            w.blockSignals(True)
        self.mirror_box.setChecked(options.mirror)
        self.k_spin.setValue(options.k)
        weights = [w for _, w in ORIENTATION_CHOICES]
        nearest = int(np.argmin([abs(w - options.orientation_weight) for w in weights]))
        self.orientation_combo.setCurrentIndex(nearest)
        for w in (self.mirror_box, self.k_spin, self.orientation_combo):
            w.blockSignals(False)
        self.changed.emit()

    def set_tile_size(self, px: int) -> None:
        self.tile_slider.blockSignals(True)
        self.tile_slider.setValue(int(px))
        self.tile_slider.blockSignals(False)
