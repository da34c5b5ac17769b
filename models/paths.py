"""Where PoseFinder keeps the user's files: data (models, demo library), cache and config folders.

POSEFINDER_HOME, when set, is the root of all of them (tests and portable installs set it):
    $POSEFINDER_HOME/data, $POSEFINDER_HOME/data/models, $POSEFINDER_HOME/cache, $POSEFINDER_HOME/config.
Otherwise platformdirs gives the usual per-user folders of the operating system. Folders are created on
first use. Nothing here imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "posefinder"
HOME_ENV = "POSEFINDER_HOME"


def _root() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path:
    """The user's PoseFinder data folder (installed models, the demo library)."""
    root = _root()
    if root is not None:
        return _ensure(root / "data")
    import platformdirs

    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)))


def models_dir() -> Path:
    """The folder of installed pose models (safetensors + JSON card pairs)."""
    return _ensure(user_data_dir() / "models")


def cache_dir() -> Path:
    """The user's PoseFinder cache folder (derived files that can be rebuilt)."""
    root = _root()
    if root is not None:
        return _ensure(root / "cache")
    import platformdirs

    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)))


def config_dir() -> Path:
    """The user's PoseFinder settings folder."""
    root = _root()
    if root is not None:
        return _ensure(root / "config")
    import platformdirs

    return _ensure(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)))


def torch_hub_dir() -> Path:
    """torch.hub's folder (where torchvision keeps downloaded weights), computed without importing torch.

    Same rule as torch.hub.get_dir(): $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub.
    """
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        torch_home = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"
