"""`posefinder-train finetune`: fine-tune the installed pose model on a library's hand-corrected poses."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HELP = ("fine-tune the installed pose model on the poses corrected by hand in a library; installs the result "
        "only when it is better on held-out corrections")  # fmt: skip


def add_arguments(parser) -> None:
    from posefinder.build.finetune import MIN_CORRECTIONS, FinetuneOptions

    d = FinetuneOptions(library=Path("."))
    parser.add_argument("--library", required=True, type=Path, metavar="LIB",
                        help=f"library folder whose hand-edited poses are the examples (at least {MIN_CORRECTIONS})")
    parser.add_argument("--model", metavar="NAME",
                        help="installed model to fine-tune (default: the one auto-pose uses; `posefinder models list`)")
    parser.add_argument("--name", help="name of the new version (default: <base>-ftN)")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, metavar="N",
                        help=f"crops per step (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate, cosine schedule (default {d.lr:g})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of the split and the training (default {d.seed})")
    parser.add_argument("--held-out", type=float, default=d.held_out, metavar="F",
                        help=f"share of the corrections held out to judge the result, by image, at least 0.2 "
                             f"(default {d.held_out:g})")
    parser.add_argument("--rotation", type=float, default=d.rotation, metavar="DEG",
                        help=f"largest random rotation of training crops (default {d.rotation:g})")
    parser.add_argument("--rehearse", type=float, default=None, metavar="F",
                        help="share of the training crops drawn from the base's own synthetic training figures, so "
                             "it keeps what it knew (default: 0.5 when the base's card lists synthetic figures, "
                             "else 0)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="working folder to keep (default: a temporary one)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    from posefinder.build.finetune import FinetuneOptions, finetune, log_line

    options = FinetuneOptions(
        library=args.library, model=args.model, name=args.name, steps=args.steps, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, held_out=args.held_out, rotation=args.rotation, out=args.out, threads=args.threads,
        rehearse=args.rehearse,
    )  # fmt: skip
    interactive = sys.stderr.isatty() and not args.json
    last = [""]

    def progress(fraction: float, message: str) -> None:
        step = re.match(r"training step (\d+)/(\d+)", message)
        every = 1 if interactive else 10  # logs and batch jobs: every tenth step, and the last
        if message == last[0] or (step and int(step[1]) % every and step[1] != step[2]):
            return
        last[0] = message
        log_line(f"[{fraction * 100:3.0f}%] {message}")

    result = finetune(options, progress=progress)
    for line in result.skipped:
        log_line(f"left out {line}")
    if args.json:
        print(json.dumps({
            "base": result.base, "architecture": result.architecture, "corrections": result.corrections,
            "train": result.train, "held_out": result.held_out, "before": result.before, "after": result.after,
            "installed": result.installed, "reason": result.reason, "steps": result.steps, "seconds": result.seconds,
        }, indent=1))  # fmt: skip
    else:
        print(result.summary())
    return 0
