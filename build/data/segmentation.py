"""Segmenter data (paper section 4.3): RGBA foregrounds composited on the fly onto backgrounds; the ground
truth mask is the placed foreground's alpha.

Sources of foregrounds: folders of RGBA images (transparent background; alpha = mask), and the synthetic
figure generator (posefinder.build.synthetic, its `foreground`). Backgrounds: folders of images (the paper
mixes illustrated scenery and stock textures). Training pairs a foreground with a random background at a
random scale, rotation, position and flip, with BACKGROUND_ONLY_P = 5% of samples having no foreground (an
empty mask), as the paper does. Held-out sets are fixed, deterministic foreground/background pairs (the
paper holds out 1024 pairs each for validation and test). Foregrounds and backgrounds are assigned to
train/val/test by a hash of their file name (build/data/splits.py), so held-out pairs use unseen images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from posefinder.build.data.danbooru import DatasetError, iter_image_files
from posefinder.build.data.seeding import sample_rng
from posefinder.build.data.splits import split_of
from posefinder.models.errors import ImageError
from posefinder.models.imageio import has_transparency, load_image, load_image_rgba

#: Share of samples without a foreground (paper section 4.3: "5% chance of having no foreground").
BACKGROUND_ONLY_P = 0.05

#: Held-out pairs per split (paper section 4.3: 2048 pairs, 1024 each for validation and test).
PAPER_HELD_OUT_PAIRS = 1024

#: Foreground/background split: most images train; a few are kept unseen for the held-out pairs.
SEGMENTATION_FRACTIONS = (0.9, 0.05, 0.05)

#: Alpha above which a foreground pixel counts as the character's (for cropping to the character).
_ALPHA_MIN = 8


class ImageSource(Protocol):
    """A sized collection of images: load(i) -> uint8 array; key(i) -> a stable name (the split key)."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> np.ndarray: ...

    def key(self, index: int) -> str: ...


class SplittableSource(ImageSource, Protocol):
    """An ImageSource that splits by its images' keys: subset(split) -> its images of that split."""

    def subset(self, split: str, fractions=SEGMENTATION_FRACTIONS) -> "SplittableSource": ...


