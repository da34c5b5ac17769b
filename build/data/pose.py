"""Pose training data: COCO / ADD keypoint files with images, and synthetic figures, as heatmap samples.

A sample (paper sections 3.1 and 4.1) is a square crop of the character with its bbox centred and padded
by at least 10% (build/augment.py), randomly rotated over the full circle, flipped (left and right labels
swapped), scaled out and recoloured when training, plus its targets:

    image      (3, S, S) float32 RGB in [0, 1]
    heatmaps   (25, H, H) float32: per keypoint a gaussian with peak 1 at the keypoint and standard deviation
               proportional to its OKS sigma (heatmap_targets)
    weights    (25,) float32: 1 for keypoints present in the crop, 0 for absent ones (masked out of the loss)
    keypoints  (25, 3) float32 in crop pixels [x, y, v] (v = 0: absent)
    area       () float32: the character's segment area in crop pixels (the OKS scale s^2; metrics.pose.segment_area)
    matrix     (3, 3) float64: image -> crop coordinates

Sources: `PoseFileDataset` (any pose file models/formats reads: COCO keypoint JSON, ADD annotations,
PoseFinder JSON, with an image folder) and `SyntheticPoseDataset` (posefinder.build.synthetic's figures,
rendered on the fly, or once and kept in memory). `ResumableBatches` turns either into the training
stream: batches drawn from (seed, batch number) only, so training resumed from a checkpoint at batch b
sees exactly the batches it would have seen, with any number of loader workers and DDP ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset

from posefinder.build import augment
from posefinder.build.metrics.pose import segment_area
from posefinder.models import skeleton
from posefinder.models.errors import PoseFileError
from posefinder.models.estimators.geometry import crop_to_heatmap
from posefinder.models.pose import Pose


@dataclass(frozen=True)
class CropConfig:
    """Crop, augmentation and target settings of pose samples (defaults: the paper's model sizes)."""

    crop_size: int = 256
    heatmap_size: int = 128
    padding: float = augment.PADDING  # at least 10% on each side (section 4.1)
    max_rotation_deg: float = 180.0  # 180: any angle, the full circle (section 4.1)
    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.8, 1.0)  # zoom out only: the padding stays at least `padding`
    shift_frac: float = 0.0  # random translation of the centre, fraction of the crop side
    colour_jitter: float = 0.2  # recolouring strength (section 4); 0 = off
    sigma_factor: float = 1.0  # target std = sigma_factor x OKS falloff (2 sigma_i s), see heatmap_targets
    min_sigma_px: float = 1.0  # floor of the target std in heatmap pixels (tiny heatmaps)
    fill: tuple[int, int, int] = (255, 255, 255)  # colour outside the image (what the estimator pads with)
    augment: bool = True

    def without_augmentation(self) -> "CropConfig":
        """The same crop for evaluation: centred, upright, unflipped, unscaled, original colours."""
        return replace(self, augment=False)


