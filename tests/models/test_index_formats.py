"""Indexing what real art folders hold: working files, odd names, FIFOs, sockets, devices and links to them."""

from __future__ import annotations

import os
import socket
import threading

import numpy as np
import pytest
from format_files import picture, png_bytes, write_kra, write_ora, write_procreate
from posefinder.models.imageio import save_image
from posefinder.models.library import Library
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and byte names are POSIX")


class _Fixed:
    """An estimator that finds one pose whose wrist sits at (10, 20) in the pixels it is given."""

    def estimate(self, image):
        kp = np.zeros((25, 3), np.float32)
        kp[9] = (10, 20, 2)
        kp[10] = (30, 40, 2)
        return [Pose(keypoints=kp, image_size=(image.shape[1], image.shape[0]))]


def _runner():
    from posefinder.models.library.indexer import default_runner

    return default_runner(_Fixed())


def _index(tmp_path, folder):
    with Library.open(tmp_path / "lib", create=True) as lib:
        report = lib.index(folders=[folder], runner=_runner())
        rows = lib._con().execute("SELECT path, name, width, height, status FROM images ORDER BY path").fetchall()
        poses = {r[0]: r[1] for r in lib._con().execute("SELECT i.name, p.keypoints FROM poses p JOIN images i ON i.id = p.image_id")}
    return report, rows, poses


def test_a_mixed_folder_gives_each_readable_file_one_row_with_its_canvas_size(tmp_path):
    from PIL import Image
    from psd_tools import PSDImage

    folder = tmp_path / "art"
    folder.mkdir()
    save_image(picture(50, 40), folder / "a.png")
    PSDImage.frompil(Image.fromarray(picture(60, 40))).save(folder / "b.psd")
    write_kra(folder / "c.kra", None, picture(60, 40), (120, 80))  # preview only: half the canvas
    write_ora(folder / "d.ora", picture(70, 30), picture(35, 15), (70, 30))
    write_procreate(folder / "e.procreate", picture(64, 48), (256, 192))
    (folder / "f.png").write_bytes(png_bytes(picture(10, 10))[:30])  # truncated
    report, rows, _ = _index(tmp_path, folder)
    sizes = {os.path.basename(r[0]): (r[2], r[3], r[4]) for r in rows}
    assert sizes["a.png"][:2] == (50, 40) and sizes["b.psd"][:2] == (60, 40)
    assert sizes["c.kra"][:2] == (120, 80) and sizes["d.ora"][:2] == (70, 30) and sizes["e.procreate"][:2] == (256, 192)
    assert sizes["f.png"][2] == "bad" and len(report.bad) == 1 and "\n" not in report.bad[0]
    assert len(rows) == 6


def test_poses_of_a_preview_are_stored_in_canvas_pixels(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    write_kra(folder / "c.kra", None, picture(60, 40), (120, 80))
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.index(folders=[folder], runner=_runner())
        from posefinder.models.library import database as db

        row = lib._con().execute(f"SELECT {db.POSE_COLUMNS} FROM poses").fetchone()
        pose = db.row_to_pose(row)
    assert pose.image_size == (120, 80)
    assert tuple(pose.keypoints[9, :2]) == (20, 40)  # (10, 20) on the half-size preview


@posix_only
def test_fifos_sockets_and_links_to_devices_are_skipped_never_opened(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    save_image(picture(20, 20), folder / "good.png")
    os.mkfifo(folder / "x.png")  # opening it would wait for a writer forever
    os.symlink("/dev/zero", folder / "zero.png")  # reading it would never end
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "s.png"))
        done = threading.Event()
        result = {}

        def run():
            result["out"] = _index(tmp_path, folder)
            done.set()

        threading.Thread(target=run, daemon=True).start()
        assert done.wait(120), "indexing hung on a FIFO or a device"
    finally:
        sock.close()
    report, rows, _ = result["out"]
    assert [os.path.basename(r[0]) for r in rows] == ["good.png"]
    reasons = " | ".join(report.skipped)
    assert "x.png: a FIFO" in reasons and "zero.png: a character device behind a link" in reasons and "s.png: a socket" in reasons