class ImageFolder:
    """The image files under a folder (recursive, sorted). rgba=True loads (H, W, 4) RGBA, else (H, W, 3)."""

    def __init__(self, folder: str | Path, *, rgba: bool, paths: Sequence[Path] | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DatasetError(f"{self.folder}: no such image folder")
        self.rgba = rgba
        self.paths = list(paths) if paths is not None else list(iter_image_files(self.folder))

    def __len__(self) -> int:
        return len(self.paths)

    def key(self, index: int) -> str:
        return self.paths[index].relative_to(self.folder).as_posix()

    def load(self, index: int) -> np.ndarray:
        return (load_image_rgba if self.rgba else load_image)(self.paths[index])

    def subset(self, split: str, fractions=SEGMENTATION_FRACTIONS) -> "ImageFolder":
        """The files of one split (by a hash of the path relative to the folder)."""
        keep = [p for p in self.paths if split_of(p.relative_to(self.folder).as_posix(), fractions) == split]
        return ImageFolder(self.folder, rgba=self.rgba, paths=keep)


def foreground_folder(folder: str | Path) -> ImageFolder:
    """RGBA foregrounds: every image under folder whose file has an alpha channel (the others are skipped:
    the paper drops foregrounds without transparency)."""
    source = ImageFolder(folder, rgba=True)
    keep = []
    for path in source.paths:
        try:
            has_alpha = has_transparency(path)
        except ImageError:
            continue
        if has_alpha:
            keep.append(path)
    if not keep:
        raise DatasetError(f"{folder}: no images with transparency (RGBA foregrounds) in this folder")
    return ImageFolder(folder, rgba=True, paths=keep)


def background_folder(folder: str | Path) -> ImageFolder:
    source = ImageFolder(folder, rgba=False)
    if not len(source):
        raise DatasetError(f"{folder}: no background images in this folder")
    return source


class SyntheticForegrounds:
    """`count` synthetic figures (posefinder.build.synthetic) as RGBA foregrounds: figure i is rendered
    from seed `seed + i` at `size`, deterministically."""

    def __init__(self, count: int, *, seed: int = 0, size: tuple[int, int] = (256, 256), indices=None) -> None:
        from posefinder.build import synthetic  # noqa: F401  (fail early when the generator is missing)

        width, height = size
        self.count, self.seed, self.size = int(count), int(seed), (width, height)
        self.indices = list(range(self.count)) if indices is None else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def key(self, index: int) -> str:
        return f"synthetic:{self.seed + self.indices[index]}"

    def load(self, index: int) -> np.ndarray:
        from posefinder.build.synthetic import render_figure

        return render_figure(self.seed + self.indices[index], self.size, background=None).foreground

    def subset(self, split: str, fractions=SEGMENTATION_FRACTIONS) -> "SyntheticForegrounds":
        keep = [i for i in self.indices if split_of(f"synthetic:{self.seed + i}", fractions) == split]
        return SyntheticForegrounds(self.count, seed=self.seed, size=self.size, indices=keep)


class Sources:
    """Several image sources seen as one (index runs through them in order)."""

    def __init__(self, sources: Sequence[SplittableSource]) -> None:
        self.sources = [s for s in sources if len(s)]
        self._offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def _locate(self, index: int) -> tuple[ImageSource, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        which = int(np.searchsorted(self._offsets, index, side="right") - 1)
        return self.sources[which], index - int(self._offsets[which])

    def load(self, index: int) -> np.ndarray:
        source, i = self._locate(index)
        return source.load(i)

    def key(self, index: int) -> str:
        source, i = self._locate(index)
        return source.key(i)

    def subset(self, split: str, fractions=SEGMENTATION_FRACTIONS) -> "Sources":
        return Sources([s.subset(split, fractions) for s in self.sources])


# -- compositing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompositeParams:
    """One composite: background crop (fraction of the short side, position in [0, 1]^2, flip), and the
    foreground's placement: its longer side as a fraction of the output size, rotation in degrees
    (anticlockwise), centre as a fraction of the output size, flip; background_only: no foreground."""

    background_only: bool = False
    bg_crop: float = 1.0
    bg_pos: tuple[float, float] = (0.5, 0.5)
    bg_flip: bool = False
    fg_scale: float = 0.8
    fg_angle_deg: float = 0.0
    fg_center: tuple[float, float] = (0.5, 0.5)
    fg_flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0


@dataclass(frozen=True)
class CompositeAugment:
    """Random composite parameters: background-only with probability background_only_p, foreground
    scale in scale_range (its longer side over the output size), rotation within +-max_rotation_deg,
    flips with probability flip_p, placed anywhere that keeps it on the canvas (when it fits), and mild
    brightness/contrast changes of the composite."""

    background_only_p: float = BACKGROUND_ONLY_P
    scale_range: tuple[float, float] = (0.4, 1.0)
    max_rotation_deg: float = 20.0
    flip_p: float = 0.5
    bg_crop_range: tuple[float, float] = (0.5, 1.0)
    brightness: float = 0.15
    contrast: float = 0.15

    def sample(self, rng: np.random.Generator) -> CompositeParams:
        background_only = bool(rng.random() < self.background_only_p)
        return CompositeParams(
            background_only=background_only,
            bg_crop=float(rng.uniform(*self.bg_crop_range)),
            bg_pos=(float(rng.random()), float(rng.random())),
            bg_flip=bool(rng.random() < 0.5),
            fg_scale=float(rng.uniform(*self.scale_range)),
            fg_angle_deg=float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg)),
            fg_center=(float(rng.random()), float(rng.random())),
            fg_flip=bool(rng.random() < self.flip_p),
            brightness=float(rng.uniform(1 - self.brightness, 1 + self.brightness)),
            contrast=float(rng.uniform(1 - self.contrast, 1 + self.contrast)),
        )