def heatmap_targets(
    keypoints: np.ndarray,
    area: float,
    crop_size: int,
    heatmap_size: int,
    *,
    sigma_factor: float = 1.0,
    min_sigma_px: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(heatmaps (25, H, H), weights (25,)) for crop keypoints (25, 3): the paper's gaussian targets (3.1).

    Keypoint i's target is exp(-d^2 / (2 std_i^2)) at each heatmap pixel, d its distance to the keypoint
    mapped into the heatmap (models/estimators/geometry.crop_to_heatmap: the half-pixel rule, so that the
    estimator's decoding finds it where it was), with std_i = sigma_factor * 2 * sigma_i * sqrt(area) in
    heatmap pixels: proportional to its COCO OKS sigma (skeleton.OKS_SIGMAS; midpoints average their
    endpoints'), and with sigma_factor 1 exactly the OKS keypoint similarity of a prediction at that pixel (COCO: exp(-d^2 / (2 s^2 k_i^2)),
    k_i = 2 sigma_i, s^2 = area). Absent keypoints get an all-zero map and weight 0.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    ratio = heatmap_size / crop_size
    s = np.sqrt(max(float(area), 1e-12)) * ratio
    std = np.maximum(sigma_factor * 2.0 * skeleton.OKS_SIGMAS * s, min_sigma_px)
    centres = np.arange(heatmap_size, dtype=np.float64)
    present = kp[:, 2] > 0
    uv = crop_to_heatmap(kp[:, :2], heatmap_size, crop_size)
    x, y = uv[:, 0], uv[:, 1]
    gx = np.exp(-((centres[None, :] - x[:, None]) ** 2) / (2 * std[:, None] ** 2))  # (25, W)
    gy = np.exp(-((centres[None, :] - y[:, None]) ** 2) / (2 * std[:, None] ** 2))  # (25, H)
    maps = gy[:, :, None] * gx[:, None, :]
    maps[~present] = 0.0
    return maps.astype(np.float32), present.astype(np.float32)


def crop_sample(
    image: np.ndarray, pose: Pose, config: CropConfig, rng: np.random.Generator | None = None
) -> dict[str, Any]:
    """One training (rng given and config.augment) or evaluation sample of a character (see module doc):
    arrays, and the scalars "area" (float32) and, from a dataset, "index" (int64)."""
    bbox = pose.bbox()
    if bbox[2] <= 0 or bbox[3] <= 0:
        raise PoseFileError("a pose without a bbox or with fewer than two distinct keypoints cannot be cropped")
    angle, flip, scale, shift = 0.0, False, 1.0, (0.0, 0.0)
    if config.augment and rng is not None:
        angle = float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
        flip = bool(rng.random() < config.flip_prob)
        scale = float(rng.uniform(*config.scale_range))
        if config.shift_frac > 0:
            dx, dy = rng.uniform(-config.shift_frac, config.shift_frac, size=2)
            shift = (float(dx), float(dy))
    matrix = augment.crop_matrix(
        bbox, config.crop_size, padding=config.padding, angle_deg=angle, flip=flip, scale=scale, shift=shift
    )
    crop = augment.warp_image(image, matrix, config.crop_size, fill=config.fill)
    if config.augment and rng is not None and config.colour_jitter > 0:
        crop = augment.jitter_colour(crop, rng, config.colour_jitter)
    keypoints = augment.transform_keypoints(pose.keypoints, matrix, out_size=config.crop_size)
    area = segment_area(pose) * augment.matrix_scale(matrix) ** 2
    heatmaps, weights = heatmap_targets(
        keypoints, area, config.crop_size, config.heatmap_size,
        sigma_factor=config.sigma_factor, min_sigma_px=config.min_sigma_px,
    )  # fmt: skip
    return {
        "image": np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0),
        "heatmaps": heatmaps,
        "weights": weights,
        "keypoints": keypoints.astype(np.float32),
        "area": np.float32(area),
        "matrix": matrix,
    }


class _PoseSource:
    """What both datasets share: len, (image, pose) of item i, and samples with or without augmentation."""

    config: CropConfig
    seed: int

    def __len__(self) -> int:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def item(self, index: int) -> tuple[np.ndarray, Pose]:  # pragma: no cover
        raise NotImplementedError

    def sample(self, index: int, rng: np.random.Generator | None) -> dict[str, Any]:
        image, pose = self.item(index)
        out = crop_sample(image, pose, self.config, rng)
        out["index"] = np.int64(index)
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Item `index`, augmented with its own fixed random draw when the config augments."""
        rng = np.random.default_rng([self.seed, int(index)]) if self.config.augment else None
        return self.sample(int(index), rng)

    def poses(self) -> list[Pose]:
        """The ground-truth poses in image coordinates (for evaluation)."""
        return [self.item(i)[1] for i in range(len(self))]


class PoseFileDataset(_PoseSource):
    """Characters of a pose file (COCO keypoints, ADD, PoseFinder JSON) whose images are in images_dir.

    Records whose image is missing are skipped (counted in .missing); poses without keypoints are skipped.
    ADD annotations have no bbox: the keypoints' tight box stands in for it.
    """

    def __init__(self, pose_file: str | Path, images_dir: str | Path | None = None, config: CropConfig = CropConfig(),
                 seed: int = 0) -> None:  # fmt: skip
        from posefinder.models.formats import read_poses
        from posefinder.models.library.importer import find_image

        pose_file = Path(pose_file)
        images_dir = Path(images_dir) if images_dir is not None else pose_file.parent
        self.config, self.seed = config, seed
        self.records: list[tuple[Path, Pose]] = []
        self.missing = 0
        for record in read_poses(pose_file):
            if record.pose.present.sum() < 2:
                continue
            path = find_image(images_dir, record.image or "")
            if path is None:
                self.missing += 1
                continue
            self.records.append((path, record.pose))
        if not self.records:
            raise PoseFileError(
                f"{pose_file}: none of its {self.missing} annotated images was found in {images_dir}; give the "
                "image folder with --images"
            )

    def __len__(self) -> int:
        return len(self.records)

    def item(self, index: int) -> tuple[np.ndarray, Pose]:
        from posefinder.models.imageio import load_image

        path, pose = self.records[index]
        return load_image(path), pose


class SyntheticPoseDataset(_PoseSource):
    """Synthetic figures (posefinder.build.synthetic) with exact keypoints: figure i is render_figure(seed
    base + i), so a set is fixed by (n, seed); held-out sets use another seed. With cache, each figure is
    rendered once and kept (fast epochs over a small set); without, rendered on every use (endless
    variety at the cost of rendering time)."""

    def __init__(self, n: int, seed: int = 0, config: CropConfig = CropConfig(), *, size: tuple[int, int] = (256, 256),
                 cache: bool = False, render_kwargs: dict | None = None) -> None:  # fmt: skip
        if n < 1:
            raise ValueError("a synthetic set needs at least one figure")
        width, height = size
        self.n, self.seed, self.config, self.size = int(n), int(seed), config, (width, height)
        self.render_kwargs = dict(render_kwargs or {})
        self._cache: dict[int, tuple[np.ndarray, Pose]] | None = {} if cache else None

    def figure_seed(self, index: int) -> int:
        return self.seed * 1_000_003 + int(index)

    def __len__(self) -> int:
        return self.n

    def item(self, index: int) -> tuple[np.ndarray, Pose]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        from posefinder.build.synthetic import render_figure

        fig = render_figure(self.figure_seed(index), size=self.size, **self.render_kwargs)
        out = (fig.image, fig.pose)
        if self._cache is not None:
            self._cache[index] = out
        return out

    def prerender(self, processes: int = 1) -> "SyntheticPoseDataset":
        """Render (and, with cache, keep) every figure now, in `processes` processes; returns self."""
        todo = [i for i in range(self.n) if self._cache is None or i not in self._cache]
        if processes > 1 and self._cache is not None and len(todo) > 1:
            import multiprocessing

            chunks = [c.tolist() for c in np.array_split(np.array(todo), min(len(todo), processes * 16))]
            jobs = [(self.size, self.render_kwargs, [self.figure_seed(i) for i in c]) for c in chunks]
            # fork: the children only render (numpy and OpenCV), and need nothing re-imported
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                for chunk, rendered in zip(chunks, pool.imap(_render_figures, jobs)):
                    self._cache.update(zip(chunk, rendered))
            return self
        for i in todo:
            self.item(i)
        return self


def _render_figures(job) -> list[tuple[np.ndarray, Pose]]:
    """(image, pose) of each figure seed of a job (size, render kwargs, seeds): a prerender process's work."""
    from posefinder.build.synthetic import render_figure

    size, kwargs, seeds = job
    return [(fig.image, fig.pose) for fig in (render_figure(seed, size=size, **kwargs) for seed in seeds)]


def collate(samples: Sequence[dict[str, np.ndarray]]) -> dict:
    """Stack samples into a batch of torch tensors."""
    return {k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in samples[0]}


class ResumableBatches(IterableDataset):
    """Batches of augmented samples that depend only on (seed, batch number).

    Epoch e visits the source in the order permutation(rng(seed, e)); batch b of the run is the b-th
    slice of batch_size x world_size indices of that order (rank r takes its part), and sample j of
    batch b is augmented with rng(seed, b, rank, j). `start` (the number of batches already trained,
    set by the LightningModule before each epoch) makes an epoch begin where a resumed run left off.
    A DataLoader over it must use batch_size=None (batches are made here); loader workers take
    batches in turn, so the order is the same for any number of workers.
    """

    def __init__(self, source: _PoseSource, batch_size: int, seed: int = 0, *, drop_last: bool = True):
        super().__init__()
        self.source, self.batch_size, self.seed, self.drop_last = source, int(batch_size), int(seed), drop_last
        self.start = 0
        self.rank, self.world_size = 0, 1

    def set_distributed(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = int(rank), int(world_size)

    def batches_per_epoch(self) -> int:
        per_step = self.batch_size * self.world_size
        n = len(self.source)
        count = n // per_step if self.drop_last else -(-n // per_step)
        if count < 1:
            raise ValueError(
                f"{n} training samples are fewer than one batch of {self.batch_size} x {self.world_size} "
                "devices; lower --batch-size"
            )
        return count

    def __len__(self) -> int:
        return self.batches_per_epoch()

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 7, int(epoch)]).permutation(len(self.source))

    def indices(self, batch: int) -> np.ndarray:
        """This rank's source indices of run batch `batch`."""
        per_epoch = self.batches_per_epoch()
        epoch, within = divmod(int(batch), per_epoch)
        per_step = self.batch_size * self.world_size
        chunk = self.order(epoch)[within * per_step : (within + 1) * per_step]
        return chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]

    def make_batch(self, batch: int) -> dict:
        samples = []
        for j, index in enumerate(self.indices(batch)):
            rng = np.random.default_rng([self.seed, int(batch), self.rank, j])
            samples.append(self.source.sample(int(index), rng))
        return collate(samples)

    def __iter__(self):
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        per_epoch = self.batches_per_epoch()
        end = (self.start // per_epoch + 1) * per_epoch
        for i, batch in enumerate(range(self.start, end)):
            if i % workers == worker:
                yield self.make_batch(batch)

