"""Safe image reading: RGB uint8 arrays from files or bytes, with clear errors for bad input.

Every image PoseFinder reads goes through here, so that truncated files, non-images and decompression
bombs get one clear ImageError instead of a traceback, a hang or an exhausted memory.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from posefinder.models.atomic import atomic_path
from posefinder.models.errors import ImageError

#: Largest image accepted, in pixels (width x height). Larger files are refused before decoding.
MAX_IMAGE_PIXELS = 100_000_000

#: File name endings treated as images when indexing folders.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _open(source, name: str) -> Image.Image:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own bomb check, aligned with ours
    img = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(source)
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                raise _too_large(name, w, h)
            img.load()
    except BaseException as exc:
        if img is not None:
            img.close()  # a file Pillow opened stays open otherwise
        raise _as_image_error(exc, name) from None
    return img


def _too_large(name: str, w: int, h: int) -> ImageError:
    return ImageError(
        f"{name}: {w}x{h} is too large ({w * h / 1e6:.0f} megapixels; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f})"
    )


def _as_image_error(exc: BaseException, name: str) -> BaseException:
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
        return ImageError(f"{name}: not an image file PoseFinder can read")
    if isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):
        return ImageError(f"{name}: broken or truncated image ({exc})")
    return exc


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file, reading only its header; ImageError past MAX_IMAGE_PIXELS."""
    name = str(path)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # only the header is read
            with Image.open(path) as img:
                size = img.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: refused as a decompression bomb (too many pixels)") from None
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file PoseFinder can read") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc})") from None
    if size[0] * size[1] > 2 * MAX_IMAGE_PIXELS:
        raise _too_large(name, *size)
    return size


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array; EXIF rotation applied, transparency composited onto background."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        pass
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        canvas.alpha_composite(rgba)
        img = canvas
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; ImageError for anything that is not a sound image."""
    path = Path(path)
    img = _open(path, str(path))
    try:
        return to_rgb(img)
    except OSError as exc:
        raise ImageError(f"{path}: broken or truncated image ({exc})") from None
    finally:
        img.close()


def load_image_rgba(path: str | Path) -> np.ndarray:
    """Read an image as (H, W, 4) uint8 RGBA (opaque alpha where the file has none)."""
    path = Path(path)
    img = _open(path, str(path))
    try:
        img = ImageOps.exif_transpose(img)
        return np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    except OSError as exc:
        raise ImageError(f"{path}: broken or truncated image ({exc})") from None
    finally:
        img.close()


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode image bytes (a drop or a paste) as (H, W, 3) uint8 RGB."""
    img = _open(io.BytesIO(data), name)
    try:
        return to_rgb(img)
    finally:
        img.close()


def save_image(array: np.ndarray, path: str | Path, quality: int = 92, *, durable: bool = True) -> None:
    """Write an (H, W, 3|4) uint8 array to path (format from the suffix), atomically (durable: see
    posefinder.models.atomic; False for files that are made again when lost, such as thumbnails)."""
    path = Path(path)
    img = Image.fromarray(np.ascontiguousarray(array))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower())
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")
    with atomic_path(path, durable=durable) as tmp:
        img.save(tmp, format=fmt or Image.registered_extensions().get(path.suffix.lower(), "PNG"), quality=quality)
