"""`posefinder-train index`: estimate the poses of a large image collection into a library, in batches on GPUs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HELP = ("batch-index image folders into a library (incremental): parallel decoding, batched estimation on one "
        "or more devices; the app and `posefinder search` open the result")


def add_arguments(parser) -> None:
    parser.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                        help="image folders to add and index (default: the library's folders)")
    parser.add_argument("--library", required=True, type=Path, metavar="LIB",
                        help="library folder (created if missing)")
    parser.add_argument("--model", metavar="NAME|FILE",
                        help="installed model, chain estimator name, or model file (.safetensors) (default: the "
                             "chain's first available)")
    parser.add_argument("--device", default="auto", metavar="DEVICES",
                        help="cpu, cuda, a list like cuda:0,cuda:1 (one model copy per device), auto (the first GPU, "
                             "else the CPU) or all (every GPU) (default auto)")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N", help="images per network batch (default 16)")
    parser.add_argument("--workers", type=int, default=4, metavar="N",
                        help="image-decoding worker processes (0: decode in this process) (default 4)")
    parser.add_argument("--commit-every", type=int, default=None, metavar="N",
                        help="images per library transaction; an interruption loses at most these (default: 4 "
                             "batches per device, at least 64)")
    parser.add_argument("--no-thumbnails", action="store_true", help="do not write thumbnails")
    cluster = parser.add_argument_group("on a Ray cluster (the cluster extra: pip install 'posefinder[cluster]')")
    cluster.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                         help="estimate on Ray: without ADDRESS a local Ray instance, with one (auto, or HOST:PORT "
                              "of `ray start --head`) a running cluster; the folders and a model file must be at the "
                              "same path on every node. --device is then auto, cuda (one actor per GPU) or cpu")
    cluster.add_argument("--actors", type=int, default=None, metavar="N",
                         help="estimation actors (default: one per GPU of the cluster, else one per CPU but one)")
    cluster.add_argument("--cpus-per-actor", type=float, default=1.0, metavar="N",
                         help="CPUs each estimation actor reserves on a CPU cluster (default 1)")


def run(args) -> int:
    from posefinder.models.errors import LibraryError
    from posefinder.models.library import Library

    for f in args.folders:
        if not f.is_dir():
            raise LibraryError(f"{f}: no such folder")
    if args.batch_size < 1 or args.workers < 0 or (args.commit_every is not None and args.commit_every < 1):
        raise LibraryError("--batch-size and --commit-every must be at least 1, --workers at least 0")
    ray_runner = _ray_runner(args) if args.ray else None
    runner, estimators = (ray_runner, None) if ray_runner is not None else _local_runner(args)
    try:
        return _index(args, runner, estimators, Library)
    finally:
        if ray_runner is not None:
            ray_runner.close()


def _local_runner(args):
    from posefinder.build.indexing import BatchRunner, parse_devices, resolve_estimator
    from posefinder.models.errors import LibraryError

    try:
        devices = parse_devices(args.device)
    except ValueError as exc:
        raise LibraryError(f"--device: {exc}") from None
    estimators = [resolve_estimator(args.model, device=d) for d in devices]
    return BatchRunner(estimators, batch_size=args.batch_size, workers=args.workers), estimators


def _ray_runner(args):
    from posefinder.build.cluster import RayRunner, check_reachable, import_ray
    from posefinder.build.indexing import resolve_estimator
    from posefinder.models.errors import LibraryError

    import_ray()  # says how to install it before anything is loaded
    if args.actors is not None and args.actors < 1:
        raise LibraryError("--actors must be at least 1")
    address = None if args.ray == "local" else args.ray
    check_reachable(address)
    resolve_estimator(args.model, device="cpu")  # a model that cannot load fails here, in one line, not on every actor
    return RayRunner(args.model, address=address, device=args.device, batch_size=args.batch_size, actors=args.actors,
                     cpus_per_actor=args.cpus_per_actor, thumbnails=not args.no_thumbnails, progress=True)  # fmt: skip


def _index(args, runner, estimators, Library) -> int:
    from posefinder.models.errors import LibraryError

    created = not (args.library / "library.sqlite").exists()
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if args.ray:  # the runner's bar counts images done, failed and left
            return
        now = time.perf_counter()
        if done == total or now - last[0] > 2.0:
            last[0] = now
            rate = runner.images_seen / max(now - started, 1e-9)
            print(f"posefinder-train: indexed {done}/{total} images ({rate:.1f} img/s)", file=sys.stderr, flush=True)

    with Library.open(args.library, create=True) as lib:
        if created:
            print(f"created library {lib.path}")
        if not args.folders and not lib.folders():
            raise LibraryError(f"{lib.path} has no image folders yet; give one: posefinder-train index FOLDER "
                               f"--library {args.library}")  # fmt: skip
        report = lib.index(
            folders=args.folders or None, runner=runner, progress=progress,
            batch_size=args.commit_every or runner.commit_size, thumbnails=not args.no_thumbnails,
            log=lambda line: print(f"posefinder-train: {line}", file=sys.stderr),
        )  # fmt: skip
        counts = lib.counts()
    elapsed = time.perf_counter() - started
    print(report.summary())
    where = runner.describe() if estimators is None else ", ".join(getattr(e, "device", "cpu") for e in estimators)
    print(f"library: {counts.images} images, {counts.poses} poses; {runner.images_seen} images estimated in "
          f"{elapsed:.1f} s on {where}")
    if report.unavailable_line():
        print(f"posefinder-train: {report.unavailable_line()}", file=sys.stderr)
    if report.skipped:
        print(f"posefinder-train: {len(report.skipped)} entries skipped: not regular files (FIFOs, sockets, devices)", file=sys.stderr)
    if report.bad:
        print(f"posefinder-train: error: {len(report.bad)} images could not be read; the others are indexed",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