def crop_to_alpha(foreground: np.ndarray) -> np.ndarray:
    """The RGBA foreground cut to the box of its visible pixels (alpha >= 8); unchanged when none is."""
    visible = foreground[..., 3] >= _ALPHA_MIN
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    if len(rows) == 0:
        return foreground
    return foreground[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def background_crop(background: np.ndarray, size: int, params: CompositeParams) -> np.ndarray:
    """A size x size RGB view of the background: a square crop of bg_crop times its short side at bg_pos."""
    import cv2

    h, w = background.shape[:2]
    side = max(1, int(round(min(h, w) * params.bg_crop)))
    top = int(round((h - side) * params.bg_pos[1]))
    left = int(round((w - side) * params.bg_pos[0]))
    crop = background[top : top + side, left : left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(crop, (size, size), interpolation=interp) if side != size else crop.copy()
    return np.ascontiguousarray(out[:, ::-1] if params.bg_flip else out)


def foreground_matrix(fg_hw: tuple[int, int], size: int, params: CompositeParams) -> np.ndarray:
    """The 2x3 affine map from foreground pixels to output pixels: scale so the longer side is fg_scale *
    size, rotate about the foreground's centre, put that centre where fg_center allows the rotated box to
    stay on the canvas (or, when larger than the canvas, to cover it)."""
    import cv2

    h, w = fg_hw
    scale = params.fg_scale * size / max(h, w)
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), params.fg_angle_deg, scale)
    theta = np.deg2rad(params.fg_angle_deg)
    box_w = scale * (abs(w * np.cos(theta)) + abs(h * np.sin(theta)))
    box_h = scale * (abs(w * np.sin(theta)) + abs(h * np.cos(theta)))
    cx = _place(params.fg_center[0], box_w, size)
    cy = _place(params.fg_center[1], box_h, size)
    rot[:, 2] += np.array([cx - (w - 1) / 2, cy - (h - 1) / 2])
    return rot


def _place(u: float, extent: float, size: int) -> float:
    lo, hi = extent / 2, size - extent / 2
    if lo > hi:
        lo, hi = hi, lo
    return (lo + u * (hi - lo)) - 0.5


