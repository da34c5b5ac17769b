"""Files from users' folders: regular files only, read no further than their size, names kept losslessly.

A folder holds more than images: FIFOs (opening one blocks until a writer comes), sockets, devices and
links to them (a symlink to /dev/zero never ends), and names that are not valid UTF-8 (archives unpacked
from other systems, Shift-JIS names), which Python hands over with lone surrogates (PEP 383) that SQLite
and a terminal cannot encode. Everything that opens a user's file goes through `open_regular`; names are
stored with `stored_name` (lossless, reversible by `name_from_store`) and shown with `readable_name`.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import overload

from posefinder.models.errors import ImageError

#: What the name of a kind of file system entry is in a message.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def readable_name(path: str | os.PathLike) -> str:
    """A path as text anyone can print: bytes that are not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def stored_name(path: str | os.PathLike) -> str:
    """The path as text SQLite can store, losslessly: each undecodable byte (a lone surrogate U+DCNN from
    the file system) becomes NUL + two hex digits. No path holds a NUL, so the mapping is one to one, and a
    valid UTF-8 path is stored as it is."""
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    return "".join(f"\0{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in text)


def name_from_store(text: str) -> str:
    """The file system's path (lone surrogates for undecodable bytes) of a `stored_name`."""
    if "\0" not in text:
        return text
    parts = text.split("\0")
    return parts[0] + "".join(chr(0xDC00 + int(p[:2], 16)) + p[2:] for p in parts[1:])


def entry_kind(mode: int) -> str | None:
    """What a non-regular file system entry is ("a FIFO (named pipe)", ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def not_regular_reason(path: str | os.PathLike) -> str | None:
    """Why path is not a regular file one may open ("... is a FIFO (named pipe)"), following links; None if
    it is one. Nothing is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{readable_name(path)}: no such file" + (" (a broken link)" if os.path.islink(path) else "")
    except OSError as exc:
        return f"{readable_name(path)}: cannot read ({exc.strerror})"
    kind = entry_kind(st.st_mode)
    if kind is None:
        return None
    behind = " behind a link" if os.path.islink(path) else ""
    return f"{readable_name(path)}: {kind}{behind}, not a regular file; skipped"


class RegularFile(io.RawIOBase):
    """A regular file opened for reading, that reads no further than the size it had when opened."""

    def __init__(self, fd: int, size: int, name: str):
        super().__init__()
        self._fd, self.size, self.name, self._pos = fd, size, name, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self.size - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read_at(self, offset: int, length: int) -> bytes:
        """Exactly length bytes at offset, or ImageError when the file ends first (a truncated file)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ImageError(f"{self.name}: truncated (needs {offset + length} bytes, has {self.size})")
        out = bytearray()
        while len(out) < length:
            chunk = os.pread(self._fd, min(length - len(out), 1 << 24), offset + len(out))
            if not chunk:
                raise ImageError(f"{self.name}: truncated (the file shrank while it was read)")
            out += chunk
        return bytes(out)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_regular(path: str | os.PathLike) -> RegularFile:
    """Open a regular file for reading (following links); ImageError for anything else, never blocking:
    a FIFO, socket or device (also behind a link) is refused from its metadata and never read."""
    name = readable_name(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    reason = not_regular_reason(path)
    if reason is not None:
        raise ImageError(reason.removesuffix("; skipped"))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read ({exc.strerror})") from None
    st = os.fstat(fd)  # what was opened, not what the name pointed to a moment before
    kind = entry_kind(st.st_mode)
    if kind is not None:
        os.close(fd)
        raise ImageError(f"{name}: {kind}, not a regular file")
    return RegularFile(fd, int(st.st_size), name)


def display_path(path: str | os.PathLike | None) -> str:
    """readable_name, or "" for None."""
    return "" if path is None else readable_name(path)


@overload
def as_path(text: str) -> Path: ...
@overload
def as_path(text: None) -> None: ...
def as_path(text: str | None) -> Path | None:
    """The Path of a stored name (None stays None)."""
    return None if text is None else Path(name_from_store(text))
