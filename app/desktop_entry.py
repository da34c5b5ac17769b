"""The app in the desktop's menu: a freedesktop .desktop file and the icon, installed for the user (Linux).

On Linux (and the BSDs) `install()` writes `posefinder.desktop` into $XDG_DATA_HOME/applications (else
~/.local/share/applications) and the icon into the hicolor theme beside it (256 px PNG and the scalable
SVG), so that menus, launchers and the task bar show PoseFinder with its icon. Exec names the `posefinder`
command of the running installation (a venv or pipx), so the entry starts this install whatever PATH holds.
macOS and Windows have no such folder: `instructions()` says what to do there instead.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from posefinder.models.atomic import write_bytes

#: The desktop file's id; also the application's desktop file name (QGuiApplication.setDesktopFileName),
#: which Wayland compositors use to match the window to the entry and its icon.
DESKTOP_ID = "posefinder"
ICON_NAME = "posefinder"


@dataclass(frozen=True)
class Installed:
    desktop_file: Path
    icons: tuple[Path, ...]


def icon_bytes(kind: str = "png") -> bytes:
    """The app's icon (resources/icons/posefinder.png or .svg)."""
    return resources.files("posefinder.resources").joinpath("icons").joinpath(f"{ICON_NAME}.{kind}").read_bytes()


def supported(platform: str | None = None) -> bool:
    platform = platform or sys.platform
    return not (platform.startswith(("win", "cygwin")) or platform == "darwin")


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_command() -> list[str]:
    """How the entry starts this installation: its `posefinder` script beside the interpreter, else
    `python -m posefinder` with this interpreter."""
    script = Path(sys.executable).with_name("posefinder.exe" if os.name == "nt" else "posefinder")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "posefinder"]


def _exec_quote(arg: str) -> str:
    """An argument of the Exec key (the Desktop Entry spec's quoting: double quotes, \\ " ` $ escaped)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg).replace("%", "%%")
    return f'"{escaped}"'


def desktop_file_text(command: list[str]) -> str:
    exec_line = " ".join(_exec_quote(a) for a in command)
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.0",
            "Name=PoseFinder",
            "GenericName=Pose reference search",
            "Comment=Find reference illustrations by pose",
            f"Exec={exec_line}",
            f"TryExec={command[0]}",
            f"Icon={ICON_NAME}",
            "Terminal=false",
            "Categories=Graphics;2DGraphics;RasterGraphics;",
            "Keywords=pose;reference;illustration;drawing;skeleton;",
            f"StartupWMClass={DESKTOP_ID}",
            "StartupNotify=true",
            "",
        ]
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)


def install(root: Path | None = None, command: list[str] | None = None) -> Installed:
    """Write the desktop file and the icons under root (default: the user's XDG data folder)."""
    root = Path(root) if root is not None else data_home()
    icons = (
        root / "icons" / "hicolor" / "256x256" / "apps" / f"{ICON_NAME}.png",
        root / "icons" / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg",
    )
    _write(icons[0], icon_bytes("png"))
    _write(icons[1], icon_bytes("svg"))
    desktop = root / "applications" / f"{DESKTOP_ID}.desktop"
    _write(desktop, desktop_file_text(command or launcher_command()).encode("utf-8"))
    desktop.chmod(0o755)  # some desktops only launch entries that are executable
    return Installed(desktop, icons)


def instructions(platform: str | None = None) -> str:
    """What to do on a system without freedesktop menus."""
    platform = platform or sys.platform
    command = " ".join(shlex.quote(a) for a in launcher_command())
    if platform == "darwin":
        return ("macOS has no desktop entries to install: start PoseFinder from Terminal with "
                f"`{command}`, or make it a Dock app with Automator (New > Application > Run Shell Script: "
                f"{command}) and save it into /Applications.")  # fmt: skip
    return ("Windows has no desktop entries to install: right-click the desktop > New > Shortcut, enter "
            f"{command} as the location and name it PoseFinder (then pin it to Start or the task bar).")  # fmt: skip
