"""Clip Studio Paint `.clip`: the rendered canvas preview in the SQLite database the file embeds.

Layout (big-endian): `CSFCHUNK`, u64 file size, u64 offset of the first chunk; then chunks of an 8-byte
name, a u64 body length and the body. The body of `CHNKSQLi` is an SQLite 3 database, opened from memory
(sqlite3 deserialize), read-only: its table CanvasPreview holds the canvas as a PNG (ImageData), and
Canvas its size (CanvasWidth, CanvasHeight). Every declared length is checked against what remains of the
file, the PNG's IHDR against the pixel limit, before anything is read or decoded.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

from posefinder.models.errors import ImageError
from posefinder.models.imageio import limits, raster
from posefinder.models.imageio.decoded import Decoded

SIGNATURE = b"CSFCHUNK"
SUFFIXES = frozenset({".clip"})
KIND = "Clip Studio"
_SQLITE_MAGIC = b"SQLite format 3\0"


def _database_chunk(f, size: int, name: str) -> bytes:
    """The body of the CHNKSQLi chunk; ImageError for a truncated or inconsistent file."""
    f.seek(0)
    head = f.read(24)
    if len(head) < 24 or not head.startswith(SIGNATURE):
        raise ImageError(f"{name}: truncated Clip Studio file (no complete header)")
    declared, pos = struct.unpack(">QQ", head[8:24])
    if declared != size:
        raise ImageError(f"{name}: truncated Clip Studio file (declares {declared} bytes, has {size})")
    while pos + 16 <= size:
        f.seek(pos)
        chunk = f.read(16)
        if len(chunk) < 16:
            break
        kind, length = chunk[:8], struct.unpack(">Q", chunk[8:])[0]
        if length > size - pos - 16:
            raise ImageError(f"{name}: truncated Clip Studio file (chunk {kind.decode('latin-1')!r} runs past the end)")
        if kind == b"CHNKSQLi":
            if length > limits.MAX_MEMBER_BYTES:
                raise ImageError(f"{name}: embedded database too large ({length / 1e6:.0f} MB)")
            body = f.read(length)
            if len(body) != length:
                raise ImageError(f"{name}: truncated Clip Studio file (the database is cut short)")
            return body
        if kind == b"CHNKFoot":
            break
        pos += 16 + length
    raise ImageError(f"{name}: Clip Studio file without its database (no CHNKSQLi chunk)")


@contextlib.contextmanager
def _opened(body: bytes, in_memory: bool = sys.version_info >= (3, 11)):
    """A connection to a database's bytes: deserialized in memory where sqlite3 can (Python 3.11+), else
    from a private temporary copy (Python 3.10 has no Connection.deserialize)."""
    if in_memory and sys.version_info >= (3, 11):
        con = sqlite3.connect(":memory:")
        try:
            con.deserialize(body)
            yield con
        finally:
            con.close()
        return
    with tempfile.TemporaryDirectory(prefix="posefinder-clip-") as folder:
        path = Path(folder) / "canvas.sqlite"
        path.write_bytes(body)
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            yield con
        finally:
            con.close()


def _query(body: bytes, name: str, in_memory: bool = sys.version_info >= (3, 11)) -> tuple[bytes, tuple[int, int] | None]:
    """(preview PNG, canvas size or None) from the embedded database, opened in memory, read-only."""
    if not body.startswith(_SQLITE_MAGIC):
        raise ImageError(f"{name}: corrupt embedded database (not SQLite)")
    try:
        with _opened(body, in_memory) as con:
            con.execute("PRAGMA query_only = ON")
            row = con.execute(
                "SELECT ImageData FROM CanvasPreview WHERE ImageData IS NOT NULL"
                " ORDER BY coalesce(ImageWidth, 0) * coalesce(ImageHeight, 0) DESC LIMIT 1"
            ).fetchone()
            try:
                canvas = con.execute("SELECT CanvasWidth, CanvasHeight FROM Canvas LIMIT 1").fetchone()
            except sqlite3.DatabaseError:
                canvas = None
    except sqlite3.DatabaseError as exc:
        raise ImageError(f"{name}: corrupt embedded database ({exc})") from None
    if row is None or not row[0]:
        raise ImageError(f"{name}: Clip Studio file without a canvas preview (save it with a newer Clip Studio Paint)")
    size = None
    if canvas is not None and canvas[0] and canvas[1]:
        try:
            size = (int(round(float(canvas[0]))), int(round(float(canvas[1]))))
        except (TypeError, ValueError):
            size = None
    return bytes(row[0]), size


def decode(f, size: int, name: str) -> Decoded:
    png, canvas = _query(_database_chunk(f, size, name), name)
    limits.check_png(png[:24], f"{name} (canvas preview)")
    got = raster.decode_bytes(png, f"{name} (canvas preview)")
    h, w = got.image.shape[:2]
    if canvas is not None:
        limits.check_pixels(name, *canvas)
    canvas = canvas or (w, h)
    return Decoded(got.image, kind=KIND, canvas_size=canvas, preview=canvas != (w, h), working_file=True)
