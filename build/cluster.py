"""Batch indexing on a Ray cluster (the [cluster] extra): a streaming runner for the library's indexer.

    runner = RayRunner("model.safetensors", address="auto")      # or None: a local Ray instance
    with Library.open(path, create=True) as lib:
        report = lib.index([folder], runner=runner, batch_size=runner.commit_size)
    runner.close()

The driver (this process) scans the folders against the library as one machine does (models/library/
indexer.py: unchanged files skipped, moves recognised, hand-edited poses kept, deleted files pruned) and
stays the library's single writer. What must be estimated goes to Ray Data as one streaming dataset:

    groups of batch_size paths
          -> map_batches(_decode_group): CPU tasks on any node: content hash, decode, thumbnail
          -> map_batches(_Estimate, ActorPoolStrategy): one actor per GPU (else per CPU slot), each loading
             the model once, estimating each group as one batch (build/indexing.py's BatchRunner._estimate:
             the one-machine path's code and batches, so the poses are the same)
          -> the driver, which commits the results batch by batch as they arrive.

Only the poses, the image size, the content hash and the thumbnail's JPEG bytes come back to the driver,
never the pixels. Ray restarts a killed actor and retries its tasks (Ray Data's defaults for actor pools:
max_restarts=-1, max_task_retries=-1; tasks: max_retries); the indexer keeps the first answer for a path, so
a retry never stores an image twice. The files must be on storage every node reads at the same path.

Results cross processes as pickles made by this module's own tasks inside the cluster (as Ray itself ships
every object); no file from a user's disk is ever unpickled.
"""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path
from functools import partial
from typing import Any, Iterator, Sequence

import numpy as np

from posefinder.models.errors import ImageError, LibraryError, PoseFinderError

#: the message where Ray is not installed
INSTALL_HINT = "indexing on a Ray cluster needs the cluster extra: pip install 'posefinder[cluster]'"
#: Memory a decoding task asks Ray for: a batch of decoded images and their thumbnails.
DECODE_MEMORY = 256 * 2**20

