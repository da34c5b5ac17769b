"""Raster images through Pillow (and its plugins): PNG, JPEG, WebP, BMP, GIF, TIFF, AVIF, HEIC, JPEG XL.

Animated files give their first frame. The size in the header is checked against the pixel limit before
any pixel is decoded; truncated files, non-images and decompression bombs become one ImageError.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps
from posefinder.models.errors import ImageError
from posefinder.models.imageio import limits, plugins
from posefinder.models.imageio.decoded import Decoded

#: File name endings Pillow reads without plugins.
RASTER_SUFFIXES = frozenset({".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

#: Pixels converted to RGB at a time: a big image is never held twice at full size.
_BAND_PIXELS = 1 << 22

_WHITE = (255, 255, 255)


def open_image(source, name: str) -> Image.Image:
    """A loaded Pillow image of source (a file object or path); ImageError for anything unsound."""
    plugins.register()
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = limits.MAX_IMAGE_PIXELS  # Pillow's own bomb check, aligned with ours
    img = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
            limits.check_pixels(name, *img.size)
            img.load()
    except BaseException as exc:
        if img is not None:
            img.close()  # a file Pillow opened stays open otherwise
        raise as_image_error(exc, name, source) from None
    return img


def as_image_error(exc: BaseException, name: str, source=None) -> BaseException:
    """The ImageError that says what went wrong reading an image; other exceptions (bugs) unchanged."""
    if isinstance(exc, ImageError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return ImageError(f"{name}: no such file")
    if isinstance(exc, IsADirectoryError):
        return ImageError(f"{name}: is a folder, not an image")
    if isinstance(exc, PermissionError):
        return ImageError(f"{name}: permission denied")
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageError(f"{name}: refused as a decompression bomb (too many pixels)")
    if isinstance(exc, Image.UnidentifiedImageError):
        missing = _missing_plugin(source, name)
        return missing or ImageError(f"{name}: not an image file PoseFinder can read")
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError, RuntimeError)):
        return ImageError(f"{name}: broken or truncated image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    return exc


def _missing_plugin(source, name: str) -> ImageError | None:
    header = b""
    if hasattr(source, "seek"):
        try:
            source.seek(0)
            header = source.read(32)
        except (OSError, ValueError):
            header = b""
    found = plugins.unavailable(header, name)
    if found is None:
        suffix = Path(name).suffix.lower()
        state = plugins.register()
        kind = next((k for k, s in plugins.PLUGIN_SUFFIXES.items() if suffix in s and not state.get(k)), None)
        found = None if kind is None else plugins.FormatUnavailable(name, kind)
    return found


def header_size(source, name: str) -> tuple[int, int]:
    """(width, height) from an image's header alone; ImageError for a non-image or past 2x the limit."""
    plugins.register()
    Image.MAX_IMAGE_PIXELS = limits.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # only the header is read
            with Image.open(source) as img:
                size = img.size
    except BaseException as exc:
        raise as_image_error(exc, name, source) from None
    limits.check_pixels(name, *size, limit=2 * limits.MAX_IMAGE_PIXELS)
    return size


def _exif_upright(img: Image.Image) -> Image.Image:
    try:
        if img.getexif().get(0x0112, 1) in (0, 1):  # upright already: exif_transpose would copy it whole
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _band_rgb(part: Image.Image, alpha: bool, background: tuple[int, int, int]) -> np.ndarray:
    if part.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(part, dtype=np.float64)
        top = 1.0 if part.mode == "F" and values.size and values.max() <= 1.0 else (255.0 if part.mode == "F" else 65535.0)
        gray = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if alpha:
        rgba = part.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        canvas.alpha_composite(rgba)
        part = canvas
    return np.asarray(part.convert("RGB"), dtype=np.uint8)


def to_rgb(img: Image.Image, background: tuple[int, int, int] = _WHITE) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array; EXIF rotation applied, transparency composited onto background,
    16-bit and float gray scaled to 8 bits. Converted a band of rows at a time."""
    img = _exif_upright(img)
    w, h = img.size
    alpha = _has_alpha(img)
    out = np.empty((h, w, 3), dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(w, 1))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        part = img if (y0, y1) == (0, h) else img.crop((0, y0, w, y1))
        out[y0:y1] = _band_rgb(part, alpha, background)
    return out


def decode(source, name: str) -> Decoded:
    """The first frame of a Pillow-readable image in source (a file object), as RGB."""
    img = open_image(source, name)
    try:
        kind = _kind(img)
        return Decoded(to_rgb(img), kind=kind)
    except OSError as exc:
        raise ImageError(f"{name}: broken or truncated image ({exc})") from None
    finally:
        img.close()


def decode_rgba(source, name: str) -> np.ndarray:
    """(H, W, 4) uint8 RGBA (opaque alpha where the file has none)."""
    img = open_image(source, name)
    try:
        return np.asarray(_exif_upright(img).convert("RGBA"), dtype=np.uint8).copy()
    except OSError as exc:
        raise ImageError(f"{name}: broken or truncated image ({exc})") from None
    finally:
        img.close()


def _kind(img: Image.Image) -> str:
    fmt = (img.format or "image").upper()
    return {"JPEG2000": "JPEG 2000", "JXL": "JPEG XL", "HEIF": "HEIC", "MPO": "JPEG"}.get(fmt, fmt)


def save_image(array: np.ndarray, path: str | Path, quality: int = 92) -> None:
    """Write an (H, W, 3|4) uint8 array to path (format from the suffix), atomically."""
    path = Path(path)
    tmp = path.with_name(".tmp-" + path.name)
    img = Image.fromarray(np.ascontiguousarray(array))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower())
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")
    img.save(tmp, format=fmt or Image.registered_extensions().get(path.suffix.lower(), "PNG"), quality=quality)
    tmp.replace(path)


def decode_bytes(data: bytes, name: str) -> Decoded:
    """decode of bytes held in memory (an embedded preview, a zip member)."""
    return decode(io.BytesIO(data), name)


def header_has_alpha(source, name: str) -> bool:
    """Whether an image's header announces transparency; nothing decoded."""
    plugins.register()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                return _has_alpha(img) or "transparency" in img.info
    except BaseException as exc:
        raise as_image_error(exc, name, source) from None
