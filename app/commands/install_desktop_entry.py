"""`posefinder install-desktop-entry`: PoseFinder in the desktop's application menu (see app/desktop_entry.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HELP = "add PoseFinder with its icon to the desktop's application menu (Linux; says what to do elsewhere)"


def add_arguments(parser) -> None:
    parser.add_argument("--data-home", type=Path, metavar="DIR",
                        help="install under this folder instead of $XDG_DATA_HOME (~/.local/share)")  # fmt: skip


def run(args) -> int:
    from posefinder.app import desktop_entry

    if not desktop_entry.supported():
        print(desktop_entry.instructions(), file=sys.stderr)
        return 1
    try:
        done = desktop_entry.install(args.data_home)
    except OSError as exc:
        from posefinder.models.errors import PoseFinderError

        raise PoseFinderError(f"cannot write the desktop entry: {exc}") from exc
    print(f"installed {done.desktop_file}")
    for icon in done.icons:
        print(f"installed {icon}")
    updater = shutil.which("update-desktop-database")
    if updater:  # refreshes the menu's cache at once where the desktop keeps one
        subprocess.run([updater, str(done.desktop_file.parent)], capture_output=True, check=False)
    return 0
