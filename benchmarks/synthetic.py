"""Speed of the synthetic figure generator (training renders figures on the fly).

Measures, in one run, the median time per figure of render_figure at 256x256 and 384x512 (CPU time of this
process and wall time), against a baseline a data loader pays anyway: decoding a JPEG of the same size with
Pillow. Prints ratios to that baseline and to the 20 ms budget of a 256x256 figure.

    python benchmarks/synthetic.py [--n 200]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np

BUDGET_MS = 20.0


def _timed(fn, n: int) -> tuple[float, float]:
    """(median cpu ms, median wall ms) of n calls fn(i)."""
    cpu, wall = [], []
    for i in range(n):
        c0, w0 = time.process_time(), time.perf_counter()
        fn(i)
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
    return statistics.median(cpu), statistics.median(wall)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="figures per size (default 200)")
    args = parser.parse_args(argv)

    from PIL import Image

    from posefinder.build.synthetic import render_figure

    for i in range(5):  # warm up imports and caches
        render_figure(i)
    last = 0.0  # the 256 x 256 figure's ms, measured below
    for size in ((256, 256), (384, 512)):
        fig = render_figure(0, size)
        buf = io.BytesIO()
        Image.fromarray(fig.image).save(buf, format="JPEG", quality=90)
        data = buf.getvalue()
        base_cpu, base_wall = _timed(lambda i: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), args.n)
        cpu, wall = _timed(lambda i: render_figure(10_000 + i, size), args.n)
        print(f"{size[0]}x{size[1]}: render_figure {cpu:.2f} ms cpu ({wall:.2f} ms wall); jpeg decode "
              f"{base_cpu:.2f} ms cpu; ratio_vs_jpeg_decode={cpu / max(base_cpu, 1e-6):.2f}")
        if size == (256, 256):
            last = cpu
    print(f"ms_per_figure_256={last:.2f} budget_ratio={last / BUDGET_MS:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
