"""The one reader: working files (PSD, Clip Studio, Krita, OpenRaster, Procreate) and plugin images."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from format_files import (
    clip_container,
    clip_database,
    picture,
    png_bytes,
    write_kra,
    write_ora,
    write_plugin_image,
    write_procreate,
)
from posefinder.models.errors import ImageError
from posefinder.models.imageio import image_size, load_image, read_bytes, read_image

pytestmark = pytest.mark.torchfree
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "art-files"
CLIP = SHARED / "test.clip"
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason="../shared/data/art-files/test.clip is absent")


def _psd(tmp_path: Path, name: str, psd) -> Path:
    path = tmp_path / name
    with open(path, "wb") as f:
        psd.save(f)
    return path


# -- Clip Studio -------------------------------------------------------------------------------------------------
@pytest.mark.shared_data
@needs_clip
def test_clip_studio_file_reads_as_clip_studio_exports_it():
    got = read_image(CLIP)
    ref = load_image(SHARED / "test-exported-by-clip-studio.png")
    assert got.kind == "Clip Studio" and got.working_file and got.canvas_size == (928, 647)
    assert got.image.shape == ref.shape
    assert np.abs(got.image.astype(int) - ref).mean() < 1.0
    assert image_size(CLIP) == (928, 647)


def test_clip_preview_smaller_than_the_canvas_keeps_the_canvas_size():
    got = read_bytes(clip_container(clip_database(png_bytes(picture(200, 150)))), "x.clip")
    assert got.image.shape == (150, 200, 3) and got.canvas_size == (400, 300) and got.preview
    assert got.scale == (2.0, 2.0)


def test_broken_clip_files_get_one_line_reasons():
    db = clip_database(png_bytes(picture(200, 150)))
    whole = clip_container(db)
    cases = {
        "cut short": whole[: len(whole) // 2],
        "database cut short": clip_container(db[: len(db) // 2]),
        "no preview": clip_container(clip_database(None)),
        "not sqlite": clip_container(b"garbage" * 100),
    }
    for what, data in cases.items():
        with pytest.raises(ImageError) as err:
            read_bytes(data, f"{what}.clip")
        assert "\n" not in str(err.value) and str(err.value).startswith(f"{what}.clip"), what
    huge = clip_container(clip_database(_bomb_png(20000, 20000)))
    with pytest.raises(ImageError, match="too large"):
        read_bytes(huge, "bomb.clip")


def test_clip_database_reads_alike_without_sqlite_deserialize():
    """Python 3.10 has no sqlite3 Connection.deserialize: the reader opens a temporary copy instead."""
    from posefinder.models.imageio import clip

    db = clip_database(png_bytes(picture(200, 150)))
    assert clip._query(db, "x.clip", in_memory=False) == clip._query(db, "x.clip")
    for what, data in {"no preview": clip_database(None), "database cut short": db[: len(db) // 2]}.items():
        with pytest.raises(ImageError) as err:
            clip._query(data, f"{what}.clip", in_memory=False)
        assert "\n" not in str(err.value) and str(err.value).startswith(f"{what}.clip"), what


@pytest.mark.shared_data
@needs_clip
def test_real_clip_with_its_database_cut_short_is_refused(tmp_path):
    data = CLIP.read_bytes()
    at = data.index(b"CHNKSQLi")
    cut = tmp_path / "cut.clip"
    cut.write_bytes(data[: at + 16 + 1000])
    with pytest.raises(ImageError, match="truncated"):
        read_image(cut)


def _bomb_png(w: int, h: int) -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# -- Photoshop ---------------------------------------------------------------------------------------------------
def test_psd_merged_image_and_layers_without_one(tmp_path):
    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.constants import Resource

    a = picture(60, 40)
    path = _psd(tmp_path, "flat.psd", PSDImage.frompil(Image.fromarray(a)))
    got = read_image(path)
    assert got.kind == "Photoshop" and got.working_file and np.array_equal(got.image, a)

    psd = PSDImage.new("RGB", (60, 40))
    layer = np.zeros((20, 30, 4), np.uint8)
    layer[..., 0], layer[..., 3] = 200, 255
    psd.create_pixel_layer_from_array(layer, name="red", top=5, left=10)
    psd.image_resources[Resource.VERSION_INFO].data.has_composite = False  # as saved without "maximize compatibility"
    path = _psd(tmp_path, "layers.psd", psd)
    assert not PSDImage.open(path).has_preview()
    got = read_image(path).image
    assert tuple(got[10, 15]) == (200, 0, 0)  # the layer, composited
    assert tuple(got[0, 0]) == (255, 255, 255)  # transparency onto white


def test_psd_16_bit_cmyk_and_grayscale(tmp_path):
    from PIL import Image
    from psd_tools import PSDImage

    psd = PSDImage.new("RGB", (60, 40), depth=16)
    layer = np.zeros((20, 30, 4), np.uint16)
    layer[..., 0], layer[..., 3] = 50000, 65535
    psd.create_pixel_layer_from_array(layer, name="red", top=5, left=10)
    from psd_tools.constants import Resource

    psd.image_resources[Resource.VERSION_INFO].data.has_composite = False
    got = read_image(_psd(tmp_path, "deep.psd", psd)).image
    assert tuple(got[10, 15]) == (194, 0, 0)
    assert tuple(read_image(_psd(tmp_path, "deep-flat.psd", PSDImage.new("RGB", (8, 8), (65535, 0, 0), depth=16))).image[0, 0]) == (255, 0, 0)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red ink
    assert tuple(read_image(_psd(tmp_path, "cmyk.psd", PSDImage.frompil(cmyk))).image[0, 0]) == (255, 0, 0)
    gray = read_image(_psd(tmp_path, "gray.psd", PSDImage.frompil(Image.new("L", (8, 8), 77)))).image
    assert tuple(gray[0, 0]) == (77, 77, 77)


def test_truncated_and_huge_psd_are_refused(tmp_path):
    from PIL import Image
    from psd_tools import PSDImage

    good = _psd(tmp_path, "a.psd", PSDImage.frompil(Image.fromarray(picture(60, 40))))
    data = good.read_bytes()
    with pytest.raises(ImageError, match="a-cut.psd"):
        read_bytes(data[: len(data) // 2], "a-cut.psd")
    huge = bytearray(data)
    huge[14:22] = struct.pack(">II", 30000, 30000)
    with pytest.raises(ImageError, match="too large"):
        read_bytes(bytes(huge), "huge.psd")


# -- Krita, OpenRaster, Procreate ----------------------------------------------------------------------------------
def test_krita_and_openraster_merged_image_else_the_largest_preview(tmp_path):
    full, small = picture(120, 80, 1), picture(60, 40, 2)
    got = read_image(write_kra(tmp_path / "a.kra", full, small, (120, 80)))
    assert got.kind == "Krita" and not got.preview and np.array_equal(got.image, full)
    got = read_image(write_kra(tmp_path / "b.kra", None, small, (120, 80)))
    assert got.preview and got.canvas_size == (120, 80) and np.array_equal(got.image, small)
    got = read_image(write_ora(tmp_path / "a.ora", full, small, (120, 80)))
    assert got.kind == "OpenRaster" and np.array_equal(got.image, full)
    got = read_image(write_ora(tmp_path / "b.ora", None, small, (120, 80)))
    assert got.preview and got.canvas_size == (120, 80) and got.scale == (2.0, 2.0)
    assert image_size(tmp_path / "b.ora") == (120, 80)


def test_procreate_thumbnail_recorded_as_a_preview_of_the_canvas(tmp_path):
    got = read_image(write_procreate(tmp_path / "a.procreate", picture(64, 48), (2048, 1536)))
    assert got.kind == "Procreate" and got.preview and got.canvas_size == (2048, 1536)
    assert got.image.shape == (48, 64, 3)


def test_zip_bombs_truncation_and_lies_about_sizes_are_refused(tmp_path):
    path = write_kra(tmp_path / "a.kra", picture(120, 80), picture(60, 40), (120, 80))
    data = path.read_bytes()
    with pytest.raises(ImageError, match="cut.kra"):
        read_bytes(data[: len(data) - 200], "cut.kra")
    bomb = tmp_path / "bomb.kra"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/x-krita")
        z.writestr("mergedimage.png", b"\0" * (64 << 20))  # 64 MB of zeros in a few kB
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ImageError, match="zip bomb"):
        read_image(bomb)
    big = tmp_path / "big.ora"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "image/openraster")
        z.writestr("mergedimage.png", _bomb_png(30000, 30000))
    with pytest.raises(ImageError, match="too large"):
        read_image(big)
    other = tmp_path / "notes.kra"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ImageError, match="not a Krita"):
        read_image(other)


# -- plugin images -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, suffix, kind", [("AVIF", ".avif", "AVIF"), ("HEIF", ".heic", "HEIC"), ("JXL", ".jxl", "JPEG XL")])
def test_plugin_images_and_truncated_copies(tmp_path, fmt, suffix, kind):
    pytest.importorskip({"HEIF": "pillow_heif", "JXL": "pillow_jxl"}.get(fmt, "PIL"))
    a = picture(64, 48)
    path = write_plugin_image(tmp_path / f"a{suffix}", a, fmt)
    got = read_image(path)
    assert got.kind == kind and got.image.shape == (48, 64, 3)
    assert np.abs(got.image.astype(int) - a).mean() < 8
    assert image_size(path) == (64, 48)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="cut"):
        read_image(cut)


def test_a_missing_plugin_is_named_with_its_extra(tmp_path, monkeypatch):
    from posefinder.models.imageio import plugins

    path = write_plugin_image(tmp_path / "a.avif", picture(16, 16), "AVIF")
    state = dict(plugins.register())
    monkeypatch.setattr(plugins, "_state", {**state, "AVIF": False})
    from PIL import Image

    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "AVIF"})
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != "AVIF"])
    with pytest.raises(plugins.FormatUnavailable, match=r"posefinder\[formats\]"):
        read_image(path)


def test_animated_gif_gives_its_first_frame(tmp_path):
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 8, 3), c, np.uint8)) for c in (10, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert read_image(path).image[0, 0, 0] < 50


def test_png_bytes_in_a_drop_are_told_by_their_content():
    data = png_bytes(picture(10, 10))
    assert read_bytes(data, "clipboard").image.shape == (10, 10, 3)
    assert read_bytes(io.BytesIO(clip_container(clip_database(data))).getvalue(), "drop").kind == "Clip Studio"
