"""The `posefinder` command line: subcommands for the GUI, the demo, indexing, search, auto-pose and models.

Errors the user can fix (PoseFinderError) print one line and exit 1; usage errors exit 2; bugs keep their
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from posefinder import __version__
from posefinder.models.errors import PoseFinderError

#: subcommand -> module under posefinder.app.commands (see its __init__ for the contract).
COMMANDS: dict[str, str] = {
    "gui": "gui",
    "demo": "demo",
    "import": "import_poses",
    "export-corrections": "export_corrections",
    "index": "index",
    "search": "search",
    "tags": "tags",
    "pose": "pose",
    "models": "models",
    "install-desktop-entry": "install_desktop_entry",
}

#: What `posefinder` with no subcommand runs.
DEFAULT_COMMAND = "gui"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posefinder",
        description="Find reference illustrations by pose. With no command, opens the app on the last library.",
    )
    parser.add_argument("--version", action="version", version=f"posefinder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"posefinder.app.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def error(message: str) -> None:
    """Print a one-line error for the user."""
    print(f"posefinder: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv and DEFAULT_COMMAND in COMMANDS:
        argv = [DEFAULT_COMMAND]
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except PoseFinderError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:  # `posefinder search ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
