"""Working files and plugin images built the way their applications (and specifications) write them."""

from __future__ import annotations

import io
import plistlib
import sqlite3
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def picture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth RGB picture (gradients plus a block), distinct per seed."""
    y, x = np.mgrid[0:h, 0:w]
    out = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), np.full_like(x, (seed * 53) % 256)], axis=2)
    out[h // 4 : h // 2, w // 4 : w // 2] = (250, 20, 30)
    return out.astype(np.uint8)


def write_kra(path: Path, merged: np.ndarray | None, preview: np.ndarray, canvas: tuple[int, int]) -> Path:
    """A Krita document: mimetype first and stored, maindoc.xml with the canvas, preview.png, mergedimage.png."""
    w, h = canvas
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/x-krita")
        z.writestr("maindoc.xml", f'<?xml version="1.0"?><DOC xmlns="http://www.calligra.org/DTD/krita">'
                                  f'<IMAGE width="{w}" height="{h}" name="x" mime="application/x-kra"/></DOC>')  # fmt: skip
        z.writestr("preview.png", png_bytes(preview))
        if merged is not None:
            z.writestr("mergedimage.png", png_bytes(merged))
    return path


def write_ora(path: Path, merged: np.ndarray | None, thumb: np.ndarray, canvas: tuple[int, int]) -> Path:
    """An OpenRaster file: mimetype, stack.xml, a layer, Thumbnails/thumbnail.png, mergedimage.png."""
    w, h = canvas
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "image/openraster")
        z.writestr("stack.xml", f'<?xml version="1.0"?><image version="0.0.5" w="{w}" h="{h}"><stack>'
                                f'<layer src="data/l.png" x="0" y="0"/></stack></image>')  # fmt: skip
        z.writestr("data/l.png", png_bytes(np.zeros((h, w, 3), np.uint8)))
        z.writestr("Thumbnails/thumbnail.png", png_bytes(thumb))
        if merged is not None:
            z.writestr("mergedimage.png", png_bytes(merged))
    return path


def write_procreate(path: Path, thumb: np.ndarray, canvas: tuple[int, int]) -> Path:
    """A Procreate document: Document.archive (NSKeyedArchiver plist with the size) and its QuickLook thumbnail."""
    archive = {"$archiver": "NSKeyedArchiver", "$version": 100000, "$top": {"root": plistlib.UID(1)},
               "$objects": ["$null", {"size": plistlib.UID(2), "$class": plistlib.UID(3)},
                            f"{{{canvas[0]}, {canvas[1]}}}", {"$classname": "SilicaDocument"}]}  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Document.archive", plistlib.dumps(archive, fmt=plistlib.FMT_BINARY))
        z.writestr("QuickLook/Thumbnail.png", png_bytes(thumb))
    return path


def write_plugin_image(path: Path, array: np.ndarray, fmt: str) -> Path:
    """An AVIF, HEIC or JPEG XL file written by its Pillow plugin (lossless where the plugin allows)."""
    from posefinder.models.imageio import plugins

    plugins.register()
    Image.fromarray(array).save(path, format=fmt, quality=-1 if fmt == "HEIF" else 100, **({"lossless": True} if fmt == "JXL" else {}))
    return path


def clip_container(db: bytes) -> bytes:
    """A Clip Studio file: the CSFCHUNK header, a head chunk, the SQLite database, the footer."""
    head_body = b"\0" * 40
    chunks = b"CHNKHead" + struct.pack(">Q", len(head_body)) + head_body
    chunks += b"CHNKSQLi" + struct.pack(">Q", len(db)) + db + b"CHNKFoot" + struct.pack(">Q", 0)
    return b"CSFCHUNK" + struct.pack(">QQ", 24 + len(chunks), 24) + chunks


def clip_database(preview: bytes | None, canvas=(400, 300), preview_size=(200, 150)) -> bytes:
    """A Clip Studio database holding the canvas size and its canvas preview (PNG bytes, or none)."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE Canvas (MainId INTEGER, CanvasWidth REAL, CanvasHeight REAL, CanvasResolution REAL)")
    con.execute("INSERT INTO Canvas VALUES (1, ?, ?, 72)", canvas)
    con.execute("CREATE TABLE CanvasPreview (MainId INTEGER, CanvasId INTEGER, ImageType INTEGER,"
                " ImageWidth INTEGER, ImageHeight INTEGER, ImageData BLOB)")  # fmt: skip
    if preview is not None:
        con.execute("INSERT INTO CanvasPreview VALUES (1, 1, 1, ?, ?, ?)", (*preview_size, preview))
    con.commit()
    if sys.version_info >= (3, 11):
        return con.serialize()
    with tempfile.TemporaryDirectory() as folder:  # Python 3.10: no serialize; through a file
        copy = sqlite3.connect(Path(folder) / "db.sqlite")
        con.backup(copy)
        copy.close()
        return (Path(folder) / "db.sqlite").read_bytes()
