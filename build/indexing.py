"""Batch indexing of large collections: a pose runner for the library's incremental indexer that decodes
images in parallel DataLoader workers, estimates them in batches (estimate_batch) on one or more devices,
and hands the results to models/library/indexer.py, which keeps all the bookkeeping (unchanged files
skipped, moves recognised, batches committed, deleted files pruned, hand-edited poses kept).

    runner = BatchRunner([estimator_on_cuda0, estimator_on_cuda1], batch_size=32, workers=8)
    with Library.open(path, create=True) as lib:
        report = lib.index([folder], runner=runner, batch_size=runner.commit_size)

Past one machine: build/cluster.py's RayRunner (`posefinder-train index --ray`), whose actors estimate with
this module's BatchRunner._estimate on the same batches.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence, cast

from posefinder.models.errors import ImageError, PoseFinderError
from posefinder.models.imageio.decoded import Decoded


def resolve_estimator(spec: str | None, device: str = "cpu"):
    """An estimator from a model file (.safetensors), else chain.select_estimator(spec): a chain name or an
    installed model's name (None: the chain's first available); ModelError with the reason when it cannot run."""
    from posefinder.models.estimators import chain
    from posefinder.models.estimators.paper import PaperModelEstimator

    if spec is not None and spec.endswith(".safetensors"):
        return PaperModelEstimator.from_file(spec, device=device)
    return chain.select_estimator(spec, device=device)


def parse_devices(text: str) -> list[str]:
    """"cpu", "cuda", "cuda:0,cuda:1", "auto" or "all" (every visible GPU, else the CPU) -> device names."""
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if names in (["auto"], ["all"]):
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            return [f"cuda:{i}" for i in range(count)] if names == ["all"] else ["cuda:0"]
        return ["cpu"]
    if not names:
        raise ValueError("no device given")
    return names


class _Images:
    """Map-style dataset of image paths: (index, RGB array or None, ImageError or None, canvas size or None)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from posefinder.models.imageio import read_image

        try:
            decoded = read_image(self.paths[i])
            return i, decoded.image, None, decoded.canvas_size
        except ImageError as exc:
            return i, None, exc, None
        except PoseFinderError as exc:
            return i, None, ImageError(str(exc)), None


def _as_list(batch):
    return batch  # images differ in size: keep the samples as a list


class BatchRunner:
    """A runner for index_folders (models/library/indexer.py): runner(paths) -> (path, poses | error, image).

    estimators: one per device (each with estimate_batch); batches go to them in turn, in threads, so
    several GPUs work at once. workers: DataLoader decoding processes (0: decode in this process).
    """

    def __init__(self, estimators: Sequence, *, batch_size: int = 16, workers: int = 2) -> None:
        if not estimators:
            raise ValueError("BatchRunner needs at least one estimator")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.estimators = list(estimators)
        self.batch_size = int(batch_size)
        self.workers = int(workers)
        self.images_seen = 0

    @property
    def commit_size(self) -> int:
        """Images per library transaction: enough batches to keep every device and worker busy."""
        return max(64, 4 * self.batch_size * len(self.estimators))

    def __call__(self, paths: list[Path]) -> Iterator[tuple]:
        from torch.utils.data import DataLoader, Dataset

        if not paths:
            return
        # any map-style object (len, getitem) serves; the stub wants a Dataset
        loader = DataLoader(cast(Dataset, _Images(paths)), batch_size=self.batch_size, num_workers=self.workers,
                            collate_fn=_as_list, shuffle=False)  # fmt: skip
        pool = ThreadPoolExecutor(max_workers=len(self.estimators)) if len(self.estimators) > 1 else None
        try:
            pending = []
            for n, batch in enumerate(loader):
                est = self.estimators[n % len(self.estimators)]
                job = pool.submit(self._estimate, est, batch) if pool else None
                pending.append((batch, job))
                if pool is None or len(pending) >= len(self.estimators):
                    yield from self._drain(paths, pending, est if pool is None else None)
                    pending = []
            yield from self._drain(paths, pending, None)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _drain(self, paths, pending, direct):
        for batch, job in pending:
            results = job.result() if job is not None else self._estimate(direct, batch)
            for (i, image, error, canvas), result in zip(batch, results):
                self.images_seen += 1
                if error is not None:
                    yield paths[i], error
                else:
                    if isinstance(result, list):  # a working file's preview: poses in canvas pixels
                        result = Decoded(image, kind="", canvas_size=canvas).to_canvas(result)
                    yield paths[i], result, image, canvas

    @staticmethod
    def _estimate(estimator, batch) -> list:
        """Poses per sample of a batch (None for undecodable ones); a batch that fails is retried image by
        image so that one bad image costs only itself."""
        good = [(k, image) for k, (_, image, error, _) in enumerate(batch) if error is None]
        results: list = [None] * len(batch)
        if not good:
            return results
        try:
            found = estimator.estimate_batch([image for _, image in good])
            for (k, _), poses in zip(good, found):
                results[k] = list(poses)
        except PoseFinderError:
            for k, image in good:
                try:
                    results[k] = list(estimator.estimate(image))
                except PoseFinderError as exc:
                    results[k] = exc
        return results
