"""The `posefinder-train` command line: train the tagger, segmenter and pose models, evaluate, batch-index.

Same contract as posefinder.app.cli: COMMANDS maps a subcommand to a module under posefinder.build.commands
(HELP, add_arguments(parser), run(args) -> int). Errors the user can fix (PoseFinderError) print one line
and exit 1; usage errors exit 2; bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from posefinder import __version__
from posefinder.models.errors import PoseFinderError

#: subcommand -> module under posefinder.build.commands. A module not present in this installation (a
#: command still being written on another branch) is left out of the parser rather than failing it.
COMMANDS: dict[str, str] = {
    "tagger": "tagger",
    "segmenter": "segmenter",
    "pose": "pose",
    "finetune": "finetune",
    "evaluate": "evaluate",
    "index": "index",
    "onnx-templates": "onnx_templates",
}

PACKAGE = "posefinder.build.commands"


def available_commands() -> dict[str, str]:
    """The COMMANDS whose modules exist here."""
    return {name: mod for name, mod in COMMANDS.items() if importlib.util.find_spec(f"{PACKAGE}.{mod}") is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="posefinder-train",
        description="Train PoseFinder's networks (Chen & Zwicker, WACV 2022), evaluate them, and batch-index "
        "large image collections. Needs the [train] extra (PyTorch Lightning).",
    )
    parser.add_argument("--version", action="version", version=f"posefinder-train {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in available_commands().items():
        module = importlib.import_module(f"{PACKAGE}.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _command=name)
    return parser


def error(message: str) -> None:
    """Print a one-line error for the user."""
    print(f"posefinder-train: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
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
        error("interrupted (resume from the run folder's checkpoints/last.ckpt by running the same command)")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
