"""One module per `posefinder-train` subcommand.

Each module defines HELP (one line), add_arguments(parser) and run(args) -> exit code, and imports
nothing heavy (torch, Lightning) at module level, so that `posefinder-train --help` starts fast. Training
commands add the shared Trainer options with posefinder.build.trainer.add_trainer_arguments(parser).
"""
