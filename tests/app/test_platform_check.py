"""Start-up on a Linux desktop: the X11 libraries of Qt's xcb plugin are checked before the first window
(app/gui/platform_check.py), and with them present the app opens in a real X window (under Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from posefinder.app.gui import platform_check as pc

QT = pc.qt_folder()
PLUGIN = QT / pc.PLUGIN_FILES[0] if QT else None
needs_plugin = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and PLUGIN is not None and PLUGIN.is_file()),
    reason="needs Linux and PySide6's xcb plugin (libqxcb.so)",
)


@needs_plugin
def test_the_plugins_own_dependencies_are_read_from_its_elf_header():
    assert QT is not None and PLUGIN is not None
    needed = pc.needed_libraries(PLUGIN)
    assert "libxcb.so.1" in needed and "libxcb-cursor.so.0" in needed and "libQt6XcbQpa.so.6" in needed
    # everything the plugin needs from the system has an install command; the wheel's own Qt is skipped
    system = [s for s in needed + pc.needed_libraries(QT / pc.PLUGIN_FILES[1]) if not (QT / "lib" / s).exists()]
    unknown = [s for s in system if s not in pc.PACKAGES and not s.startswith(("libc.", "libm.", "libstdc++",
                                                                               "libgcc_s", "libpthread", "libdl."))]
    assert not unknown


@needs_plugin
def test_missing_libraries_are_named_with_the_commands_that_install_them():
    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    with pytest.raises(pc.PlatformError) as err:
        pc.check_platform({"DISPLAY": ":0"}, "linux", loads=lambda s: s not in absent)
    text = str(err.value)
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in text
    assert "apt install libxcb-cursor0 libxcb-icccm4" in text or "dnf" in text or "pacman" in text
    every = pc.install_advice(["libxcb-cursor.so.0", "libxcb-icccm.so.4"], have=lambda exe: None)
    assert every == [
        "  Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4",
        "  Fedora:        sudo dnf install xcb-util-cursor xcb-util-wm",
        "  Arch:          sudo pacman -S xcb-util-cursor xcb-util-wm",
    ]
    assert pc.install_advice(["libxcb-cursor.so.0"], have=lambda exe: exe == "pacman") == [
        "  Arch:          sudo pacman -S xcb-util-cursor"
    ]


@needs_plugin
def test_nothing_missing_and_a_display_passes():
    pc.check_platform({"DISPLAY": ":0"}, "linux", loads=lambda s: True)


def test_no_display_is_named():
    with pytest.raises(pc.PlatformError, match="DISPLAY is not set"):
        pc.check_platform({}, "linux", loads=lambda s: True)


@pytest.mark.parametrize(
    "environ, platform, xcb",
    [
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux", False),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
        ({}, "win32", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ],
)
def test_only_the_xcb_platform_is_checked(environ, platform, xcb):
    assert pc.uses_xcb(environ, platform) is xcb
    if not xcb:
        pc.check_platform(environ, platform, loads=lambda s: False)  # nothing to check: returns


def _posefinder(code: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


@needs_plugin
def test_posefinder_exits_1_naming_a_missing_library_instead_of_aborting(tmp_path):
    code = (
        "import sys; from posefinder.app.gui import platform_check as pc\n"
        "pc._loads = lambda soname: soname != 'libxcb-cursor.so.0'\n"
        "from posefinder.app.cli import main; sys.exit(main(['gui']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    proc = _posefinder(code, {**env, "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("posefinder: error: Qt's X11 platform plugin (xcb) cannot load")
    assert "libxcb-cursor.so.0" in proc.stderr and "libxcb-cursor0" in proc.stderr
    assert "Could not load the Qt platform plugin" not in proc.stderr


@pytest.fixture
def xvfb_display():
    """A running Xvfb server's DISPLAY, or a skip that says why there is none."""
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 (Xvfb) is a Linux test")
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (Debian/Ubuntu: sudo apt install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen([exe, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_the_app_opens_in_a_real_x_window(tmp_path, xvfb_display):
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=xvfb_display)
    try:
        pc.check_platform(env)
    except pc.PlatformError as exc:
        pytest.skip(f"this system cannot run Qt's xcb plugin: {exc}")
    out = tmp_path / "window.png"
    code = (
        "import sys\nfrom posefinder.app.cli import main\n"
        f"rc = main(['gui', '--screenshot', {str(out)!r}])\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "print('platform', QGuiApplication.platformName())\nsys.exit(rc)\n"
    )
    proc = _posefinder(code, env)
    assert proc.returncode == 0, proc.stderr
    assert "platform xcb" in proc.stdout
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (1440, 880) and len(img.convert("RGB").getcolors(1 << 20) or []) > 10
