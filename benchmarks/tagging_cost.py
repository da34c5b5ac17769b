"""What tagging adds to indexing per image: the paper-size tagger (ResNet50, 1,062 classes, 256 px input) on a
512 px image, through ONNX Runtime on CPU against PyTorch as the baseline, measured in one run.

Run alone: `.venv/bin/python benchmarks/tagging_cost.py [--rounds 5] [--threads 2] [--home DIR]`, or as the
tagging section of benchmarks/estimators.py. The tagger has random weights (the time does not depend on
them) and is written as `posefinder-train tagger` writes one; ImageTagger runs it as indexing does
(numpy letterbox, the network, sigmoid, scores above the floor). Median seconds per image over the rounds,
after one warm-up call; the ONNX export is made once and cached under --home.
The last line is `tagging_s_per_image=<x> onnx_vs_torch=<y>` (goal: under 0.35 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "posefinder-bench-home")
    args = parser.parse_args(argv)
    os.environ.setdefault("POSEFINDER_HOME", str(args.home))
    import torch

    from posefinder.models import tagging

    torch.set_num_threads(args.threads)
    path = args.home / "paper-tagger.safetensors"
    if not path.is_file():
        from posefinder.build.trainer import export_bundle
        from posefinder.models import nets

        args.home.mkdir(parents=True, exist_ok=True)
        net = nets.create_model("tagger", num_classes=1062)
        export_bundle(path, tagger=net, name="paper-size-tagger", classes=[f"class{i:04d}" for i in range(1062)],
                      input_size=256)  # fmt: skip
    info = tagging.read_tagger_file(path)
    image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)
    times = {}
    for runtime in ("torch", "onnx"):
        tagger = tagging.ImageTagger(info, runtime=runtime)
        tagger.tag(image)
        tt = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            tagger.tag(image)
            tt.append(time.perf_counter() - t)
        times[tagger.runtime] = float(np.median(tt))
    print(f"\ntagging a 512 px image (paper-size tagger, 256 px input, {args.threads} threads):")
    for name, t in times.items():
        print(f"  {name:12} {t:7.3f} s")
    best = times.get("onnxruntime", times["torch"])
    print(f"tagging_s_per_image={best:.3f} onnx_vs_torch={best / times['torch']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
