"""One module per `posefinder` subcommand.

Each module defines HELP (one line), add_arguments(parser) and run(args) -> exit code, and imports
nothing heavy (torch, Qt) at module level, so that `posefinder --help` and `posefinder search` start fast.
"""
