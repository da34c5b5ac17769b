"""The demo library: synthetic figures with their exact poses, built once in the user's data folder.

    demo_dir()/images/demo_00000.jpg ...   the figures (DEMO_SIZE, JPEG)
    demo_dir()/library/                    a PoseFinder library of their poses (source "synthetic"), linked
                                           to the images, with thumbnails
    demo_dir()/demo.json                   the stamp: generator fingerprint, demo format, seed, size, how many
                                           figures are in, and whether the build finished

A build works through the figures in chunks (draw what is missing, then import the chunk's poses, which is
idempotent), so an interrupted build resumes where it stopped; a stamp from another generator or format
starts over. Figure i is always render_figure(figure_rng(DEMO_SEED, i), DEMO_SIZE), so a larger n extends
a finished library instead of redrawing it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from posefinder.models import paths
from posefinder.models.atomic import write_text

#: Version of the demo's layout and naming; bump it when they change.
DEMO_FORMAT = 1
DEMO_SEED = 2022
DEMO_SIZE = (384, 512)  # width, height
DEFAULT_COUNT = 2000
#: Figures drawn and imported per step (one import transaction batch).
CHUNK = 200
STAMP = "demo.json"


def image_name(index: int) -> str:
    return f"demo_{index:05d}.jpg"


def _identity() -> dict:
    from posefinder.build.synthetic import generator_fingerprint

    return {"format": DEMO_FORMAT, "generator": generator_fingerprint(), "seed": DEMO_SEED, "size": list(DEMO_SIZE)}


def _read_stamp(root: Path) -> dict | None:
    try:
        stamp = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _write_stamp(root: Path, stamp: dict) -> None:
    write_text(root / STAMP, json.dumps(stamp, indent=1))


def demo_paths() -> tuple[Path, Path, Path]:
    """(demo folder, images folder, library folder)."""
    root = paths.demo_dir()
    return root, root / "images", root / "library"


def is_built(n: int = DEFAULT_COUNT) -> bool:
    """Whether a finished demo library with at least n figures from this generator is there."""
    root, images, library = demo_paths()
    stamp = _read_stamp(root)
    return (
        stamp is not None
        and all(stamp.get(k) == v for k, v in _identity().items())
        and bool(stamp.get("complete"))
        and int(stamp.get("count", 0)) >= n
        and (library / "library.sqlite").is_file()
        and all((images / image_name(i)).is_file() for i in (0, int(stamp["count"]) - 1))
    )


def ensure_demo_library(n: int = DEFAULT_COUNT, progress: Callable[[int, int], None] | None = None,
                        rebuild: bool = False) -> Path:  # fmt: skip
    """The demo library's folder, built first if needed (see the module docstring).

    progress(done, total) is called as figures are drawn and added (total = the figures still to do).
    rebuild: start over even when a finished library is there.
    """
    from posefinder.models.errors import PoseFinderError

    if n < 1:
        raise PoseFinderError("the demo library needs at least 1 figure")
    root, images, library = demo_paths()
    if not rebuild and is_built(n):
        return library
    identity = _identity()
    stamp = _read_stamp(root)
    same = stamp is not None and all(stamp.get(k) == v for k, v in identity.items())
    if rebuild or not same:
        for folder in (images, library):
            if folder.exists():
                shutil.rmtree(folder)
        stamp = None
    root.mkdir(parents=True, exist_ok=True)
    images.mkdir(exist_ok=True)
    for leftover in images.glob(".tmp-*"):  # a file being written when a build was interrupted
        leftover.unlink(missing_ok=True)
    stamp = stamp or {}
    done_before = int(stamp.get("count", 0)) if stamp.get("complete") else int(stamp.get("imported", 0))
    # figures whose image went missing are drawn again (from the first missing one; the rest is skipped)
    done_before = next((i for i in range(done_before) if not (images / image_name(i)).is_file()), done_before)
    target = max(n, int(stamp.get("count", 0)))
    _write_stamp(root, {**identity, "count": target, "imported": done_before, "complete": False})
    _build(images, library, done_before, target, progress, root, identity)
    _write_stamp(root, {**identity, "count": target, "imported": target, "complete": True})
    return library


def _build(images: Path, library: Path, start: int, stop: int, progress, root: Path, identity: dict) -> None:
    from posefinder.build.synthetic import figure_rng, render_figure
    from posefinder.models.formats.record import PoseRecord
    from posefinder.models.imageio import save_image
    from posefinder.models.library import Library

    total = stop - start
    if progress is not None:
        progress(0, total)
    with Library.open(library, create=True) as lib:
        for chunk_start in range(start, stop, CHUNK):
            records = []
            for i in range(chunk_start, min(chunk_start + CHUNK, stop)):
                fig = render_figure(figure_rng(DEMO_SEED, i), DEMO_SIZE)
                name = image_name(i)
                if not (images / name).is_file():
                    save_image(fig.image, images / name, quality=90, durable=False)
                pose = fig.pose
                pose.meta["demo_index"] = i
                records.append(PoseRecord(pose, name))
            lib.import_records(records, images_dir=images)
            done = chunk_start + len(records)
            _write_stamp(root, {**identity, "count": stop, "imported": done, "complete": False})
            if progress is not None:
                progress(done - start, total)


def demo_pose(index: int = 0):
    """The exact pose of demo figure `index` (what a search of the demo library finds at distance 0)."""
    from posefinder.build.synthetic import figure_rng, render_figure

    return render_figure(figure_rng(DEMO_SEED, index), DEMO_SIZE).pose