@posix_only
def test_a_name_that_is_not_utf8_is_kept_losslessly_and_shown_readably(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/\x83|\x81[\x83Y.png"  # Shift-JIS for a katakana word: not UTF-8
    save_image(picture(20, 20), os.fsdecode(raw))
    report, rows, _ = _index(tmp_path, folder)
    assert not report.bad and len(rows) == 1
    with Library.open(tmp_path / "lib", readonly=True) as lib:
        info = lib.image_info(1)
        assert info.path is not None and os.fsencode(info.path) == raw  # the same file, byte for byte
        assert info.path.is_file()
        assert "\\x83|\\x81[\\x83Y.png" in info.name
        info.name.encode("utf-8")  # printable anywhere
    report2, rows2, _ = _index(tmp_path, folder)
    assert report2.unchanged == 1 and len(rows2) == 1  # recognised as the same file next time


def test_open_regular_reads_no_further_than_the_size(tmp_path):
    from posefinder.models.files import open_regular

    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    with open_regular(path) as f:
        with open(path, "ab") as grow:
            grow.write(b"y" * 100)  # grows while being read
        assert f.read() == b"x" * 100


def test_files_of_a_missing_plugin_get_one_summary_line(tmp_path, monkeypatch):
    from format_files import write_plugin_image
    from PIL import Image
    from posefinder.models.imageio import plugins

    folder = tmp_path / "art"
    folder.mkdir()
    for i in range(5):
        write_plugin_image(folder / f"p{i}.avif", picture(16, 16, i), "AVIF")
    save_image(picture(20, 20), folder / "good.png")
    monkeypatch.setattr(plugins, "_state", {**plugins.register(), "AVIF": False})
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "AVIF"})
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != "AVIF"])
    report, rows, _ = _index(tmp_path, folder)
    assert not report.bad and report.unavailable == {"AVIF": 5} and len(rows) == 1
    line = report.unavailable_line()
    assert line is not None and "5 files not read (5 AVIF)" in line and "posefinder[formats]" in line


def test_re_saving_a_working_file_is_a_change_and_hand_edited_poses_are_kept(tmp_path):
    from PIL import Image
    from psd_tools import PSDImage

    folder = tmp_path / "art"
    folder.mkdir()
    kra, psd = folder / "a.kra", folder / "b.psd"
    write_kra(kra, None, picture(60, 40), (120, 80))
    PSDImage.frompil(Image.fromarray(picture(60, 40))).save(psd)
    calls = []

    class Counting(_Fixed):
        def estimate(self, image):
            calls.append(image.shape)
            poses = super().estimate(image)
            for pose in poses:
                pose.source = "model:fixed"
            return poses

    from posefinder.models.library.indexer import default_runner

    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.index(folders=[folder], runner=default_runner(Counting()))
        ids = {os.path.basename(p): i for i, p in lib._con().execute("SELECT id, path FROM images")}
        hashes = dict(lib._con().execute("SELECT id, hash FROM images"))
        (pose_id, pose), = lib.poses_of_image(ids["a.kra"])
        mine = pose.copy()
        mine.keypoints[0] = (33, 44, 2)
        lib.set_pose(pose_id, mine)
        calls.clear()
        write_kra(kra, None, picture(60, 40, seed=3), (240, 160))  # re-saved: other pixels, a larger canvas
        PSDImage.frompil(Image.fromarray(picture(60, 40, seed=4))).save(psd)  # re-saved: same size
        for path in (kra, psd):  # a re-save within the clock's resolution: only the content tells
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        report = lib.index(folders=[folder], runner=default_runner(Counting()))
        assert report.changed == 2 and report.added == 0 and report.unchanged == 0
        rows = {i: (h, w, hh) for i, h, w, hh in lib._con().execute("SELECT id, hash, width, height FROM images")}
        assert all(rows[i][0] != hashes[i] for i in rows)  # new content hashes
        assert rows[ids["a.kra"]][1:] == (240, 160)  # the new canvas is recorded, and its thumbnail made
        from posefinder.models.library.thumbs import thumb_path

        assert thumb_path(lib.path, rows[ids["a.kra"]][0]).exists()
        assert calls == [(40, 60, 3)]  # only the file without a hand edit is estimated again
        (kept_id, kept), = lib.poses_of_image(ids["a.kra"])
        assert kept_id == pose_id and kept.source == "hand" and kept.allclose(mine)
        ((_, fresh),) = lib.poses_of_image(ids["b.psd"])
        assert fresh.source != "hand" and tuple(fresh.keypoints[9, :2]) == (10, 20)
