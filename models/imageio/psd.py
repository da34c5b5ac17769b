"""Photoshop PSD and PSB: the merged composite the file carries, else its layers composited (psd-tools).

Without psd-tools (the extra [formats]) Pillow reads the merged image of 8-bit files. The header's size
is checked against the pixel limit before psd-tools parses anything.
"""

from __future__ import annotations

import struct

from posefinder.models.errors import ImageError
from posefinder.models.imageio import limits, plugins, raster
from posefinder.models.imageio.decoded import Decoded

SIGNATURE = b"8BPS"
SUFFIXES = frozenset({".psd", ".psb"})
KIND = "Photoshop"


def header_size(header: bytes, name: str) -> tuple[int, int]:
    """(width, height) of a PSD/PSB header (26 bytes), checked against the pixel limit."""
    if len(header) < 26 or not header.startswith(SIGNATURE):
        raise ImageError(f"{name}: truncated Photoshop file (no complete header)")
    version, = struct.unpack(">H", header[4:6])
    if version not in (1, 2):
        raise ImageError(f"{name}: not a Photoshop file PoseFinder can read (version {version})")
    height, width = struct.unpack(">II", header[14:22])
    limits.check_pixels(name, width, height)
    return width, height


def _check_sections(f, size: int, name: str) -> None:
    """Every section's declared length fits in the file, and so does the merged image data (raw or RLE)."""
    f.seek(0)
    header = f.read(26)
    width, height = header_size(header, name)
    version, channels = struct.unpack(">HH", header[4:6] + header[12:14])
    depth = struct.unpack(">H", header[22:24])[0]
    pos = 26
    for wide in (False, False, version == 2):  # color mode data, image resources, layer and mask info
        n = 8 if wide else 4
        f.seek(pos)
        raw = f.read(n)
        if len(raw) < n:
            raise ImageError(f"{name}: truncated Photoshop file (a section header is cut short)")
        length = int.from_bytes(raw, "big")
        pos += n + length
        if pos > size:
            raise ImageError(f"{name}: truncated Photoshop file (a section runs past the end)")
    f.seek(pos)
    compression = f.read(2)
    if len(compression) < 2:
        raise ImageError(f"{name}: truncated Photoshop file (no image data)")
    method = struct.unpack(">H", compression)[0]
    rows = height * channels
    if method == 0:
        needed = rows * ((width * depth + 7) // 8)
    elif method == 1:
        count = 4 if version == 2 else 2
        table = f.read(rows * count)
        if len(table) < rows * count:
            raise ImageError(f"{name}: truncated Photoshop file (the image data is cut short)")
        needed = len(table) + sum(int.from_bytes(table[i : i + count], "big") for i in range(0, len(table), count))
    else:
        return
    if pos + 2 + needed > size:
        raise ImageError(f"{name}: truncated Photoshop file (the image data is cut short)")


def decode(f, name: str, size: int | None = None) -> Decoded:
    if size is not None:
        _check_sections(f, size, name)
    f.seek(0)
    header_size(f.read(26), name)
    f.seek(0)
    try:
        from psd_tools import PSDImage
    except ImportError:
        return _decode_with_pillow(f, name)
    try:
        psd = PSDImage.open(f)
        img = psd.topil() if psd.has_preview() else None
        if img is None:
            img = psd.composite()
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"{name}: too large to composite in memory") from None
    except Exception as exc:  # psd-tools raises many types on a damaged file
        raise ImageError(f"{name}: broken or truncated Photoshop file ({type(exc).__name__}: {exc})") from None
    if img is None:
        raise ImageError(f"{name}: Photoshop file with neither a merged image nor layers to composite")
    if img.mode == "CMYK":  # psd-tools hands over Photoshop's stored values, 255 meaning no ink
        from PIL import ImageChops

        img = ImageChops.invert(img)
    return Decoded(raster.to_rgb(img), kind=KIND, canvas_size=(psd.width, psd.height), working_file=True)


def _decode_with_pillow(f, name: str) -> Decoded:
    try:
        got = raster.decode(f, name)
    except ImageError as exc:
        raise ImageError(f"{exc}; install psd-tools ({plugins.INSTALL_HINT}) for every Photoshop file") from None
    got.kind, got.working_file = KIND, True
    return got
