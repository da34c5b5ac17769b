"""The user's PoseFinder folders: data (demo library, models), config (settings) and cache.

All of them live under POSEFINDER_HOME when that environment variable is set (tests set it to a temporary
folder, and users may set it to keep PoseFinder portable); otherwise they are the platform's usual places
from platformdirs. The functions only name the folders; pass create=True to make them exist.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "posefinder"

#: Environment variable that, when set, is the root of every user folder PoseFinder uses.
HOME_ENV = "POSEFINDER_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _made(path: Path, create: bool) -> Path:
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir(create: bool = False) -> Path:
    """Where PoseFinder keeps the user's data: installed models, the demo library."""
    home = _home()
    if home is not None:
        return _made(home / "data", create)
    import platformdirs

    return _made(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)), create)


def config_dir(create: bool = False) -> Path:
    """Where PoseFinder keeps settings."""
    home = _home()
    if home is not None:
        return _made(home / "config", create)
    import platformdirs

    return _made(Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)), create)


def cache_dir(create: bool = False) -> Path:
    """Where PoseFinder keeps files it can recreate (downloads, temporary renders)."""
    home = _home()
    if home is not None:
        return _made(home / "cache", create)
    import platformdirs

    return _made(Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)), create)


def models_dir(create: bool = False) -> Path:
    """Where installed model weights and their cards live (the model store)."""
    return _made(user_data_dir() / "models", create)


def demo_dir(create: bool = False) -> Path:
    """Where `posefinder demo` builds its synthetic library."""
    return _made(user_data_dir() / "demo", create)


def torch_hub_dir() -> Path:
    """torch.hub's folder (where torchvision keeps downloaded weights), computed without importing torch.

    Same rule as torch.hub.get_dir(): $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub.
    """
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        torch_home = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(torch_home)) / "hub"
