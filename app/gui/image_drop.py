"""Images from drops and pastes: RGB arrays from QMimeData (file URLs, encoded bytes, or image data).

Files and encoded bytes are decoded by models/imageio.py, so a dropped file gets the same checks (broken,
truncated, not an image, too many pixels) as everything PoseFinder reads; failures are ImageErrors with a
one-line message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QColor, QImage, QPainter

from posefinder.models.errors import ImageError
from posefinder.models.imageio import MAX_IMAGE_PIXELS, decode_image, is_image_path, load_image

#: Encoded image types a drop or a paste may carry as bytes, most faithful first.
ENCODED_IMAGE_TYPES = ("image/png", "image/webp", "image/jpeg", "image/bmp", "image/gif", "image/tiff", "image/avif",
                       "image/heic", "image/jxl", "image/vnd.adobe.photoshop")


def has_image(mime: QMimeData) -> bool:
    """Whether a drag carries something the canvas may take as an image (decoding decides later)."""
    return mime.hasUrls() or mime.hasImage() or any(mime.hasFormat(t) for t in ENCODED_IMAGE_TYPES)


def image_from_mime(mime: QMimeData, default_name: str = "clipboard") -> tuple[np.ndarray, str]:
    """((H, W, 3) uint8 RGB, name) from a drop or the clipboard; ImageError when it holds no usable image.

    Order: a local file URL (the first with an image suffix, else the first), encoded image bytes,
    decoded image data, then text that names an image file.
    """
    if mime.hasUrls():
        urls = [u for u in mime.urls() if not u.isEmpty()]
        local = [u for u in urls if u.isLocalFile()]
        if not local and urls:
            raise ImageError(f"{urls[0].toString()}: only files on this computer can be used; save it first")
        if local:
            paths = [Path(u.toLocalFile()) for u in local]
            path = next((p for p in paths if is_image_path(p)), paths[0])
            return load_image(path), path.name
    for mime_type in ENCODED_IMAGE_TYPES:
        if mime.hasFormat(mime_type):
            data = bytes(mime.data(mime_type).data())
            if data:
                return decode_image(data, default_name), default_name
    if mime.hasImage():
        return qimage_to_rgb(QImage(mime.imageData()), default_name), default_name
    if mime.hasText():
        text = mime.text().strip().splitlines()[0].strip() if mime.text().strip() else ""
        path = Path(QUrl(text).toLocalFile()) if text.startswith("file:") else Path(text)
        if text and path.is_file():
            return load_image(path), path.name
    raise ImageError("nothing to use as a guide image there: drop or paste an image or an image file")


def qimage_to_rgb(image: QImage, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a QImage; transparency composited onto white (as imageio does)."""
    if image.isNull():
        raise ImageError(f"{name}: empty image")
    w, h = image.width(), image.height()
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name}: {w}x{h} is too large ({w * h / 1e6:.0f} megapixels; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f})"
        )
    if image.hasAlphaChannel():
        flat = QImage(w, h, QImage.Format.Format_RGB888)
        flat.fill(QColor(255, 255, 255))
        painter = QPainter(flat)
        painter.drawImage(0, 0, image)
        painter.end()
        image = flat
    else:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    stride = image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """A QImage (its own copy of the pixels) of an (H, W, 3) uint8 RGB array."""
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr[:, :, :3])
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