def import_ray():
    """The ray module, or LibraryError with how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise LibraryError(INSTALL_HINT) from None
    return ray


def _decode_group(batch: Any, thumbnails: bool) -> dict:
    """A decoding task: per group of paths (one network batch), per path the content hash, the decoded image
    and its thumbnail bytes, or why not."""
    from posefinder.models.imageio import read_image
    from posefinder.models.library.indexer import file_hash
    from posefinder.models.library.thumbs import encode_thumbnail

    groups = []
    for paths in batch["paths"]:
        samples = []
        for path in paths:
            path = str(path)
            digest, reason = file_hash(Path(path))
            image, info = None, {"hash": digest, "error": ImageError(reason) if reason else None, "canvas": None}
            if reason is None:
                try:
                    decoded = read_image(path)
                    image = decoded.image
                    info["canvas"] = tuple(decoded.canvas_size) if decoded.canvas_size else None
                    info["thumb"] = encode_thumbnail(image) if thumbnails else None
                except PoseFinderError as exc:
                    info["error"] = exc if isinstance(exc, ImageError) else ImageError(str(exc))
            samples.append((path, image, info))
        groups.append(pickle.dumps(samples, protocol=5))
    return {"group": np.array(groups, dtype=object)}


class _Estimate:
    """An estimation actor: loads the model once, then estimates each group of decoded images as one batch."""

    def __init__(self, model, device: str, threads: int | None) -> None:
        if threads:
            import torch

            torch.set_num_threads(int(threads))
        self.estimator = _load(model, device)

    def __call__(self, batch: Any) -> dict:
        return {"out": np.array([pickle.dumps(self.estimate(pickle.loads(g))) for g in batch["group"]], dtype=object)}

    def estimate(self, group: list) -> list[tuple]:
        """[(path, image, info)] -> [(path, poses | PoseFinderError, DecodedElsewhere, canvas size)]."""
        from posefinder.build.indexing import BatchRunner
        from posefinder.models.imageio.decoded import Decoded
        from posefinder.models.library.indexer import DecodedElsewhere

        samples = [(k, image, info["error"], info["canvas"]) for k, (_, image, info) in enumerate(group)]
        results = BatchRunner._estimate(self.estimator, samples)
        out = []
        for (path, image, info), result in zip(group, results):
            size = (None, None)
            if info["error"] is not None:
                result = info["error"]
            else:
                size = (int(image.shape[1]), int(image.shape[0]))
                if isinstance(result, list):  # a working file's preview: poses in canvas pixels
                    result = Decoded(image, kind="", canvas_size=info["canvas"]).to_canvas(result)
            elsewhere = DecodedElsewhere(*size, content_hash=info["hash"], thumbnail=info.get("thumb"))
            out.append((path, result, elsewhere, info["canvas"]))
        return out


def _hash_group(batch: Any) -> dict:
    """A hashing task: per group of paths, [(path, (hex or None, why not))]."""
    from posefinder.models.library.indexer import file_hash

    out = [pickle.dumps([(Path(str(p)), file_hash(Path(str(p)))) for p in paths]) for paths in batch["paths"]]
    return {"hashes": np.array(out, dtype=object)}


def _load(model, device: str):
    """The estimator of a model spec: a callable (device -> estimator), a model file or an installed name."""
    if callable(model):
        return model(device)
    from posefinder.build.indexing import resolve_estimator

    return resolve_estimator(model, device=device)


class RayRunner:
    """A streaming runner for index_folders (models/library/indexer.py) that estimates on a Ray cluster.

    model: a model file (.safetensors, on storage every node reads), an installed model's or chain
    estimator's name (installed on every node), or a picklable callable device -> estimator.
    address: None starts a local Ray instance (unless this process already joined one); "auto" or
    "HOST:PORT" joins a running cluster. device: "auto" (GPUs where the cluster has them, else CPU), "cuda"
    or "cpu". actors: estimation actors (default: one per GPU, or one per cpus_per_actor CPUs on CPU,
    leaving a CPU for decoding); threads: torch threads per CPU actor (default cpus_per_actor).
    batch_size: images per network batch (and per decoding task).
    """

    def __init__(
        self,
        model,
        *,
        address: str | None = None,
        device: str = "auto",
        batch_size: int = 16,
        actors: int | None = None,
        cpus_per_actor: float = 1.0,
        threads: int | None = None,
        thumbnails: bool = True,
        progress: bool = False,
        init_kwargs: dict | None = None,
    ) -> None:
        if batch_size < 1 or (actors is not None and actors < 1) or cpus_per_actor <= 0:
            raise LibraryError("batch size and actors must be at least 1, CPUs per actor above 0")
        if device not in ("auto", "cpu", "cuda"):
            raise LibraryError(f"--device {device}: on a Ray cluster use auto, cuda or cpu (each actor gets its GPU)")
        self.ray = import_ray()
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines would drown the bar
        self._started = False
        if not self.ray.is_initialized():
            check_reachable(address)
            try:
                # "local": a new instance, even where `ray start` left one running on this machine
                self.ray.init(address=address or "local", log_to_driver=False, **(init_kwargs or {}))
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise LibraryError(f"cannot join the Ray cluster at {address}: {exc}") from None
            self._started = True
        self.model, self.batch_size = model, int(batch_size)
        self.thumbnails, self.progress, self.cpus_per_actor = thumbnails, progress, float(cpus_per_actor)
        resources = self.ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1))
        if device == "cuda" and gpus == 0:
            raise LibraryError("--device cuda: the Ray cluster has no GPUs; use --device cpu")
        self.use_gpu = gpus > 0 and device != "cpu"
        self.device = "cuda" if self.use_gpu else "cpu"
        if actors is None:
            actors = gpus if self.use_gpu else max(1, int((cpus - 1) // self.cpus_per_actor))
        self.actors = int(actors)
        self.threads = threads if threads is not None else (None if self.use_gpu else max(1, round(cpus_per_actor)))
        self.images_seen = 0
        self.failed = 0

    @property
    def commit_size(self) -> int:
        """Images per library transaction: enough to keep every actor busy between two commits."""
        return max(64, 2 * self.batch_size * self.actors)

    def describe(self) -> str:
        res = self.ray.cluster_resources()
        return (f"Ray: {len(self.ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; "
                f"{self.actors} estimation actor(s) on {self.device}")  # fmt: skip

    def _dataset(self, paths: Sequence[Path], group: int):
        """Rows of `group` paths each, in blocks enough to spread over every CPU and few enough to schedule."""
        ray = self.ray
        ray.data.DataContext.get_current().enable_progress_bars = False
        names = [str(p) for p in paths]
        rows = [{"paths": names[i : i + group]} for i in range(0, len(names), group)]
        return ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), max(64, len(rows) // 64))))

    def hash_files(self, paths: Sequence[Path]) -> Iterator[tuple]:
        """(path, (hex or None, why not)) of each file, hashed by CPU tasks on the cluster."""
        if not paths:
            return
        ds = self._dataset(paths, 64).map_batches(_hash_group, batch_size=1, batch_format="numpy")
        for row in ds.iter_rows():
            yield from pickle.loads(row["hashes"])

    def stream(self, paths: Sequence[Path]) -> Iterator[tuple]:
        """(path, poses | PoseFinderError, DecodedElsewhere, canvas size) of every path, in the order they finish.

        The paths go in groups of batch_size, in order, and each group is one network batch, as in the
        one-machine BatchRunner (which is what makes the poses the same: a network's float arithmetic
        depends a little on what shares its batch)."""
        if not paths:
            return
        ray = self.ray
        actor_args: dict = {"num_gpus": 1} if self.use_gpu else {"num_cpus": self.cpus_per_actor}
        ds = self._dataset(paths, self.batch_size).map_batches(
            partial(_decode_group, thumbnails=self.thumbnails), batch_size=1, batch_format="numpy",
            num_cpus=1, memory=DECODE_MEMORY,  # (a request the actors lack: Ray never fuses the decoding into them)
        ).map_batches(
            _Estimate, fn_constructor_args=(self.model, self.device, self.threads), batch_size=1,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=self.actors), **actor_args,
        )  # fmt: skip
        bar = _bar(len(paths)) if self.progress else None
        try:
            for row in ds.iter_rows():
                for path, result, elsewhere, canvas in pickle.loads(row["out"]):
                    self.images_seen += 1
                    if isinstance(result, PoseFinderError):
                        self.failed += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(failed=self.failed, left=max(len(paths) - bar.n, 0), refresh=False)
                    yield Path(path), result, elsewhere, canvas
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        """Leave the cluster (a local instance this runner started stops)."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def __enter__(self) -> "RayRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """LibraryError at once for a HOST:PORT nobody answers at (Ray itself retries for minutes)."""
    import socket

    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise LibraryError(f"--ray {address}: give auto or the HOST:PORT that `ray start --head` printed")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise LibraryError(f"cannot join the Ray cluster at {address}: nothing answers there "
                           f"({exc.strerror or exc}); is `ray start --head` running?") from None  # fmt: skip


def _bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc="estimating", file=sys.stderr, dynamic_ncols=True, mininterval=1.0)
