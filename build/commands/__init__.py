"""One module per `posefinder-train` subcommand: HELP, add_arguments(parser), run(args) -> exit code.

Nothing heavy (torch, lightning) is imported at module level, so that `posefinder-train --help` starts fast.
"""
