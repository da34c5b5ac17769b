"""What a file may ask of PoseFinder before anything is decoded: pixels, bytes, and a PNG's declared size."""

from __future__ import annotations

import struct

from posefinder.models.errors import ImageError

#: Largest image accepted, in pixels (width x height). Larger files are refused before decoding.
MAX_IMAGE_PIXELS = 100_000_000

#: Largest part of a container read into memory (an embedded database, a zip member): a 100-megapixel
#: 16-bit RGBA image stored raw fits.
MAX_MEMBER_BYTES = 1 << 30

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_pixels(name: str, width: int, height: int, limit: int | None = None) -> None:
    """ImageError when a declared size is empty or past the pixel limit (MAX_IMAGE_PIXELS unless given)."""
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    if width <= 0 or height <= 0:
        raise ImageError(f"{name}: declares an empty image ({width}x{height})")
    if width * height > limit:
        raise ImageError(
            f"{name}: {width}x{height} is too large ({width * height / 1e6:.0f} megapixels; the limit is {limit / 1e6:.0f})"
        )


def png_size(header: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the first 24 bytes of a PNG (signature + IHDR); ImageError if it is not one."""
    if len(header) < 24 or not header.startswith(PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise ImageError(f"{name}: not a PNG image (no PNG header)")
    return struct.unpack(">II", header[16:24])


def check_png(header: bytes, name: str) -> tuple[int, int]:
    """png_size, refused past the pixel limit."""
    w, h = png_size(header, name)
    check_pixels(name, w, h)
    return w, h
