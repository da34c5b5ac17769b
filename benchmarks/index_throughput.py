"""Batch-indexing throughput: the one-machine runner (`posefinder-train index`) against Ray (`--ray`), same model
and images, measured in one run.

Run: `.venv/bin/python benchmarks/index_throughput.py [--device cpu|cuda] [--images 96] [--preset small|paper]`

Images: --images generated JPEGs of --size pixels (smooth random colour fields, so decoding costs what a
photo's does), read once before the timings so that both runners find them in the page cache. Model: a
random-weight feature-matching network and segmenter of --preset (default small on CPU, paper on CUDA), whose
segmenter sees one character covering each image (so the pose network runs once per image, as a trained
model does on one-character images; benchmarks/estimators.py does the same), saved as a model file.

Each run is a fresh process, cold as a job starts, that indexes the folder into a fresh library (hashing,
decoding, estimating, thumbnails, commits: the whole `lib.index`), with the model loaded inside the timing
(the one-machine runner loads it before it indexes, each Ray actor when it starts). One machine:
BatchRunner, one estimator on --device, --workers decoding processes. Ray: a local instance of all this
machine's CPUs (and its GPUs), started once by this script (timed apart: a cluster runs before a job comes)
and joined by each run's process; RayRunner with CPU decoding tasks and its default actor pool (one actor per
GPU; on CPU one actor using as many torch threads as the one-machine run).
The runs alternate, one machine then Ray, --repeat times; the best of each is compared.

The last line is `ray_vs_one_machine=<ratio of images per second> ray_overhead=<1 - ratio>` (goal: overhead
under 20% on this machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size, size * 3 // 4
    for i in range(n):
        small = rng.integers(0, 255, size=(12, 9, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 8, size=(h, w, 3))
        arr = np.clip(np.asarray(img, np.float64) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:05d}.jpg", quality=90)


def make_model(folder: Path, preset: str) -> Path:
    import torch

    from posefinder.models import nets, weights
    from posefinder.models.nets.bundle import ModelBundle

    torch.manual_seed(0)
    kw = {"preset": preset} if preset != "paper" else {}
    segmenter = nets.create_model("segmenter", **kw)
    last = segmenter.refine[-1]  # one character covering the image: the pose network runs once per image
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 10.0)
    bundle = ModelBundle(nets.create_model("pose_matching", **kw), segmenter).eval()
    card = weights.make_card(bundle, name=f"bench-{preset}")
    return weights.save_model(folder / f"bench-{preset}.safetensors", bundle, card)


def run_one_machine(model: Path, images: Path, lib_dir: Path, device: str, batch: int, workers: int) -> tuple[float, int]:
    from posefinder.build.indexing import BatchRunner, resolve_estimator
    from posefinder.models.library import Library

    t = time.perf_counter()
    runner = BatchRunner([resolve_estimator(str(model), device=device)], batch_size=batch, workers=workers)
    with Library.open(lib_dir, create=True) as lib:
        report = lib.index([images], runner=runner, batch_size=runner.commit_size, tagger=None)
    return time.perf_counter() - t, report.estimated


def run_ray(model: Path, images: Path, lib_dir: Path, device: str, batch: int, threads: int) -> tuple[float, int]:
    from posefinder.build.cluster import RayRunner
    from posefinder.models.library import Library

    t = time.perf_counter()
    runner = RayRunner(str(model), device="cuda" if device.startswith("cuda") else "cpu", batch_size=batch,
                       threads=None if device.startswith("cuda") else threads)  # fmt: skip
    with Library.open(lib_dir, create=True) as lib:
        report = lib.index([images], runner=runner, batch_size=runner.commit_size, tagger=None)
    return time.perf_counter() - t, report.estimated


def _child(argv) -> int:
    """One timed run in a fresh process (cold, as a job starts): prints its seconds and images estimated."""
    import json

    kind, model, images, lib_dir, device, batch, extra, address = argv
    if kind == "ray":
        import ray

        ray.init(address=address, log_to_driver=False, configure_logging=False)
        elapsed, estimated = run_ray(Path(model), Path(images), Path(lib_dir), device, int(batch), int(extra))
        ray.shutdown()
    else:
        elapsed, estimated = run_one_machine(Path(model), Path(images), Path(lib_dir), device, int(batch), int(extra))
    print(json.dumps([elapsed, estimated]))
    return 0


def _timed(kind: str, model: Path, images: Path, lib_dir: Path, device: str, batch: int, extra: int, address: str):
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--child", kind, str(model), str(images), str(lib_dir), device, str(batch),
           str(extra), address]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if res.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--images", type=int, default=None, help="images to index (default 96 on CPU, 2000 on CUDA)")
    parser.add_argument("--size", type=int, default=512, help="image height in pixels (width 3/4 of it; default 512)")
    parser.add_argument("--preset", default=None, help="model size: small or paper (default small on CPU, paper on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per network batch (default 8 CPU, 32 CUDA)")
    parser.add_argument("--workers", type=int, default=None, help="one-machine decoding processes (default: CPUs - 1)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs of each (default 2)")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    n = args.images or (2000 if cuda else 96)
    preset = args.preset or ("paper" if cuda else "small")
    batch = args.batch_size or (32 if cuda else 8)
    cpus = os.cpu_count() or 1
    workers = args.workers if args.workers is not None else max(1, cpus - 1)
    os.environ.setdefault("POSEFINDER_RUNTIME", "torch")  # both runners in PyTorch (no ONNX export in the timing)

    import ray
    import torch

    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="posefinder-throughput-") as tmp:
        root = Path(tmp)
        os.environ["POSEFINDER_HOME"] = str(root / "home")
        t = time.perf_counter()
        make_images(root / "images", n, args.size)
        model = make_model(root, preset)
        for p in (root / "images").iterdir():  # into the page cache, for both runners alike
            p.read_bytes()
        print(f"{n} images of {args.size * 3 // 4}x{args.size} px, model {preset} (random weights) on {args.device}, "
              f"batch {batch}; {cpus} CPUs, torch {threads} threads; prepared in {time.perf_counter() - t:.1f} s",
              flush=True)  # fmt: skip
        t = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 object_store_memory=min(2 << 30, max(256 << 20, n * args.size * args.size * 3)))  # fmt: skip
        t_init = time.perf_counter() - t
        address = ray.get_runtime_context().gcs_address
        print(f"Ray local instance started in {t_init:.1f} s ({ray.cluster_resources().get('CPU', 0):g} CPUs, "
              f"{ray.cluster_resources().get('GPU', 0):g} GPUs); not counted below", flush=True)  # fmt: skip
        one, via_ray = [], []
        try:
            for r in range(args.repeat):
                for name, kind, out, extra in (("one machine", "one", one, workers), ("ray", "ray", via_ray, threads)):
                    lib_dir = root / f"lib-{kind}-{r}"
                    elapsed, estimated = _timed(kind, model, root / "images", lib_dir, args.device, batch, extra, address)
                    if estimated != n:
                        raise SystemExit(f"{name}: estimated {estimated} of {n} images")
                    out.append(n / elapsed)
                    print(f"  run {r + 1} {name:<11} {elapsed:6.1f} s  {n / elapsed:7.2f} img/s", flush=True)
                    shutil.rmtree(lib_dir)
        finally:
            ray.shutdown()
    best_one, best_ray = max(one), max(via_ray)
    ratio = best_ray / best_one
    print(f"\nbest: one machine {best_one:.2f} img/s, Ray {best_ray:.2f} img/s")
    print(f"ray_vs_one_machine={ratio:.3f} ray_overhead={1 - ratio:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
