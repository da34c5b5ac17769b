"""OpenCV's direct decoding (models/imageio/direct.py) gives Pillow's pixels, and is used where it can be."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from format_files import picture
from PIL import Image
from posefinder.models.errors import ImageError
from posefinder.models.imageio import direct, raster, read_bytes


def _textured() -> np.ndarray:
    a = picture(301, 203)
    rng = np.random.default_rng(1)
    a[::7, ::5] = rng.integers(0, 256, a[::7, ::5].shape)
    return a


def _encoded(img: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, **options)
    return buf.getvalue()


def _png16() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", (_textured().astype(np.uint16) * 257 + 3)[..., ::-1])
    assert ok
    return buf.tobytes()


def _rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    return _encoded(Image.fromarray(_textured()), format="JPEG", exif=exif)


_A = _textured()
#: name: (file bytes, whether OpenCV decodes it)
CASES = {
    "png rgb": (lambda: _encoded(Image.fromarray(_A), format="PNG"), True),
    "png gray": (lambda: _encoded(Image.fromarray(_A[..., 0]), format="PNG"), True),
    "png palette": (lambda: _encoded(Image.fromarray(_A).quantize(64), format="PNG"), True),
    "png 16-bit rgb": (_png16, True),
    "jpeg 4:2:0": (lambda: _encoded(Image.fromarray(_A), format="JPEG", quality=90), True),
    "jpeg 4:4:4": (lambda: _encoded(Image.fromarray(_A), format="JPEG", quality=90, subsampling=0), True),
    "jpeg progressive": (lambda: _encoded(Image.fromarray(_A), format="JPEG", progressive=True), True),
    "jpeg gray": (lambda: _encoded(Image.fromarray(_A[..., 1]), format="JPEG"), True),
    "webp lossy": (lambda: _encoded(Image.fromarray(_A), format="WEBP", quality=80), True),
    "webp lossless": (lambda: _encoded(Image.fromarray(_A), format="WEBP", lossless=True), True),
    "tiff raw": (lambda: _encoded(Image.fromarray(_A), format="TIFF"), True),
    "tiff lzw": (lambda: _encoded(Image.fromarray(_A), format="TIFF", compression="tiff_lzw"), True),
    "tiff jpeg": (lambda: _encoded(Image.fromarray(_A), format="TIFF", compression="jpeg"), True),
    "tiff gray": (lambda: _encoded(Image.fromarray(_A[..., 2]), format="TIFF"), True),
    # Pillow's path: transparency onto white, EXIF rotation, CMYK, 16-bit gray scaling, animation
    "png rgba": (lambda: _encoded(Image.fromarray(np.dstack([_A, _A[..., :1]])), format="PNG"), False),
    "png gray 16-bit": (lambda: _encoded(Image.fromarray(_A[..., 0].astype(np.uint16) * 257), format="PNG"), False),
    "jpeg exif-rotated": (_rotated_jpeg, False),
    "jpeg cmyk": (lambda: _encoded(Image.fromarray(_A).convert("CMYK"), format="JPEG"), False),
    "webp rgba": (lambda: _encoded(Image.fromarray(np.dstack([_A, _A[..., :1]])), format="WEBP", lossless=True), False),
    "gif": (lambda: _encoded(Image.fromarray(_A).quantize(64), format="GIF"), False),
}


def _pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return raster.to_rgb(img)


@pytest.mark.parametrize("case", list(CASES))
def test_every_test_image_reads_as_pillow_reads_it(case, monkeypatch):
    make, by_opencv = CASES[case]
    data = make()
    used = []
    real = direct.decode
    monkeypatch.setattr(direct, "decode", lambda s, img: used.append(r := real(s, img)) or r)
    got = read_bytes(data, f"x {case}").image
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, _pillow(data))
    assert (bool(used) and used[0] is not None) == by_opencv


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's, on the cut TIFF
@pytest.mark.parametrize("case", ["png rgb", "jpeg 4:2:0", "jpeg progressive", "webp lossy", "tiff lzw"])
def test_a_truncated_file_is_refused_as_before(case):
    data = CASES[case][0]()
    with pytest.raises(ImageError, match="broken or truncated|not an image") as err:
        read_bytes(data[: len(data) * 2 // 3], "cut.img")
    assert "\n" not in str(err.value)


def test_a_jpeg_without_its_end_marker_goes_through_pillow():
    data = CASES["jpeg 4:2:0"][0]()
    with Image.open(io.BytesIO(data)) as img:
        assert direct.decode(io.BytesIO(data[:-2]), img) is None
        assert direct.decode(io.BytesIO(data), img) is not None


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's on the cut TIFFs (corrupt EXIF, truncated read)
@pytest.mark.parametrize("case", ["png rgb", "png palette", "jpeg 4:2:0", "jpeg progressive", "tiff lzw", "webp lossy"])
def test_files_on_disk_read_as_pillow_reads_them_and_cut_copies_are_refused(case, tmp_path):
    from posefinder.models.imageio import read_image

    data = CASES[case][0]()
    path, cut = tmp_path / "a.img", tmp_path / "cut.img"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_image(path).image, _pillow(data))
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="broken or truncated|not an image"):
        read_image(cut)
    cut.write_bytes(data[:-5])  # the end marker cut: refused, or read as Pillow reads it
    try:
        reference = _pillow(data[:-5])
    except OSError:
        with pytest.raises(ImageError):
            read_image(cut)
    else:
        np.testing.assert_array_equal(read_image(cut).image, reference)


def test_a_png_with_a_wrong_crc_or_an_exif_chunk_after_the_pixels_goes_through_pillow():
    data = bytearray(CASES["png rgb"][0]())
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    bad = bytes(data)
    bad = bad[: idat + 4 + length] + bytes(4) + bad[idat + 8 + length :]  # IDAT's CRC zeroed
    with Image.open(io.BytesIO(bad)) as img:
        assert direct.decode(io.BytesIO(bad), img) is None
    exif = Image.Exif()
    exif[0x0112] = 3
    body = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif\0\0") else exif.tobytes()
    chunk = len(body).to_bytes(4, "big") + b"eXIf" + body + zlib.crc32(b"eXIf" + body).to_bytes(4, "big")
    iend = bytes(data).rindex(b"IEND") - 4
    late = bytes(data[:iend]) + chunk + bytes(data[iend:])  # after the pixels: only Pillow's load finds it
    with Image.open(io.BytesIO(late)) as img:
        assert direct.decode(io.BytesIO(late), img) is None
    np.testing.assert_array_equal(read_bytes(late).image, _pillow(late))
