"""Decode time of each format PoseFinder reads, as a ratio to the PNG of the same pixels, and peak memory.

    python benchmarks/formats.py [--width 4000 --height 3000] [--repeat 3] [--no-memory]

Every format is written from one 4000x3000 picture (by psd-tools, the zip layouts of Krita and
OpenRaster, a Clip Studio container, the Pillow plugins), then read with imageio.read_image; the time is
the best of --repeat runs, printed as a ratio to the PNG's. Peak memory: the largest allowed image (the
pixel limit) as a PNG, read in a fresh process; its peak resident memory above the process's baseline (taken
before the read, so OpenCV's import is counted), as a ratio to the decoded (H, W, 3) array (the target is at
most 2x; Pillow's decode and conversion alone gave 2.53x).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _picture(w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    out = np.stack([(x * 255 // (w - 1)), (y * 255 // (h - 1)), ((x + y) % 256)], axis=2).astype(np.uint8)
    out[rng.integers(0, h, 2000), rng.integers(0, w, 2000)] = 0  # some texture
    return out


def _write_all(folder: Path, a: np.ndarray) -> dict[str, Path]:
    from format_files import clip_container, clip_database, png_bytes, write_kra, write_ora, write_plugin_image
    from PIL import Image

    h, w = a.shape[:2]
    out = {"PNG": folder / "a.png", "JPEG": folder / "a.jpg"}
    Image.fromarray(a).save(out["PNG"])
    Image.fromarray(a).save(out["JPEG"], quality=92)
    try:
        from psd_tools import PSDImage

        out["PSD"] = folder / "a.psd"
        PSDImage.frompil(Image.fromarray(a)).save(out["PSD"])
    except ImportError:
        pass
    png = png_bytes(a)
    out["Clip Studio"] = folder / "a.clip"
    out["Clip Studio"].write_bytes(clip_container(clip_database(png, (w, h), (w, h))))
    out["Krita"] = write_kra(folder / "a.kra", a, a[::8, ::8], (w, h))
    out["OpenRaster"] = write_ora(folder / "a.ora", a, a[::8, ::8], (w, h))
    for fmt, name, suffix in (("AVIF", "AVIF", ".avif"), ("HEIF", "HEIC", ".heic"), ("JXL", "JPEG XL", ".jxl")):
        try:
            out[name] = write_plugin_image(folder / f"a{suffix}", a, fmt)
        except (KeyError, OSError, ValueError) as exc:
            print(f"{name}: not written ({exc})")
    return out


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


# ru_maxrss survives exec (it would report the parent's peak): the child resets its high-water mark
# through /proc/self/clear_refs and reads VmHWM (Linux).
_MEMORY_CHILD = """
import sys
from posefinder.models.imageio import read_image

def hwm():
    return next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM'))

open('/proc/self/clear_refs', 'w').write('5')
before = hwm()
img = read_image(sys.argv[1]).image
print(hwm() - before, img.nbytes)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    from posefinder.models.imageio import MAX_IMAGE_PIXELS, read_image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a = _picture(args.width, args.height)
        files = _write_all(folder, a)
        read_image(files["PNG"])  # warm: the first read imports OpenCV
        base = _best(lambda: read_image(files["PNG"]), args.repeat)
        print(f"decode {args.width}x{args.height}, best of {args.repeat}: PNG {base * 1000:.0f} ms = 1.00")
        for name, path in files.items():
            if name == "PNG":
                continue
            t = _best(lambda p=path: read_image(p), args.repeat)
            print(f"  {name:12s} {t * 1000:7.0f} ms  ratio {t / base:5.2f}  ({path.stat().st_size / 1e6:.1f} MB)")
        if not args.no_memory:
            from PIL import Image

            side_w = int((MAX_IMAGE_PIXELS * 4 / 3) ** 0.5)
            side_h = MAX_IMAGE_PIXELS // side_w
            big = folder / "largest.png"
            Image.fromarray(_picture(side_w, side_h)).save(big, compress_level=1)
            del a
            got = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(big)], capture_output=True, text=True, check=True)
            peak, decoded = (int(v) for v in got.stdout.split())
            print(f"peak memory reading {side_w}x{side_h} ({side_w * side_h / 1e6:.0f} MP): {peak / 1e6:.0f} MB above "
                  f"baseline for a {decoded / 1e6:.0f} MB decoded array: ratio {peak / decoded:.2f} (target <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
