"""Zip-based working files: Krita `.kra`, OpenRaster `.ora` and Procreate `.procreate`.

Krita and OpenRaster keep the flattened canvas in `mergedimage.png` (else only a preview: Krita's
`preview.png`, OpenRaster's `Thumbnails/thumbnail.png`); Procreate keeps `QuickLook/Thumbnail.png`. A
preview is recorded as a preview, with the canvas size from the document (maindoc.xml, stack.xml,
Document.archive). Read in memory, never extracted: the entry count, each member's declared size and its
compression ratio are checked before it is inflated, a PNG member's IHDR before the rest of it is read.
"""

from __future__ import annotations

import plistlib
import re
import struct
import zipfile
from xml.etree import ElementTree

from posefinder.models.errors import ImageError
from posefinder.models.imageio import limits, raster
from posefinder.models.imageio.decoded import Decoded

SIGNATURE = b"PK\x03\x04"
KINDS = {".kra": "Krita", ".ora": "OpenRaster", ".procreate": "Procreate"}
SUFFIXES = frozenset(KINDS)

#: Most entries a container may list (Krita files hold a few per layer).
MAX_ENTRIES = 100_000
#: Largest inflated/stored ratio of a member bigger than a megabyte: past it, a zip bomb.
MAX_RATIO = 200
#: Largest document description (XML, plist) read.
MAX_DOCUMENT_BYTES = 16 << 20

_LAYOUTS = {  # kind: (merged image, previews, most faithful first)
    "Krita": ("mergedimage.png", ("preview.png",)),
    "OpenRaster": ("mergedimage.png", ("Thumbnails/thumbnail.png",)),
    "Procreate": (None, ("QuickLook/Thumbnail.png",)),
}


def _check_directory(f, size: int, name: str) -> None:
    """Refuse a central directory listing more than MAX_ENTRIES before zipfile parses it."""
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        raise ImageError(f"{name}: broken or truncated container (no zip directory at its end)")
    entries = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    if entries > MAX_ENTRIES and entries != 0xFFFF:
        raise ImageError(f"{name}: container lists {entries} entries (at most {MAX_ENTRIES})")


def read_member(zf: zipfile.ZipFile, member: str, name: str, limit: int = limits.MAX_MEMBER_BYTES, png: bool = False) -> bytes:
    """A member's bytes, in memory; ImageError for a bomb, a lie about its size, or a broken member."""
    info = zf.getinfo(member)
    where = f"{name} ({member})"
    if info.file_size > limit:
        raise ImageError(f"{where}: declares {info.file_size / 1e6:.0f} MB inflated (at most {limit / 1e6:.0f} MB)")
    if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ImageError(f"{where}: refused as a zip bomb (inflates {info.file_size // max(info.compress_size, 1)}x)")
    try:
        with zf.open(info) as stream:
            head = stream.read(24)
            if png:
                limits.check_png(head, where)
            parts, got = [head], len(head)
            while True:
                chunk = stream.read(min(1 << 20, info.file_size + 1 - got))
                if not chunk:
                    break
                got += len(chunk)
                parts.append(chunk)
                if got > info.file_size:
                    raise ImageError(f"{where}: refused as a zip bomb (inflates past its declared size)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ImageError(f"{where}: broken or truncated member ({exc})") from None
    return b"".join(parts)


def _kind(zf: zipfile.ZipFile, names: set[str], name: str) -> str:
    mimetype = b""
    if "mimetype" in names:
        mimetype = read_member(zf, "mimetype", name, limit=256).strip()
    if mimetype == b"application/x-krita":
        return "Krita"
    if mimetype == b"image/openraster":
        return "OpenRaster"
    if "Document.archive" in names or "QuickLook/Thumbnail.png" in names:
        return "Procreate"
    raise ImageError(f"{name}: a zip archive that is not a Krita, OpenRaster or Procreate file")


def _xml_size(data: bytes, tag: str, wkey: str, hkey: str) -> tuple[int, int] | None:
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    node = root if root.tag.split("}")[-1] == tag else next((e for e in root.iter() if e.tag.split("}")[-1] == tag), None)
    width, height = (None, None) if node is None else (node.get(wkey), node.get(hkey))
    if width is None or height is None:
        return None
    try:
        return int(width), int(height)
    except ValueError:
        return None


def _procreate_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size an NSKeyedArchiver Document.archive records ("{width, height}")."""
    try:
        plist = plistlib.loads(data)
        objects = plist["$objects"]
        root = objects[plist["$top"]["root"].data]
        value = root["size"]
        value = objects[value.data] if isinstance(value, plistlib.UID) else value
        w, h = (int(float(v)) for v in re.findall(r"[-+]?\d+(?:\.\d+)?", str(value))[:2])
        return w, h
    except Exception:  # any damage here only costs the canvas size, not the preview
        return None


def _canvas_size(zf: zipfile.ZipFile, names: set[str], kind: str, name: str) -> tuple[int, int] | None:
    member, read = {
        "Krita": ("maindoc.xml", lambda d: _xml_size(d, "IMAGE", "width", "height")),
        "OpenRaster": ("stack.xml", lambda d: _xml_size(d, "image", "w", "h")),
        "Procreate": ("Document.archive", _procreate_size),
    }[kind]
    if member not in names:
        return None
    try:
        size = read(read_member(zf, member, name, limit=MAX_DOCUMENT_BYTES))
    except ImageError:
        return None
    return size if size and size[0] > 0 and size[1] > 0 else None


def _largest_preview(zf: zipfile.ZipFile, candidates: list[str], name: str) -> str:
    """The preview with the most pixels (from each one's IHDR)."""
    def pixels(member: str) -> int:
        try:
            with zf.open(member) as s:
                w, h = limits.png_size(s.read(24), f"{name} ({member})")
            return w * h
        except (ImageError, zipfile.BadZipFile, OSError, EOFError):
            return -1
    return max(candidates, key=pixels)


def decode(f, size: int, name: str) -> Decoded:
    _check_directory(f, size, name)
    f.seek(0)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ImageError(f"{name}: broken or truncated container ({exc})") from None
    with zf:
        names = set(zf.namelist())
        kind = _kind(zf, names, name)
        merged, previews = _LAYOUTS[kind]
        canvas = _canvas_size(zf, names, kind, name)
        if canvas is not None:
            limits.check_pixels(name, *canvas)
        if merged is not None and merged in names:
            member, preview = merged, False
        else:
            found = [p for p in previews if p in names]
            found += sorted(n for n in names if n.lower().endswith(".png") and "thumbnail" in n.lower() and n not in found)
            if not found:
                raise ImageError(f"{name}: {kind} file without a merged image or a preview")
            member, preview = _largest_preview(zf, found, name), True
        data = read_member(zf, member, name, png=True)
    got = raster.decode_bytes(data, f"{name} ({member})")
    h, w = got.image.shape[:2]
    canvas = canvas or (w, h)
    return Decoded(got.image, kind=kind, canvas_size=canvas, preview=preview, working_file=True)
