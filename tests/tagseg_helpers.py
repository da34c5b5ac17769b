"""Helpers for the tagger and segmenter tests: tiny Danbooru-style folders and RGBA foregrounds on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: Raw tags every kept test post carries: solo + 1girl and enough tags for 12 starter-rulebook classes.
BASE_TAGS = [
    "solo", "1girl", "long_hair", "blue_eyes", "smile", "open_mouth", "skirt", "shirt", "thighhighs",
    "looking_at_viewer", "standing", "full_body", "simple_background", "bow", "hat", "gloves", "boots",
]  # fmt: skip


def write_image(path: Path, size_wh=(64, 48), color=(200, 80, 40), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size_wh
    if mode == "RGBA":
        Image.new("RGBA", (w, h), tuple(color) + (255,)).save(path)
    else:
        Image.new("RGB", (w, h), tuple(color)).save(path)
    return path


def post(post_id: int, tags, *, width=600, height=800, ext="jpg", rating="s", style="tag_string") -> dict:
    """A Danbooru post object, with its tags as Danbooru 2021+ (tag_string) or 2017-2020 (tags list)."""
    obj: dict[str, Any] = {"id": str(post_id), "image_width": str(width), "image_height": str(height), "file_ext": ext,
           "rating": rating}
    if style == "tag_string":
        obj["tag_string"] = " ".join(tags)
    else:
        obj["tags"] = [{"id": str(i), "name": t, "category": "0"} for i, t in enumerate(tags)]
    return obj


def write_metadata(path: Path, posts) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
    return path


def tiny_tag_folder(root: Path, n: int = 24, size=(40, 40), seed: int = 0) -> Path:
    """n images with sidecar .txt tags: half wear a "red" class (red_hair + red image), half a "blue" one,
    so that a tagger can learn something from colour. Returns the images folder."""
    rng = np.random.default_rng(seed)
    folder = root / "images"
    for i in range(n):
        red = i % 2 == 0
        color = (220, 30, 30) if red else (30, 30, 220)
        noise = rng.integers(-20, 20, (size[1], size[0], 3))
        pixels = np.clip(np.array(color)[None, None] + noise, 0, 255).astype(np.uint8)
        path = folder / f"{1000 + i}.png"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        tags = ["red_hair" if red else "blue_hair", "solo", "1girl"]
        path.with_suffix(".txt").write_text(", ".join(t.replace("_", " ") for t in tags), encoding="utf-8")
    return folder


def tiny_rulebook(path: Path) -> Path:
    book = {"format": "posefinder-rulebook", "version": 1, "name": "test",
            "classes": {"red_hair": {"group": "body", "tags": ["red_hair"]},
                        "blue_hair": {"group": "body", "tags": ["blue_hair", "aqua_hair"]},
                        "solo": ["solo"]}}
    path.write_text(json.dumps(book), encoding="utf-8")
    return path


def disc_foreground(path: Path, size=48, radius=16, color=(250, 20, 20)) -> Path:
    """An RGBA PNG: an opaque disc of `color` on a transparent background."""
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius**2
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[inside] = tuple(color) + (255,)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def noise_backgrounds(folder: Path, n: int = 6, size=(64, 48), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 120, (size[1], size[0], 3), dtype=np.uint8)
        pixels[..., 2] = 200  # bluish, far from the red foregrounds
        Image.fromarray(pixels).save(folder / f"bg{i}.png")
    return folder
