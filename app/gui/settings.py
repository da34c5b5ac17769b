"""The app's persistent settings: window geometry and state, last library, search options (QSettings, INI).

Stored in `posefinder.ini` under paths.config_dir(), so POSEFINDER_HOME isolates them (tests, portable
installs). Values are read back with their types and sane bounds: a hand-edited or damaged file never
breaks the app, it falls back to the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posefinder.models import paths

SETTINGS_FILE = "posefinder.ini"

#: Search options a user can set: defaults and bounds.
DEFAULT_K = 60
K_RANGE = (1, 1000)
DEFAULT_ORIENTATION = 0.0
ORIENTATION_RANGE = (0.0, 4.0)
#: How many recently opened libraries the File menu lists.
RECENT_LIBRARIES = 8


@dataclass
class SearchOptions:
    """What the results filters hold, beyond the pose itself."""

    mirror: bool = True
    k: int = DEFAULT_K
    orientation_weight: float = DEFAULT_ORIENTATION


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


class Settings:
    """Typed access to the app's QSettings (one INI file)."""

    def __init__(self, path: Path | None = None):
        from PySide6.QtCore import QSettings

        self.path = Path(path) if path is not None else settings_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        self._qs.sync()

    # -- raw typed values ----------------------------------------------------------------------------------
    def _get(self, key: str, default, kind) -> Any:
        value = self._qs.value(key, default)
        if value is None:
            return default
        try:
            if kind is bool:
                if isinstance(value, str):
                    return value.strip().lower() in ("1", "true", "yes", "on")
                return bool(value)
            return kind(value)
        except (TypeError, ValueError):
            return default

    # -- window --------------------------------------------------------------------------------------------
    def window_geometry(self):
        """QByteArray from QWidget.saveGeometry(), or None."""
        value = self._qs.value("window/geometry")
        return value if value else None

    def window_state(self):
        value = self._qs.value("window/state")
        return value if value else None

    def splitter_state(self):
        value = self._qs.value("window/splitter")
        return value if value else None

    def save_window(self, geometry, state, splitter) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)
        self._qs.setValue("window/splitter", splitter)

    # -- libraries -----------------------------------------------------------------------------------------
    def last_library(self) -> Path | None:
        value = self._get("library/last", "", str)
        return Path(value) if value else None

    def set_last_library(self, path: Path | None) -> None:
        self._qs.setValue("library/last", "" if path is None else str(path))
        if path is not None:
            recent = [p for p in self.recent_libraries() if p != Path(path)]
            recent.insert(0, Path(path))
            self._qs.setValue("library/recent", [str(p) for p in recent[:RECENT_LIBRARIES]])

    def recent_libraries(self) -> list[Path]:
        value = self._qs.value("library/recent", [])
        if isinstance(value, str):
            value = [value]
        elif not isinstance(value, list):  # None: none stored
            value = []
        return [Path(v) for v in value if v]

    # -- search options ------------------------------------------------------------------------------------
    def search_options(self) -> SearchOptions:
        k = self._get("search/k", DEFAULT_K, int)
        w = self._get("search/orientation", DEFAULT_ORIENTATION, float)
        return SearchOptions(
            mirror=self._get("search/mirror", True, bool),
            k=min(max(k, K_RANGE[0]), K_RANGE[1]),
            orientation_weight=min(max(w, ORIENTATION_RANGE[0]), ORIENTATION_RANGE[1]),
        )

    def set_search_options(self, options: SearchOptions) -> None:
        self._qs.setValue("search/mirror", bool(options.mirror))
        self._qs.setValue("search/k", int(options.k))
        self._qs.setValue("search/orientation", float(options.orientation_weight))

    # -- view ----------------------------------------------------------------------------------------------
    def tile_size(self, default: int) -> int:
        return min(max(self._get("view/tile", default, int), 96), 320)

    def set_tile_size(self, px: int) -> None:
        self._qs.setValue("view/tile", int(px))
