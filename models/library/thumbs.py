"""Thumbnails of library images: thumbs/<content hash>.jpg, longest side THUMB_PX, made when an image is decoded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

THUMBS_DIR = "thumbs"
THUMB_PX = 256
HASH_CHUNK = 1 << 20


def content_hash(path: Path) -> str:
    """blake2b (128 bit) of a regular file's content, hex: what recognises a moved or copied file; ImageError
    for a FIFO, socket or device."""
    from posefinder.models.files import open_regular

    h = hashlib.blake2b(digest_size=16)
    with open_regular(path) as f:  # a FIFO or a device is refused, never read; no further than the size
        while True:
            chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def thumb_path(library_folder: Path, content_hash_hex: str) -> Path:
    return Path(library_folder) / THUMBS_DIR / f"{content_hash_hex}.jpg"


def encode_thumbnail(image_rgb: np.ndarray, size_px: int = THUMB_PX) -> bytes:
    """The JPEG bytes of the thumbnail of an (H, W, 3) uint8 image: longest side at most size_px. Made where
    the image is decoded (a cluster's decoding task sends these few kilobytes, not the pixels, to the writer)."""
    import io

    from PIL import Image  # lazy: search never needs Pillow

    img = Image.fromarray(np.ascontiguousarray(image_rgb))
    img.thumbnail((size_px, size_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def write_thumbnail(data: bytes, dest: Path) -> Path:
    """Write thumbnail bytes (encode_thumbnail) to dest unless it exists (thumbnails are keyed by content)."""
    from posefinder.models.atomic import write_bytes

    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(dest, data, durable=False)


def make_thumbnail(image_rgb: np.ndarray, dest: Path, size_px: int = THUMB_PX) -> Path:
    """Write a JPEG thumbnail of an (H, W, 3) uint8 image whose longest side is at most size_px."""
    dest = Path(dest)
    if dest.exists():
        return dest
    return write_thumbnail(encode_thumbnail(image_rgb, size_px), dest)
