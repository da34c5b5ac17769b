"""Before the first window on a Linux X11 desktop: are the system libraries Qt's xcb platform plugin needs there?

Without them Qt prints "Could not load the Qt platform plugin "xcb"" and aborts the process (rc 134). PySide6's
wheels bundle Qt but not the X11 libraries its xcb plugin links against (libxcb-cursor0, libxcb-icccm4, ...),
which minimal images and many desktops lack. This module reads the plugin's own ELF dependencies (DT_NEEDED of
libqxcb.so and of the libQt6XcbQpa it loads), tries to load each one the wheel does not bundle, and names the
missing ones with the command that installs them (apt, dnf, pacman). Nothing here imports Qt.

    check_platform()   raises PlatformError (the message names the libraries and the commands) or returns
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import struct
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from posefinder.models.errors import PoseFinderError

#: soname -> (Debian/Ubuntu, Fedora, Arch) package: Qt's "Linux requirements" (doc.qt.io/qt-6/linux-requirements)
#: and what libqxcb.so of PySide6 6.5-6.11 links against.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
}

#: (system, install command, package manager executable): the order PACKAGES' tuples follow.
INSTALLERS: tuple[tuple[str, str, str], ...] = (
    ("Debian/Ubuntu", "sudo apt install", "apt-get"),
    ("Fedora", "sudo dnf install", "dnf"),
    ("Arch", "sudo pacman -S", "pacman"),
)

#: The xcb plugin and the Qt library it loads, relative to PySide6's Qt folder.
PLUGIN_FILES = ("plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6")


class PlatformError(PoseFinderError):
    """The window system cannot work here; the message says what to install or set."""


def uses_xcb(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt would open its windows through xcb (X11): Linux, and QT_QPA_PLATFORM unset (outside a
    Wayland session) or naming xcb first."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if chosen:
        return chosen == "xcb"
    return not (environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE", "").lower() == "wayland")


def needed_libraries(path: str | Path) -> list[str]:
    """The DT_NEEDED sonames of an ELF shared object (what the dynamic loader must find for it), in order."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path}: not an ELF file")
    is64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    if is64:
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(e + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(e + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _, stype, _, _, soff, ssize, link = struct.unpack_from(e + "IIQQQQI", data, off)
        else:
            _, stype, _, _, soff, ssize, link = struct.unpack_from(e + "IIIIIII", data, off)
        sections.append((stype, soff, ssize, link))
    names: list[str] = []
    for stype, soff, ssize, link in sections:
        if stype != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][1]
        entry = struct.Struct(e + ("qQ" if is64 else "iI"))
        for pos in range(soff, soff + ssize, entry.size):
            tag, value = entry.unpack_from(data, pos)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                names.append(data[strtab + value:end].decode())
    return names


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def qt_folder() -> Path | None:
    """PySide6's Qt folder (plugins/, lib/), found without importing PySide6; None when it is not installed."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def missing_libraries(files: Iterable[Path], bundled: Path | None = None,
                      loads: Callable[[str], bool] = _loads) -> list[str]:  # fmt: skip
    """The sonames the files need that neither the folder `bundled` (the wheel's Qt libraries) holds nor the
    system's loader finds, in the order first needed."""
    missing: list[str] = []
    for path in files:
        if not Path(path).is_file():
            continue
        for soname in needed_libraries(path):
            if soname in missing or (bundled is not None and (bundled / soname).exists()):
                continue
            if not loads(soname):
                missing.append(soname)
    return missing


def install_advice(missing: list[str], have: Callable[[str], object] = shutil.which) -> list[str]:
    """One line per package manager (those found on this system, else all three): the command that installs
    the packages holding the missing libraries."""
    lines = []
    chosen = [i for i, (_, _, exe) in enumerate(INSTALLERS) if have(exe)] or list(range(len(INSTALLERS)))
    for i in chosen:
        system, command, _ = INSTALLERS[i]
        packages = dict.fromkeys(PACKAGES[s][i] if s in PACKAGES else f"<the package holding {s}>" for s in missing)
        lines.append(f"  {system + ':':<15}{command} {' '.join(packages)}")
    return lines


def check_platform(environ: Mapping[str, str] = os.environ, platform: str = sys.platform,
                   loads: Callable[[str], bool] | None = None, qt: Path | None = None) -> None:  # fmt: skip
    """Raise PlatformError when Qt's xcb plugin would abort: no X display to talk to, or system libraries it
    needs are missing (named, with the command that installs them). Returns at once off Linux, on Wayland and
    on the offscreen or other platforms."""
    if not uses_xcb(environ, platform):
        return
    qt = qt if qt is not None else qt_folder()
    if qt is not None:
        missing = missing_libraries([qt / f for f in PLUGIN_FILES], qt / "lib", loads or _loads)
        if missing:
            raise PlatformError(
                "Qt's X11 platform plugin (xcb) cannot load: these system libraries are missing: "
                + ", ".join(missing) + ". Install them with:\n" + "\n".join(install_advice(missing))
            )
    if not environ.get("DISPLAY"):
        raise PlatformError(
            "no X display to open the window on (DISPLAY is not set): start PoseFinder from a desktop session, "
            "or set QT_QPA_PLATFORM=offscreen for screenshots"
        )