def composite_with(
    foreground: np.ndarray | None, background: np.ndarray, size: int, params: CompositeParams
) -> tuple[np.ndarray, np.ndarray]:
    """(image (S, S, 3) uint8, mask (S, S) float32 in [0, 1]) of one composite with the given parameters.

    The mask is the placed foreground's alpha; the image is the alpha blend of the (premultiplied)
    foreground over the background crop. background_only (or foreground None) gives an empty mask."""
    import cv2

    image = background_crop(background, size, params).astype(np.float32)
    mask = np.zeros((size, size), dtype=np.float32)
    if foreground is not None and not params.background_only:
        fg = crop_to_alpha(foreground)
        if params.fg_flip:
            fg = fg[:, ::-1]
        alpha = fg[..., 3].astype(np.float32) / 255.0
        premult = fg[..., :3].astype(np.float32) * alpha[..., None]
        shrink = params.fg_scale * size / max(fg.shape[:2])
        if shrink < 1:  # downscale by area first (a warp would alias), then place at about scale 1
            new_wh = (max(1, round(fg.shape[1] * shrink)), max(1, round(fg.shape[0] * shrink)))
            alpha = cv2.resize(alpha, new_wh, interpolation=cv2.INTER_AREA)
            premult = cv2.resize(premult, new_wh, interpolation=cv2.INTER_AREA)
        matrix = foreground_matrix(alpha.shape[:2], size, params)

        def warp(a: np.ndarray) -> np.ndarray:
            return cv2.warpAffine(np.ascontiguousarray(a), matrix, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip

        mask = np.clip(warp(alpha), 0.0, 1.0)
        placed = warp(premult)
        image = placed + image * (1.0 - mask[..., None])
    if params.brightness != 1.0 or params.contrast != 1.0:
        grey = float(image.mean())
        image = ((image - grey) * params.contrast + grey) * params.brightness
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask.astype(np.float32)


# -- datasets ----------------------------------------------------------------------------------------


class CompositeDataset:
    """(image (3, S, S) float32 in [0, 1], mask (1, S, S) float32 alpha) composites.

    mode "train": sample i uses foreground i mod F (each foreground once per `len(foregrounds)` samples;
    `length` defaults to F, the paper's "counting each foreground as a single sample"), a random background
    and random CompositeAugment parameters (reproducible per (seed, epoch, i) when seed is given).
    mode "fixed": `length` deterministic pairs from `seed` (foreground, background and parameters all drawn
    from the pair's own generator): the held-out validation and test sets.
    """

    def __init__(
        self,
        foregrounds: ImageSource,
        backgrounds: ImageSource,
        *,
        size: int = 320,
        length: int | None = None,
        mode: str = "train",
        seed: int | None = None,
        augment: CompositeAugment = CompositeAugment(),
    ) -> None:
        if mode not in ("train", "fixed"):
            raise ValueError(f"mode must be 'train' or 'fixed', got {mode!r}")
        if not len(backgrounds):
            raise DatasetError("no background images for compositing")
        if not len(foregrounds):
            raise DatasetError("no foreground images for compositing")
        if mode == "fixed" and seed is None:
            raise ValueError("a fixed (held-out) composite set needs a seed")
        self.foregrounds, self.backgrounds = foregrounds, backgrounds
        self.size, self.mode, self.seed, self.augment = int(size), mode, seed, augment
        self.length = int(length) if length is not None else len(foregrounds)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def plan(self, index: int) -> tuple[int, int, CompositeParams]:
        """(foreground index, background index, parameters) of sample `index`, without loading images."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        if self.mode == "fixed":
            if self.seed is None:  # never: __init__ refuses a fixed set without one
                raise ValueError("a fixed (held-out) composite set needs a seed")
            rng = np.random.default_rng([int(self.seed), 1_000_003, index])
            fg = int(rng.integers(len(self.foregrounds)))
        else:
            rng = sample_rng(self.seed, self.epoch, index)
            fg = index % len(self.foregrounds)
        bg = int(rng.integers(len(self.backgrounds)))
        return fg, bg, self.augment.sample(rng)

    def composite(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image (S, S, 3) uint8, mask (S, S) float32) of sample `index`."""
        fg, bg, params = self.plan(index)
        foreground = None if params.background_only else self.foregrounds.load(fg)
        return composite_with(foreground, self.backgrounds.load(bg), self.size, params)

    def __getitem__(self, index: int):
        import torch

        image, mask = self.composite(index)
        return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0), torch.from_numpy(mask)[None]


@dataclass
class SegmentationSplits:
    """The three datasets of a segmentation run (see make_splits)."""

    train: CompositeDataset
    val: CompositeDataset
    test: CompositeDataset


def make_splits(
    foregrounds: Sources,
    backgrounds: Sources,
    *,
    size: int = 320,
    held_out_pairs: int = PAPER_HELD_OUT_PAIRS,
    train_length: int | None = None,
    seed: int = 0,
    train_seed: int | None = None,
    fractions=SEGMENTATION_FRACTIONS,
    augment: CompositeAugment = CompositeAugment(),
) -> SegmentationSplits:
    """Train composites from the train share of foregrounds and backgrounds, and `held_out_pairs` fixed
    pairs each for validation and test from theirs (a split without images of its own falls back to all)."""

    def part(source: Sources, split: str) -> Sources:
        sub = source.subset(split, fractions)
        return sub if len(sub) else source

    def fixed(split: str, offset: int) -> CompositeDataset:
        return CompositeDataset(part(foregrounds, split), part(backgrounds, split), size=size,
                                length=held_out_pairs, mode="fixed", seed=seed + offset, augment=augment)

    train = CompositeDataset(part(foregrounds, "train"), part(backgrounds, "train"), size=size,
                             length=train_length, mode="train", seed=train_seed, augment=augment)
    return SegmentationSplits(train=train, val=fixed("val", 1), test=fixed("test", 2))
