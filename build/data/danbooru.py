"""Tagger data (paper section 4.2): Danbooru-style image folders with tag metadata, the paper's filters and
split, the tagger's augmentation, and the Dataset that yields (image, multi-hot labels).

Metadata, either or both:
  - Danbooru20xx metadata, JSON lines (one post per line; a file or a folder of *.json / *.jsonl): "id",
    the tags as "tag_string" (space separated, Danbooru 2021+) or "tags" (a list of {"name": ...} objects as
    in Danbooru2017-2020, or of strings), "image_width", "image_height", "file_ext", "rating". The image is
    <id>.<ext> in the image folder or in Danbooru's bucket subfolder <id mod 1000, 4 digits>/<id>.<ext>
    (the 512px subsets store every post as .jpg: the other usual suffixes are tried too).
  - per-image sidecars, as dataset tools write them: <image>.txt or <stem>.txt (tags separated by commas,
    else by white space) or <image>.json / <stem>.json (a Danbooru post object, or {"tags": [...]}).

Filters (paper section 4.2), see PaperFilter: single character (solo and 1girl or 1boy), no comics, at
least 512 px, at least 12 positive tags. The paper's "smaller than 512px" does not say which side; we
measure the short side (min(width, height) >= 512) of the post as its metadata gives it (the original
upload, which is what Danbooru's "512px" subsets were downscaled from), else of the image file.
Split 80/10/10 by a hash of the post id (build/data/splits.py). Augmentation: at most 15 degrees of
rotation and horizontal flips only, no hue jitter (section 4.2: tags are colour- and orientation-sensitive).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from posefinder.build.data.rulebook import Rulebook, normalize_tag
from posefinder.build.data.seeding import sample_rng
from posefinder.build.data.splits import PAPER_FRACTIONS, split_of
from posefinder.models.errors import PoseFinderError
from posefinder.models.imageio import image_size, is_image_path, load_image

#: Tags that mark a comic or several panels/views of one character (paper: "comic, 4koma, doujinshi, etc.").
COMIC_TAGS: frozenset[str] = frozenset({
    "comic", "4koma", "2koma", "3koma", "1koma", "manga", "doujinshi", "doujin_cover", "multiple_views",
    "reference_sheet", "character_sheet", "multiple_4koma", "silent_comic", "translated_comic",
})  # fmt: skip

#: A single character: every one of these tags ...
SOLO_REQUIRED: tuple[str, ...] = ("solo",)
#: ... and at least one of these (paper: "single-person (solo, 1girl, or 1boy)").
SOLO_ANY: tuple[str, ...] = ("1girl", "1boy")

#: The paper's minimum image size (section 4.2), in pixels, and the minimum number of positive tags.
PAPER_MIN_SIDE_PX = 512
PAPER_MIN_TAGS = 12

#: Suffixes tried when the metadata's file_ext is not the one on disk (Danbooru's 512px subsets are .jpg).
_FALLBACK_SUFFIXES: tuple[str, ...] = (".jpg", ".png", ".jpeg", ".webp")

#: Metadata file suffixes read from a metadata folder.
METADATA_SUFFIXES: tuple[str, ...] = (".json", ".jsonl")


class DatasetError(PoseFinderError):
    """Training data that cannot be read: missing folders, broken metadata, nothing left after filtering."""


@dataclass
class TaggedImage:
    """One post: its id (split key), image file, raw tags (Danbooru's canonical form) and what the
    metadata says about its size and rating (None where unknown)."""

    post_id: str
    image_path: Path
    tags: tuple[str, ...]
    width: int | None = None
    height: int | None = None
    rating: str | None = None

    def size(self) -> tuple[int, int]:
        """(width, height): the metadata's, else read from the image file's header."""
        if self.width and self.height:
            return int(self.width), int(self.height)
        return image_size(self.image_path)

    @property
    def split(self) -> str:
        return split_of(self.post_id, PAPER_FRACTIONS)


# -- metadata ----------------------------------------------------------------------------------------


def parse_tag_text(text: str) -> list[str]:
    """Tags of a sidecar .txt: comma-separated when there is a comma (WD-tagger/kohya style, words may be
    joined by spaces), else separated by white space (Danbooru's tag_string style)."""
    text = text.strip()
    parts = text.split(",") if "," in text else text.split()
    return [t for t in (normalize_tag(p) for p in parts) if t]


def _post_tags(post: dict[str, Any], source: str) -> list[str]:
    """Raw tags of a Danbooru post object in any of the known layouts."""
    if isinstance(post.get("tag_string"), str):
        return parse_tag_text(post["tag_string"].replace(",", " "))
    tags = post.get("tags")
    if isinstance(tags, str):
        return parse_tag_text(tags)
    if isinstance(tags, list):
        out = []
        for tag in tags:
            name = tag.get("name") if isinstance(tag, dict) else tag
            if not isinstance(name, str):
                raise DatasetError(f"{source}: a tag is neither a string nor an object with a \"name\"")
            out.append(normalize_tag(name))
        return [t for t in out if t]
    if isinstance(tags, dict):  # gallery-dl style {"general": [...], "character": [...]} lists per category
        return [normalize_tag(t) for values in tags.values() if isinstance(values, list) for t in values if str(t).strip()]
    split_strings = [post[k] for k in post if k.startswith("tag_string_") and isinstance(post[k], str)]
    if split_strings:
        return [t for s in split_strings for t in parse_tag_text(s)]
    raise DatasetError(f"{source}: the post has no tags (expected \"tag_string\" or \"tags\")")


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _rating(post: dict[str, Any]) -> str | None:
    rating = post.get("rating")
    if rating is None:
        return None
    return str(rating).strip().lower()[:1] or None


def iter_metadata_posts(path: str | Path) -> Iterator[tuple[dict[str, Any], str]]:
    """(post object, "file:line") for every post of a metadata file or of every *.json/*.jsonl in a folder.

    A file is read as JSON lines; a file that is one JSON array (or one object) is accepted too."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in METADATA_SUFFIXES and p.is_file())
        if not files:
            raise DatasetError(f"{path}: no metadata files (*.json, *.jsonl) in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise DatasetError(f"{path}: no such metadata file or folder")
    for file in files:
        try:
            with open(file, encoding="utf-8") as f:
                first = f.read(1)
                while first and first.isspace():
                    first = f.read(1)
                f.seek(0)
                if first == "[":
                    try:
                        posts = json.load(f)
                    except json.JSONDecodeError as exc:
                        raise DatasetError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
                    for i, post in enumerate(posts):
                        yield _check_post(post, f"{file}: item {i}"), f"{file}: item {i}"
                    continue
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    where = f"{file}:{lineno}"
                    try:
                        post = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DatasetError(f"{where}: not a JSON object per line ({exc.msg})") from None
                    yield _check_post(post, where), where
        except UnicodeDecodeError:
            raise DatasetError(f"{file}: metadata is not UTF-8 text") from None
        except OSError as exc:
            raise DatasetError(f"{file}: cannot read ({exc.strerror})") from None


def _check_post(post: Any, where: str) -> dict[str, Any]:
    if not isinstance(post, dict):
        raise DatasetError(f"{where}: a post must be a JSON object")
    if "id" not in post:
        raise DatasetError(f"{where}: the post has no \"id\"")
    return post


def _bucket(post_id: str) -> str | None:
    """Danbooru20xx's bucket folder of a post: its id modulo 1000, as 4 digits (id 1234567 -> "0567")."""
    return f"{int(post_id) % 1000:04d}" if post_id.isdigit() else None


def find_post_image(images_dir: Path, post_id: str, file_ext: str | None) -> Path | None:
    """The image file of a post under images_dir: <id>.<ext> or <bucket>/<id>.<ext>, else None."""
    suffixes = []
    if file_ext:
        suffixes.append("." + str(file_ext).lower().lstrip("."))
    suffixes += [s for s in _FALLBACK_SUFFIXES if s not in suffixes]
    folders = [images_dir]
    bucket = _bucket(post_id)
    if bucket:
        folders.append(images_dir / bucket)
    for folder in folders:
        for suffix in suffixes:
            candidate = folder / f"{post_id}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def post_from_object(post: dict[str, Any], image_path: Path, source: str) -> TaggedImage:
    return TaggedImage(
        post_id=str(post["id"]).strip(),
        image_path=image_path,
        tags=tuple(dict.fromkeys(_post_tags(post, source))),
        width=_int_or_none(post.get("image_width", post.get("width"))),
        height=_int_or_none(post.get("image_height", post.get("height"))),
        rating=_rating(post),
    )


def read_metadata(metadata: str | Path, images_dir: str | Path) -> tuple[list[TaggedImage], int]:
    """Posts of Danbooru20xx metadata whose image exists under images_dir, and how many had no image."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: no such image folder")
    found: list[TaggedImage] = []
    missing = 0
    for post, where in iter_metadata_posts(metadata):
        post_id = str(post["id"]).strip()
        image = find_post_image(images_dir, post_id, post.get("file_ext"))
        if image is None:
            missing += 1
            continue
        found.append(post_from_object(post, image, where))
    return found, missing


def _sidecar_for(image: Path) -> Path | None:
    for candidate in (
        image.with_name(image.name + ".txt"),
        image.with_suffix(".txt"),
        image.with_name(image.name + ".json"),
        image.with_suffix(".json"),
    ):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(image: Path, sidecar: Path) -> TaggedImage:
    """The post of one image from its .txt (tags) or .json (a post object or {"tags": ...}) sidecar."""
    try:
        text = sidecar.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{sidecar}: cannot read the tag sidecar ({exc})") from None
    if sidecar.suffix.lower() == ".txt":
        return TaggedImage(post_id=image.stem, image_path=image, tags=tuple(dict.fromkeys(parse_tag_text(text))))
    try:
        post = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{sidecar}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(post, list):
        post = {"tags": post}
    if not isinstance(post, dict):
        raise DatasetError(f"{sidecar}: a JSON sidecar must be a post object or a list of tags")
    post = {**post, "id": post.get("id", image.stem)}
    return post_from_object(post, image, str(sidecar))


def iter_image_files(folder: Path) -> Iterator[Path]:
    """Image files under folder (recursive, sorted, hidden folders skipped)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and is_image_path(name):
                yield Path(root) / name


def read_sidecars(images_dir: str | Path) -> tuple[list[TaggedImage], int]:
    """Posts of the images under images_dir that have a tag sidecar, and how many images had none."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: no such image folder")
    found, missing = [], 0
    for image in iter_image_files(images_dir):
        sidecar = _sidecar_for(image)
        if sidecar is None:
            missing += 1
            continue
        found.append(read_sidecar(image, sidecar))
    return found, missing


def read_posts(images_dir: str | Path, metadata: Sequence[str | Path] = ()) -> list[TaggedImage]:
    """Every tagged image of a Danbooru-style folder: from the metadata files when given, else from the
    images' sidecars. Posts are unique by id (the first occurrence wins)."""
    posts: list[TaggedImage] = []
    if metadata:
        for meta in metadata:
            posts += read_metadata(meta, images_dir)[0]
    else:
        posts = read_sidecars(images_dir)[0]
    unique: dict[str, TaggedImage] = {}
    for post in posts:
        unique.setdefault(post.post_id, post)
    return list(unique.values())


# -- filters (paper section 4.2) ---------------------------------------------------------------------


@dataclass(frozen=True)
class PaperFilter:
    """The paper's dataset filter (section 4.2), with its numbers as defaults.

    min_side_px: the post's short side (min of width and height) must reach it. min_tags: positive tags
    an image needs; counted on the rulebook's classes ("classes", the ground truth the paper's remark about
    under-tagged images concerns) or on the raw tags ("raw"). ratings: allowed rating letters (None: all;
    the paper used Danbooru2019's SFW subset, rating "s").
    """

    min_side_px: int = PAPER_MIN_SIDE_PX
    min_tags: int = PAPER_MIN_TAGS
    count_tags_on: str = "classes"
    require_solo: bool = True
    exclude_comics: bool = True
    ratings: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.count_tags_on not in ("classes", "raw"):
            raise ValueError(f"count_tags_on must be 'classes' or 'raw', got {self.count_tags_on!r}")

    def reason_to_drop(self, post: TaggedImage, rulebook: Rulebook | None = None) -> str | None:
        """Why the paper's filter drops the post ("not_solo", "comic", "too_small", "few_tags", "rating"),
        or None to keep it."""
        tags = set(post.tags)
        if self.require_solo and not (all(t in tags for t in SOLO_REQUIRED) and any(t in tags for t in SOLO_ANY)):
            return "not_solo"
        if self.exclude_comics and tags & COMIC_TAGS:
            return "comic"
        if self.ratings is not None and post.rating is not None and post.rating not in self.ratings:
            return "rating"
        if self.min_tags > 0:
            if self.count_tags_on == "raw" or rulebook is None:
                count = len(tags)
            else:
                count = len(rulebook.class_indices(tags))
            if count < self.min_tags:
                return "few_tags"
        if self.min_side_px > 0:
            try:
                width, height = post.size()
            except PoseFinderError:
                return "unreadable"
            if min(width, height) < self.min_side_px:
                return "too_small"
        return None


@dataclass
class FilterReport:
    """How many posts were kept and how many each rule dropped."""

    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"kept {self.kept}"] + [f"{reason} {n}" for reason, n in sorted(self.dropped.items())]
        return ", ".join(parts)


def filter_posts(
    posts: Iterable[TaggedImage], rules: PaperFilter, rulebook: Rulebook | None = None
) -> tuple[list[TaggedImage], FilterReport]:
    """The posts that pass the rules, and a report of what was dropped why."""
    kept, report = [], FilterReport()
    for post in posts:
        reason = rules.reason_to_drop(post, rulebook)
        if reason is None:
            kept.append(post)
        else:
            report.dropped[reason] += 1
    report.kept = len(kept)
    return kept, report


def split_posts(
    posts: Iterable[TaggedImage], fractions: Sequence[float] = PAPER_FRACTIONS
) -> dict[str, list[TaggedImage]]:
    """{"train": [...], "val": [...], "test": [...]}, each post by the hash of its id (stable as data grows)."""
    out: dict[str, list[TaggedImage]] = {"train": [], "val": [], "test": []}
    for post in posts:
        out[split_of(post.post_id, fractions)].append(post)
    return out


def class_positives(posts: Sequence[TaggedImage], rulebook: Rulebook) -> np.ndarray:
    """(C,) int64: N_i, how many posts are positive for each class (paper eq. 3's counts)."""
    counts = np.zeros(len(rulebook), dtype=np.int64)
    for post in posts:
        counts[rulebook.class_indices(post.tags)] += 1
    return counts


# -- augmentation (paper section 4.2) ----------------------------------------------------------------


@dataclass(frozen=True)
class TagAugmentParams:
    angle_deg: float = 0.0
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0


@dataclass(frozen=True)
class TaggerAugment:
    """Rotation within +-max_rotation_deg, horizontal flip with probability flip_p, and brightness and
    contrast changes that keep every pixel's hue (a positive scale plus a grey offset); never a hue shift,
    vertical flip or large rotation (paper section 4.2). fill: colour outside the rotated image."""

    max_rotation_deg: float = 15.0
    flip_p: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    fill: tuple[int, int, int] = (255, 255, 255)

    def __post_init__(self) -> None:
        if not 0 <= self.max_rotation_deg <= 15:
            raise ValueError("the tagger allows at most 15 degrees of rotation (paper section 4.2)")
        if not (0 <= self.brightness < 1 and 0 <= self.contrast < 1):
            raise ValueError("brightness and contrast jitter must be in [0, 1)")

    def sample(self, rng: np.random.Generator) -> TagAugmentParams:
        return TagAugmentParams(
            angle_deg=float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg)),
            flip=bool(rng.random() < self.flip_p),
            brightness=float(rng.uniform(1 - self.brightness, 1 + self.brightness)),
            contrast=float(rng.uniform(1 - self.contrast, 1 + self.contrast)),
        )

    def apply(self, image: np.ndarray, params: TagAugmentParams) -> np.ndarray:
        """The augmented (H, W, 3) uint8 image (same size). Positive angles turn the content anticlockwise."""
        import cv2

        out = image
        if params.angle_deg:
            h, w = out.shape[:2]
            matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), params.angle_deg, 1.0)
            out = cv2.warpAffine(
                out, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=self.fill
            )
        if params.flip:
            out = out[:, ::-1]
        if params.brightness != 1.0 or params.contrast != 1.0:
            pixels = out.astype(np.float32)
            grey = float(pixels.mean())
            pixels = (pixels - grey) * params.contrast + grey  # same scale and offset on R, G and B
            pixels *= params.brightness
            out = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.apply(image, self.sample(rng))


