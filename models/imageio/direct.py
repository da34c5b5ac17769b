"""Common raster files decoded by OpenCV straight into the final (H, W, 3) RGB array.

Pillow decodes into its own image (4 bytes a pixel) and then converts it, so a big image is held more than
twice. A PNG or JPEG on disk is decoded by OpenCV's imread into an array allocated here (read through
/proc/self/fd, the file already opened); other files and bytes in memory go through imdecode (which copies
its result once). Used only where the result is Pillow's, pixel for pixel (tests/models/test_imageio_direct.py):
8-bit RGB, grayscale or palette PNG, JPEG, WebP and TIFF that are upright, opaque and single-frame.
Everything else (transparency, EXIF rotation, CMYK, 16-bit gray, animation, an OpenCV without the codec)
returns None and goes through Pillow, which also words the error for a broken file. imread into an array
reports no failure, so a file is given to it only once its structure is known whole: a PNG's chunks all
present with their CRCs right up to IEND, a JPEG ending with its end-of-image marker.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image

#: Pillow's format name: the modes whose conversion to RGB OpenCV's decoder reproduces exactly.
_MODES = {"PNG": ("RGB", "L", "P"), "JPEG": ("RGB", "L"), "WEBP": ("RGB",), "TIFF": ("RGB", "L")}

_JPEG_END = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = 1 << 20


def eligible(img: Image.Image) -> bool:
    """Whether OpenCV decodes img's file (opened by Pillow, not yet loaded) exactly as Pillow would."""
    if img.mode not in _MODES.get(img.format or "", ()):
        return False
    if "transparency" in img.info or getattr(img, "n_frames", 1) != 1:
        return False
    if img.format == "PNG":
        return "exif" not in img.info  # an eXIf after the pixels is found by _png_whole (getexif would decode)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt EXIF block is Pillow's path's to word
            return img.getexif().get(0x0112, 1) in (0, 1)  # upright: OpenCV is told to ignore the tag
    except Exception:  # a broken EXIF block: Pillow's path copes with it
        return False


def decode(source, img: Image.Image) -> np.ndarray | None:
    """The (H, W, 3) uint8 RGB pixels of source (a file object at the start of the file img was opened
    from), or None where OpenCV cannot give Pillow's result (not eligible, a codec missing, a broken or
    truncated file)."""
    start = source.tell()
    if not eligible(img):  # (reading EXIF moves source)
        return None
    if img.format == "PNG" and not _png_whole(source, start):
        return None
    if img.format == "JPEG" and not _jpeg_ends(source):
        return None  # cut short: OpenCV fills the rest with gray instead of failing
    import cv2

    rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10 decodes to RGB directly
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_COLOR if rgb is None else rgb)
    shape = (img.size[1], img.size[0], 3)
    log = cv2.utils.logging
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)  # a broken file falls back to Pillow, which says what is wrong
    try:
        out = _imread_into(cv2, source, start, img.format, shape, flags)
        if out is None:
            source.seek(start)
            out = cv2.imdecode(np.frombuffer(source.read(), np.uint8), flags)
    except cv2.error:
        out = None
    finally:
        log.setLogLevel(level)
    if out is None or out.shape != shape or out.dtype != np.uint8:
        return None
    if rgb is None:
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)  # in place
    return out


def _imread_into(cv2, source, start: int, fmt: str | None, shape, flags) -> np.ndarray | None:
    """imread of the opened file into an array allocated here (no copy), where the file is a regular one
    read through its descriptor, still the size it was opened with; else None."""
    fd_dir = next((d for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), None)
    size = getattr(getattr(source, "raw", source), "size", None)
    if fmt not in ("PNG", "JPEG") or fd_dir is None or start != 0 or size is None:
        return None
    try:
        fd = source.fileno()
        if os.fstat(fd).st_size != size:
            return None  # growing: decode the bytes it had when opened
        out = np.empty(shape, np.uint8)
        got = cv2.imread(f"{fd_dir}/{fd}", out, flags)
    except (OSError, TypeError, cv2.error):  # TypeError: an OpenCV without imread into an array
        return None
    return out if got is out or (got is not None and np.shares_memory(got, out)) else None


def _jpeg_ends(source) -> bool:
    start = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(max(start, end - 64))
    tail = source.read()
    source.seek(start)
    return tail.rstrip(b"\0").endswith(_JPEG_END)


def _png_whole(source, start: int) -> bool:
    """Whether a PNG's chunks are all there with right CRCs up to IEND, and none of them is eXIf (Pillow's
    path applies its orientation)."""
    source.seek(start)
    ok = source.read(8) == _PNG_SIGNATURE
    while ok:
        head = source.read(8)
        if len(head) < 8:
            ok = False
            break
        length, kind = struct.unpack(">I", head[:4])[0], head[4:]
        crc = zlib.crc32(kind)
        left = length
        while left:
            part = source.read(min(left, _CHUNK))
            if not part:
                break
            crc = zlib.crc32(part, crc)
            left -= len(part)
        stored = source.read(4)
        if left or len(stored) < 4 or struct.unpack(">I", stored)[0] != crc or kind == b"eXIf":
            ok = False
        elif kind == b"IEND":
            break
    source.seek(start)
    return ok
