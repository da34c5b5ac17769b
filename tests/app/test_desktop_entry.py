"""`posefinder install-desktop-entry` (issue 19 point 4) and the app's icon and name in its windows."""

from __future__ import annotations

import configparser
import os

import pytest

from posefinder.app import desktop_entry
from posefinder.app.cli import main

pytestmark = pytest.mark.torchfree


def _entry(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = lambda optionstr: optionstr  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


@pytest.mark.skipif(not desktop_entry.supported(), reason="freedesktop entries are for Linux and the BSDs")
def test_the_entry_and_icons_land_in_the_users_applications_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["install-desktop-entry"]) == 0
    desktop = tmp_path / "applications" / "posefinder.desktop"
    entry = _entry(desktop)
    assert entry["Type"] == "Application" and entry["Name"] == "PoseFinder" and entry["Icon"] == "posefinder"
    assert entry["Terminal"] == "false" and "Graphics" in entry["Categories"].split(";")
    program = entry["TryExec"]
    assert os.path.isfile(program) and entry["Exec"].startswith(desktop_entry._exec_quote(program))
    png = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "posefinder.png"
    svg = tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "posefinder.svg"
    assert png.read_bytes() == desktop_entry.icon_bytes("png") and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.read_bytes() == desktop_entry.icon_bytes("svg") and b"<svg" in svg.read_bytes()
    assert str(desktop) in capsys.readouterr().out
    # again: replaced in place, nothing else left behind
    assert main(["install-desktop-entry"]) == 0
    assert sorted(p.name for p in desktop.parent.iterdir()) == ["posefinder.desktop"]


def test_exec_quotes_paths_with_spaces_and_reserved_characters():
    text = desktop_entry.desktop_file_text(["/home/a b/venv/bin/posefinder", "100%"])
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/home/a b/venv/bin/posefinder" "100%%"'
    assert "\nExec=/usr/bin/posefinder\n" in desktop_entry.desktop_file_text(["/usr/bin/posefinder"])


@pytest.mark.parametrize("platform, word", [("darwin", "macOS"), ("win32", "Windows")])
def test_macos_and_windows_get_what_to_do_and_a_non_zero_exit(platform, word, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.platform", platform)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["install-desktop-entry"]) == 1
    err = capsys.readouterr().err
    assert word in err and desktop_entry.launcher_command()[0] in err
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    if not desktop_entry.supported():
        pytest.skip("freedesktop entries are for Linux and the BSDs")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["install-desktop-entry", "--data-home", str(blocker)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("posefinder: error: cannot write the desktop entry") and "\n" not in err


def test_the_app_carries_its_icon_and_desktop_file_name(qapp):
    from posefinder.app.gui import set_app_icon

    set_app_icon(qapp)
    icon = qapp.windowIcon()
    assert not icon.isNull() and max(s.width() for s in icon.availableSizes()) >= 256
    assert qapp.desktopFileName() == "posefinder"