def letterbox(image: np.ndarray, size: int, fill: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """The image scaled to fit a size x size square (aspect kept) and centred on `fill`, as Danbooru's
    512px subsets pad their images to squares."""
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.empty((size, size, 3), dtype=np.uint8)
    out[:] = fill
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


# -- the Dataset -------------------------------------------------------------------------------------


class TaggerDataset:
    """(image (3, S, S) float32 in [0, 1], labels (C,) float32) per post: letterboxed to input_size,
    augmented when `augment` is given (random per call, or reproducible per (seed, epoch, index))."""

    def __init__(
        self,
        posts: Sequence[TaggedImage],
        rulebook: Rulebook,
        *,
        input_size: int = 256,
        augment: TaggerAugment | None = None,
        seed: int | None = None,
    ) -> None:
        self.posts = list(posts)
        self.rulebook = rulebook
        self.input_size = int(input_size)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        # positive class indices per post (dense label vectors of 837k posts x 1062 classes would take GBs)
        self.class_ids = [np.asarray(rulebook.class_indices(p.tags), dtype=np.int64) for p in self.posts]

    def __len__(self) -> int:
        return len(self.posts)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return sample_rng(self.seed, self.epoch, index)

    def image(self, index: int) -> np.ndarray:
        """The post's (S, S, 3) uint8 input image (letterboxed, augmented when training)."""
        image = letterbox(load_image(self.posts[index].image_path), self.input_size)
        if self.augment is not None:
            image = self.augment(image, self._rng(index))
        return image

    def __getitem__(self, index: int):
        import torch

        image = self.image(index)
        tensor = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
        return tensor, torch.from_numpy(self.labels(index))

    def labels(self, index: int) -> np.ndarray:
        """(C,) float32 multi-hot labels of post `index` (the rulebook's classes)."""
        labels = np.zeros(len(self.rulebook), dtype=np.float32)
        labels[self.class_ids[index]] = 1.0
        return labels


def describe_posts(posts: Sequence[TaggedImage], rulebook: Rulebook) -> dict[str, Any]:
    """Counts for logs and the model card: images and the class frequency spread (paper 4.2 reports the
    median and minimum class frequency)."""
    counts = class_positives(posts, rulebook)
    freq = counts / max(1, len(posts))
    present = freq[counts > 0]
    return {
        "images": len(posts),
        "classes": len(rulebook),
        "classes_present": int((counts > 0).sum()),
        "median_class_frequency": float(np.median(freq)) if len(freq) else None,
        "min_present_class_frequency": float(present.min()) if len(present) else None,
    }

