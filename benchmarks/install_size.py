"""The artist's install against today's (issue 19 point 5): environment size, time to the first window, first auto-pose.

    python benchmarks/install_size.py [--artist-env DIR] [--torch-env DIR] [--runs N]

Run it with the interpreter of today's environment (torch, torchvision, Lightning: `[test,train]`). It
1. builds (or reuses, --artist-env) a torch-free venv with `pip install .` from this checkout, no extras
   (what `pip install posefinder` gives an artist), and measures both environments' size on disk,
   largest packages first;
2. times `posefinder` from the command to the first painted window (POSEFINDER_STARTUP_PROBE) in each,
   median of --runs, on the same small library;
3. installs one paper-size feature-matching model with a segmenter (random weights) in each and times
   `posefinder pose IMAGE` on a 512 px image (a fresh process: imports, model loading, segmenter, pose
   network, decoding). Today's torch environment runs it as it does now (ONNX Runtime through its export
   cache, warmed by one untimed run first); the torch-free one runs the graphs the install filled.
Ratios are torch-free / today, measured in this one run. Goals: under 0.7 GB against 6.4 GB; the first
window under 2 s; auto-pose no slower than today.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "samples" / "megumin.png"


def folder_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python3*/site-packages")) or sorted(env.glob("Lib/site-packages"))
    return found[0]


def largest(env: Path, n: int = 6) -> str:
    sp = site_packages(env)
    sizes = sorted(((folder_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in sp.iterdir()), reverse=True)
    return ", ".join(f"{name} {size / 1e6:.0f} MB" for size, name in sizes[:n])


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def build_artist_env(env: Path) -> None:
    if env_python(env).is_file():
        probe = "import importlib.util, posefinder.app.cli; raise SystemExit(importlib.util.find_spec('torch') is not None)"
        if subprocess.run([str(env_python(env)), "-c", probe], capture_output=True, cwd=str(env)).returncode == 0:
            print(f"  reusing the torch-free environment {env}")
            return
    print(f"  building the torch-free environment in {env} (pip install . from this checkout) ...", flush=True)
    t = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(env)
    subprocess.run([str(env_python(env)), "-m", "pip", "install", "--quiet", str(ROOT)], check=True,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    print(f"  built in {time.perf_counter() - t:.0f} s")


def default_torch_env() -> Path:
    import torch

    return Path(torch.__file__).resolve().parents[4]  # ENV/lib/python3.X/site-packages/torch/__init__.py


def timed(cmd, env, expect: str | None = None) -> float:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=tempfile.gettempdir())
    elapsed = time.perf_counter() - t
    if out.returncode != 0 or (expect and expect not in out.stdout):
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return elapsed


def paper_model(folder: Path) -> Path:
    import torch

    from posefinder.models import nets, weights
    from posefinder.models.nets.bundle import ModelBundle

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    bundle = ModelBundle(nets.create_model("pose_matching"), nets.create_model("segmenter"))
    card = weights.make_card(bundle, name="bench-paper")
    return weights.save_model(folder / "bench-paper.safetensors", bundle, card)


def sample_image(folder: Path) -> Path:
    import numpy as np

    from posefinder.models.imageio import load_image, save_image

    if SAMPLE.is_file():
        image = load_image(SAMPLE)
    else:  # a figure-like block on white
        rng = np.random.default_rng(0)
        image = np.full((512, 512, 3), 240, np.uint8)
        image[96:448, 160:352] = rng.integers(0, 256, (352, 192, 3), dtype=np.uint8)
    import cv2

    h, w = image.shape[:2]
    scale = 512 / max(h, w)
    image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    save_image(image, folder / "sample-512.png")
    return folder / "sample-512.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--artist-env", type=Path, help="torch-free venv to build or reuse (default: a temporary one)")
    parser.add_argument("--torch-env", type=Path, help="today's environment (default: the one holding torch)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        artist = args.artist_env or tmp / "artist-env"
        today = args.torch_env or default_torch_env()
        print("1. Environment size on disk")
        build_artist_env(artist)
        sizes = {"torch-free": folder_size(artist), "today (torch)": folder_size(today)}
        for label, env in (("torch-free", artist), ("today (torch)", today)):
            print(f"  {label:<14} {sizes[label] / 1e9:5.2f} GB  {env}")
            print(f"  {'':<14} largest: {largest(env)}")
        print(f"  ratio torch-free / today: {sizes['torch-free'] / sizes['today (torch)']:.3f}  (goal: under 0.7 GB)")

        runners = {"torch-free": [str(env_python(artist)), "-m", "posefinder"], "today (torch)": [sys.executable, "-m", "posefinder"]}
        homes = {label: tmp / f"home-{i}" for i, label in enumerate(runners)}
        base_env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))

        print(f"\n2. `posefinder` to the first painted window, s (median of {args.runs}; QT_QPA_PLATFORM={base_env['QT_QPA_PLATFORM']})")
        first = {}
        for label, cmd in runners.items():
            env = dict(base_env, POSEFINDER_HOME=str(homes[label]), POSEFINDER_STARTUP_PROBE="1")
            timed(cmd, env, "first paint")  # warm the disk cache and Qt's caches
            first[label] = statistics.median(timed(cmd, env, "first paint") for _ in range(args.runs))
            print(f"  {label:<14} {first[label]:6.2f} s")
        print(f"  ratio torch-free / today: {first['torch-free'] / first['today (torch)']:.2f}  (goal: under 2 s)")

        print(f"\n3. First auto-pose of a 512 px image (`posefinder pose`, a fresh process), s (median of {args.runs})")
        model = paper_model(tmp / "model")
        image = sample_image(tmp)
        pose = {}
        for label, cmd in runners.items():
            env = dict(base_env, POSEFINDER_HOME=str(homes[label]))
            t = timed(cmd + ["models", "install", str(model)], env)
            print(f"  {label:<14} install {t:6.1f} s", flush=True)
            timed(cmd + ["pose", str(image), "--model", "bench-paper", "--json"], env)  # today: exports once
            pose[label] = statistics.median(timed(cmd + ["pose", str(image), "--model", "bench-paper", "--json"], env)
                                            for _ in range(args.runs))  # fmt: skip
            print(f"  {label:<14} {pose[label]:6.2f} s")
        print(f"  ratio torch-free / today: {pose['torch-free'] / pose['today (torch)']:.2f}  (goal: at most 1)")


if __name__ == "__main__":
    main()
