"""Safe image reading: RGB uint8 arrays from files or bytes, with clear errors for bad input.

Every image PoseFinder reads goes through here (indexing, thumbnails, drops and pastes, `posefinder pose`,
the training datasets), so that truncated files, non-images and decompression bombs get one clear
ImageError instead of a traceback, a hang or an exhausted memory. One module per container family:
raster (Pillow and its plugins), psd, clip (Clip Studio), zipped (Krita, OpenRaster, Procreate). The type
is told by the file's first bytes, not its name; only regular files are opened (models/files.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from posefinder.models.errors import ImageError
from posefinder.models.files import RegularFile, open_regular, readable_name
from posefinder.models.imageio import clip, plugins, psd, raster, zipped
from posefinder.models.imageio.decoded import Decoded
from posefinder.models.imageio.limits import MAX_IMAGE_PIXELS
from posefinder.models.imageio.plugins import FormatUnavailable
from posefinder.models.imageio.raster import RASTER_SUFFIXES, save_image, to_rgb

#: Working files of painting applications, by ending: the application's name.
WORKING_FILE_KINDS = {".psd": psd.KIND, ".psb": psd.KIND, ".clip": clip.KIND, **zipped.KINDS}

#: File name endings treated as images when indexing folders (plugin types whether installed or not: a
#: missing plugin is reported once, in a summary line).
IMAGE_SUFFIXES = RASTER_SUFFIXES | frozenset(WORKING_FILE_KINDS) | plugins.all_suffixes()

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "WORKING_FILE_KINDS",
    "Decoded",
    "FormatUnavailable",
    "decode_image",
    "has_transparency",
    "image_size",
    "is_image_path",
    "is_working_file",
    "load_image",
    "load_image_rgba",
    "open_dialog_filters",
    "read_bytes",
    "read_image",
    "save_image",
    "supported_types",
    "supported_types_text",
    "to_rgb",
]  # fmt: skip


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_working_file(path: str | Path) -> bool:
    """Whether path names a painting application's document (by its ending)."""
    return Path(path).suffix.lower() in WORKING_FILE_KINDS


def _read(f, size: int, name: str) -> Decoded:
    f.seek(0)
    head = f.read(32)
    f.seek(0)
    if head.startswith(psd.SIGNATURE):
        return psd.decode(f, name, size)
    if head.startswith(clip.SIGNATURE):
        return clip.decode(f, size, name)
    if head.startswith(zipped.SIGNATURE) and Path(name).suffix.lower() not in RASTER_SUFFIXES:
        return zipped.decode(f, size, name)
    if not head and size == 0:
        raise ImageError(f"{name}: empty file, not an image")
    return raster.decode(f, name)


def read_image(path: str | Path) -> Decoded:
    """Read an image file (any supported type) as a Decoded; ImageError for anything unsound."""
    with _opened(path) as f:
        return _read(io.BufferedReader(f, 1 << 16), f.size, f.name)


def read_bytes(data: bytes, name: str = "image") -> Decoded:
    """read_image of bytes held in memory (a drop or a paste)."""
    return _read(io.BytesIO(data), len(data), name)


def _opened(path: str | Path) -> RegularFile:
    if isinstance(path, str | Path) and Path(path).is_dir():
        raise ImageError(f"{readable_name(path)}: is a folder, not an image")
    return open_regular(path)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; ImageError for anything that is not a sound image."""
    return read_image(path).image


def load_image_rgba(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 4) uint8 RGBA (opaque alpha where the file has none); working files give
    their composite, opaque."""
    with _opened(path) as f:
        head = f.read(32)
        f.seek(0)
        if head.startswith((psd.SIGNATURE, clip.SIGNATURE, zipped.SIGNATURE)):
            rgb = _read(io.BufferedReader(f, 1 << 16), f.size, f.name).image
            return np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
        return raster.decode_rgba(io.BufferedReader(f, 1 << 16), f.name)


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes (a drop or a paste) as (H, W, 3) uint8 RGB."""
    return read_bytes(data, name).image


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file (a working file's canvas), reading only the header where the type
    has one; ImageError past the pixel limit."""
    with _opened(path) as f:
        head = f.read(32)
        f.seek(0)
        if head.startswith(psd.SIGNATURE):
            return psd.header_size(head, f.name)
        if head.startswith((clip.SIGNATURE, zipped.SIGNATURE)):
            return tuple(_read(f, f.size, f.name).canvas_size)  # type: ignore[return-value]
        return raster.header_size(io.BufferedReader(f, 1 << 16), f.name)


def has_transparency(path: str | Path) -> bool:
    """Whether an image file carries an alpha channel (from its header; working files are composites)."""
    with _opened(path) as f:
        head = f.read(32)
        f.seek(0)
        if head.startswith((psd.SIGNATURE, clip.SIGNATURE, zipped.SIGNATURE)):
            return False
        return raster.header_has_alpha(io.BufferedReader(f, 1 << 16), f.name)


def supported_types() -> list[tuple[str, frozenset[str]]]:
    """[(type name, endings)] this installation reads: raster images, then working files, then the plugin
    types whose plugins are installed."""
    state = plugins.register()
    out = [("Images", RASTER_SUFFIXES)]
    out += [(kind, frozenset(s for s, k in WORKING_FILE_KINDS.items() if k == kind)) for kind in dict.fromkeys(WORKING_FILE_KINDS.values())]
    out += [(kind, s) for kind, s in plugins.PLUGIN_SUFFIXES.items() if state.get(kind)]
    return out


def open_dialog_filters() -> str:
    """The name filters of an open-image dialog: everything readable first, then one filter per type."""
    types = supported_types()
    pattern = lambda suffixes: " ".join(f"*{s}" for s in sorted(suffixes))
    everything = frozenset().union(*(s for _, s in types))
    return ";;".join([f"Images and working files ({pattern(everything)})"] + [f"{k} ({pattern(s)})" for k, s in types])


def supported_types_text() -> str:
    """One line naming what is read ("PNG, JPEG, ... ; Photoshop, Clip Studio, ..."), for the library panel."""
    kinds = [k for k, _ in supported_types()[1:]]
    return "Reads PNG, JPEG, WebP, BMP, GIF, TIFF and " + ", ".join(kinds) + " files"
