"""Bad input everywhere (issue 3 point 10): one-line message, non-zero exit, no traceback, nothing stored lost.

Complements test_cli_library.py and test_index.py: pathological JSON, foreign and empty SQLite files,
locks held by another process, decompression bombs and truncated images through every reader.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from library_helpers import random_poses, write_coco, write_pngs

from posefinder.app.cli import main
from posefinder.models.errors import ImageError, LibraryError, PoseFileError
from posefinder.models.formats import read_poses
from posefinder.models.imageio import MAX_IMAGE_PIXELS, decode_image, image_size, load_image, load_image_rgba
from posefinder.models.library import Library
from posefinder.models.library import database as db

pytestmark = pytest.mark.torchfree


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err):
    assert code == 1, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("posefinder: error: "), err
    assert "Traceback" not in err


@pytest.fixture
def lib_and_query(tmp_path, capsys):
    poses = random_poses(12, seed=4)
    coco = write_coco(tmp_path / "poses.json", [(f"img{i}.png", p) for i, p in enumerate(poses)])
    assert _run(capsys, "import", coco, "--library", tmp_path / "lib")[0] == 0
    query = write_coco(tmp_path / "q.json", [("q.png", poses[3])])
    return tmp_path / "lib", query, coco


_POSE_FILE = '{"format": "posefinder-pose", "version": 1, "poses": [{"keypoints": [%s]}]}'


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (_POSE_FILE % ", ".join(["[1, 2, 2]"] * 24 + ["[NaN, 1, 2]"]), "finite"),
        (_POSE_FILE % ", ".join(["[1e999, 2, 2]"] * 25), "finite"),
        ('{"annotations": [{"keypoints": {"x": 1}}]}', "malformed coco"),
        ('{"people": [5]}', "malformed openpose"),
        ('[{"points": {"nose_tip": "ab"}}]', "malformed add"),
        ("", "malformed JSON"),
    ],
)
def test_pathological_pose_files_get_one_line_errors(tmp_path, capsys, lib_and_query, text, message):
    lib, _, _ = lib_and_query
    before = (lib / "library.sqlite").read_bytes()
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PoseFileError, match=message):
        read_poses(path)
    for argv in (("search", "--pose", path, "--library", lib), ("import", path, "--library", lib)):
        _one_line_error(*_run(capsys, *argv)[::2])
    assert (lib / "library.sqlite").read_bytes() == before


def test_a_foreign_sqlite_file_is_refused_and_left_exactly_as_it_was(tmp_path, capsys):
    folder = tmp_path / "other_app"
    folder.mkdir()
    con = sqlite3.connect(folder / "library.sqlite")
    con.execute("CREATE TABLE notes (text TEXT)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()
    before = (folder / "library.sqlite").read_bytes()
    query = write_coco(tmp_path / "q.json", [("q.png", random_poses(1)[0])])
    for argv in (("import", query, "--library", folder), ("index", tmp_path, "--library", folder),
                 ("search", "--pose", query, "--library", folder)):  # fmt: skip
        code, _, err = _run(capsys, *argv)
        _one_line_error(code, err)
        assert "not a PoseFinder library" in err
    assert (folder / "library.sqlite").read_bytes() == before
    assert not (folder / "library.sqlite-wal").exists()
    con = sqlite3.connect(folder / "library.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    con.close()


def test_an_empty_library_file_is_refused_and_left_empty(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "library.sqlite").write_bytes(b"")
    for readonly in (False, True):
        with pytest.raises(LibraryError, match="not a PoseFinder library"):
            Library.open(folder, readonly=readonly)
    assert (folder / "library.sqlite").read_bytes() == b""


_HOLD = textwrap.dedent(
    """
    import sys, time
    from posefinder.models.library import Library
    with Library.open(sys.argv[1]) as lib:
        print("holding", flush=True)
        time.sleep(60)
    """
)


def test_a_library_held_by_another_process_is_locked_for_writers_not_readers(tmp_path, capsys, lib_and_query):
    lib, query, coco = lib_and_query
    pics = tmp_path / "pics"
    write_pngs(pics, 2)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(lib)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = (lib / "library.sqlite").read_bytes()
        for argv in (("import", coco, "--library", lib), ("index", pics, "--library", lib)):
            code, _, err = _run(capsys, *argv)
            _one_line_error(code, err)
            assert "locked by another PoseFinder process" in err
        code, out, _ = _run(capsys, "search", "--pose", query, "--library", lib, "-k", "1")
        assert code == 0 and "img3.png" in out
        assert (lib / "library.sqlite").read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert _run(capsys, "import", coco, "--library", lib)[0] == 0  # the lock died with its process


def test_a_newer_library_is_refused_by_index_too(tmp_path, capsys, lib_and_query):
    lib, _, _ = lib_and_query
    con = sqlite3.connect(lib / "library.sqlite")
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(db.SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    before = (lib / "library.sqlite").read_bytes()
    write_pngs(tmp_path / "pics", 1)
    code, _, err = _run(capsys, "index", tmp_path / "pics", "--library", lib)
    _one_line_error(code, err)
    assert "update PoseFinder" in err
    assert (lib / "library.sqlite").read_bytes() == before


def _bomb_png(width: int, height: int, data: bool = True) -> bytes:
    """A 1-bit PNG of width x height pixels, all zeros: a few kB that decode to a huge image (data=False:
    the header alone, for sizes past any decoder's limit)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = zlib.compress(row * height, 9) if data else zlib.compress(row, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_by_every_image_reader_before_decoding(tmp_path):
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 200  # just over the limit
    data = _bomb_png(side, side)
    assert len(data) < 200_000
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    for read in (load_image, load_image_rgba):
        t0 = time.perf_counter()
        with pytest.raises(ImageError, match="too large|decompression bomb"):
            read(path)
        assert time.perf_counter() - t0 < 5  # refused from the header, not decoded
    with pytest.raises(ImageError, match="too large|decompression bomb"):
        decode_image(data, "dropped.png")
    huge = _bomb_png(4 * side, 4 * side, data=False)  # past Pillow's own hard limit
    with pytest.raises(ImageError, match="too large|decompression bomb"):
        decode_image(huge, "huge.png")
    assert image_size(path) == (side, side)  # the header alone is fine to read
    (tmp_path / "huge.png").write_bytes(huge)
    with pytest.raises(ImageError, match="too large|decompression bomb"):
        image_size(tmp_path / "huge.png")


def test_truncated_and_non_images_are_refused_by_every_image_reader(tmp_path):
    from PIL import Image

    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for read in (load_image, load_image_rgba):
        assert read(good).shape[:2] == (64, 64)
        with pytest.raises(ImageError, match="truncated"):
            read(cut)
        with pytest.raises(ImageError, match="not an image"):
            read(text)
        with pytest.raises(ImageError, match="no such file"):
            read(tmp_path / "gone.png")
        with pytest.raises(ImageError, match="folder"):
            read(tmp_path)
    with pytest.raises(ImageError, match="truncated"):
        decode_image(cut.read_bytes(), "cut.jpg")
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"", "empty")


def test_import_with_a_bomb_among_the_images_links_the_others_and_says_so(tmp_path, capsys):
    pics = tmp_path / "pics"
    paths = write_pngs(pics, 2)
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 200
    (pics / "bomb.png").write_bytes(_bomb_png(side, side))
    poses = random_poses(3, seed=2)
    named = [(paths[0].name, poses[0]), (paths[1].name, poses[1]), ("bomb.png", poses[2])]
    coco = write_coco(tmp_path / "c.json", named)
    code, out, err = _run(capsys, "import", coco, "--library", tmp_path / "lib", "--images", pics)
    assert code == 1 and "bomb.png" in err and "Traceback" not in err
    assert "2 images linked" in out
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        assert lib.counts().poses == 3  # the bomb's pose is kept, without its image


def test_errors_in_a_subprocess_are_one_line_without_traceback(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for argv in (["search", "--pose", str(deep), "--library", str(tmp_path / "lib")],
                 ["import", str(deep), "--library", str(tmp_path / "lib")]):  # fmt: skip
        r = subprocess.run([sys.executable, "-m", "posefinder", *argv], capture_output=True, text=True)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("posefinder: error:")
    assert not (tmp_path / "lib").exists()
