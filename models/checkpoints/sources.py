"""The files an import reads: the release zip (members streamed from it, never extracted), the folder it
unpacks to, or single .ckpt / rulebook .json files."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from posefinder.models.checkpoints.reader import CheckpointError

CHECKPOINT_SUFFIX = ".ckpt"
RULEBOOK_SUFFIX = "_rules.json"
_CHUNK = 1 << 20


@dataclass
class SourceFile:
    """One file of the release. name: how messages name it; relpath: its path in the release."""

    name: str
    relpath: str
    size: int
    opener: Callable[[], IO[bytes]]

    def open(self) -> IO[bytes]:
        """A seekable binary file of its contents."""
        return self.opener()

    def sha256(self) -> str:
        digest = hashlib.sha256()
        try:
            with self.open() as f:
                for chunk in iter(lambda: f.read(_CHUNK), b""):
                    digest.update(chunk)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise CheckpointError(f"{self.name}: unreadable ({exc})") from None
        return digest.hexdigest()


@dataclass
class Gathered:
    checkpoints: list[SourceFile]
    rulebooks: list[SourceFile]
    skipped: list[tuple[str, str]]  # (name, why)


def _wanted(relpath: str) -> bool:
    return relpath.endswith(CHECKPOINT_SUFFIX) or relpath.endswith(RULEBOOK_SUFFIX)


def _zip_member_opener(zip_path: Path, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        with zipfile.ZipFile(zip_path) as outer:
            member = outer.open(info)  # keeps the zip's file open after outer closes
        if info.compress_type == zipfile.ZIP_STORED:
            return member  # seeks cheaply: a stored member is a byte range of the zip
        with member:  # a compressed member seeks by decompressing again: hold this one member in memory
            return io.BytesIO(member.read())

    return opener


def _from_zip(path: Path, out: Gathered) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable zip (truncated or damaged: {exc})") from None
    if any(i.filename.endswith("data.pkl") for i in infos) and not any(_wanted(i.filename) for i in infos):
        out.checkpoints.append(_file(path))  # a .ckpt under another name: a checkpoint itself
        return
    for info in infos:
        if _wanted(info.filename):
            name = f"{path.name}:{info.filename}"
            target = out.checkpoints if info.filename.endswith(CHECKPOINT_SUFFIX) else out.rulebooks
            target.append(SourceFile(name, info.filename, info.file_size, _zip_member_opener(path, info)))


def _file(path: Path, relpath: str | None = None) -> SourceFile:
    return SourceFile(str(path), relpath or path.name, path.stat().st_size, lambda: open(path, "rb"))


def gather(paths: list[Path]) -> Gathered:
    """The checkpoints and rulebooks among paths (zips, folders, files), and what was skipped and why."""
    out = Gathered([], [], [])
    for path in map(Path, paths):
        if not path.exists():
            raise CheckpointError(f"{path}: no such file or folder")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p.name))
            if not found:
                out.skipped.append((str(path), "no .ckpt or rulebook file in it"))
            for p in found:
                rel = p.relative_to(path).as_posix()
                (out.checkpoints if p.name.endswith(CHECKPOINT_SUFFIX) else out.rulebooks).append(_file(p, rel))
        elif path.name.endswith(RULEBOOK_SUFFIX):
            out.rulebooks.append(_file(path))
        elif path.suffix == CHECKPOINT_SUFFIX:
            out.checkpoints.append(_file(path))
        elif zipfile.is_zipfile(path) or path.suffix == ".zip":
            _from_zip(path, out)
        else:
            out.skipped.append((str(path), "not a .ckpt file, a rulebook .json, a zip or a folder"))
    return out
