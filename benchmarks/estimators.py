"""Times the pose estimators at batch size 1 on a 512x512 image on this machine, next to the paper's figures.

    python benchmarks/estimators.py [--rounds 5] [--threads 2] [--compile] [--skip-networks]

1. Parameter counts of the paper-size pose networks next to Table 1's (86.8M concatenation, 9.9M matching).
2. The networks alone (paper sizes, random weights: speed does not depend on the values), for each way
   of running them: eager PyTorch (no_grad), inference_mode, channels_last, bf16 autocast, dynamic int8
   quantisation, ONNX Runtime (when installed), torch.compile (with --compile: minutes to compile). Each
   is timed in interleaved rounds (one call of each option per round, the median kept), so that the load
   of a shared machine hits all options alike; ratios are to eager in the same run, and "max |diff|" is
   the largest difference of its output logits from eager (an option is only "correct" within 1e-3).
3. Auto-pose of one 512x512 image (../shared/data/samples/megumin.png where present): every available
   estimator of the chain, and the paper-size feature-matching and feature-concatenation models with
   random weights (segmenter included), through the real pipeline, in PyTorch and in ONNX Runtime, next
   to the paper's 147.8 ms (matching) and 217.7 ms (concatenation) per image on a GPU (Table 1); in ONNX
   Runtime also with the segmenter at output stride 16 (PipelineSettings.segmenter_output_stride).
4. Auto-pose with the authors' models as `posefinder models import` installs them: a generated release
   laid out like theirs (random weights; tests/paper_checkpoints.py) imported, then the feature-matching
   model with the depth-101 segmenter (their head, shorter side 256) in PyTorch at output stride 8 (the
   baseline) and in ONNX Runtime at output stride 8 and 16, as ratios (goal: under 1 s at stride 16).
   ONNX Runtime runs the graphs the import installs (the templates of their variants in resources/onnx,
   filled with the weights; the stride-16 segmenter's filled once into the cache), as on a torch-free
   install. `--imported-only` runs this part alone.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PAPER_MS = {"feature-matching": 147.8, "feature-concatenation": 217.7}
PAPER_PARAMS_M = {"feature-matching": 9.9, "feature-concatenation": 86.8}
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "samples" / "megumin.png"


def params_m(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def interleaved(fns: dict, rounds: int) -> dict[str, float]:
    """Median ms of each callable over `rounds` rounds, one call of each per round (after one warm-up)."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def network_options(module, size: int, allow_compile: bool):
    """name -> (callable, output) for each way of running `module` on a (1, 3, size, size) input."""
    import torch

    from posefinder.models.estimators import onnx_runtime

    torch.manual_seed(1)
    x = torch.rand(1, 3, size, size)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    module_cl = copy.deepcopy(module).to(memory_format=torch.channels_last)
    out: dict = {}

    def grad_off(f):
        def run():
            with torch.no_grad():
                return f()

        return run

    def inference(f, autocast=False):
        def run():
            with torch.inference_mode():
                if autocast:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return f()
                return f()

        return run

    out["eager no_grad"] = grad_off(lambda: module(x))
    out["inference_mode"] = inference(lambda: module(x))
    out["channels_last"] = inference(lambda: module_cl(x_cl))
    threads = torch.get_num_threads()

    def one_thread():
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return module_cl(x_cl)
        finally:
            torch.set_num_threads(threads)

    out["channels_last 1 thread"] = one_thread
    out["bf16 autocast"] = inference(lambda: module_cl(x_cl), autocast=True)
    quantised = torch.ao.quantization.quantize_dynamic(copy.deepcopy(module), {torch.nn.Linear}, dtype=torch.qint8)
    out["dynamic int8"] = inference(lambda: quantised(x))
    if onnx_runtime.can_export():
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            path = onnx_runtime.export(module, size, Path(tmp) / "net.onnx")
            print(f"    (ONNX export {time.perf_counter() - t:.0f} s)", flush=True)
            network = onnx_runtime.OrtNetwork(path)
            network1 = onnx_runtime.OrtNetwork(path, threads=1)
        out[f"onnxruntime {network.threads} threads"] = lambda: torch.from_numpy(network(x.numpy()))
        out["onnxruntime 1 thread"] = lambda: torch.from_numpy(network1(x.numpy()))
    if allow_compile:
        t = time.perf_counter()
        compiled = torch.compile(copy.deepcopy(module))
        with torch.inference_mode():
            compiled(x)
        print(f"    (torch.compile {time.perf_counter() - t:.0f} s)", flush=True)
        out["torch.compile"] = inference(lambda: compiled(x))
    return out


def run_networks(args) -> None:
    import torch

    from posefinder.models import nets

    torch.manual_seed(0)
    cases = [
        ("pose feature-matching, 256 px crop", nets.create_model("pose_matching").eval(), 256),
        ("pose feature-concatenation, 256 px crop", nets.create_model("pose_concat").eval(), 256),
    ]
    seg = nets.create_model("segmenter").eval()
    cases += [(f"segmenter, {s} px", seg, s) for s in args.segmenter_sizes]
    print("\n2. Networks alone, batch 1, ms (median of interleaved rounds; ratio to eager; max |diff| of logits)")
    for label, module, size in cases:
        print(f"  {label}:", flush=True)
        fns = {}
        for name, f in network_options(module, size, args.compile).items():
            try:
                ref = f()
            except Exception as exc:  # e.g. bf16 kernels missing for an op
                print(f"    {name:<26} fails: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
                continue
            fns[name] = (f, ref)
        base = fns["eager no_grad"][1].float()
        times = interleaved({k: v[0] for k, v in fns.items()}, args.rounds)
        for name, ms in times.items():
            diff = float((fns[name][1].float() - base).abs().max())
            print(f"    {name:<26} {ms:9.1f} ms  x{times['eager no_grad'] / ms:5.2f}  max |diff| {diff:.1e}")


def sample_image() -> tuple[np.ndarray, str]:
    from posefinder.models.imageio import load_image

    if SAMPLE.is_file():
        image = load_image(SAMPLE)
        if image.shape[:2] == (512, 512):
            return image, str(SAMPLE.name)
    rng = np.random.default_rng(0)
    image = np.full((512, 512, 3), 240, np.uint8)
    image[96:448, 160:352] = rng.integers(0, 256, (352, 192, 3), dtype=np.uint8)
    return image, "synthetic 512x512 figure"


def run_estimators(args) -> None:
    import torch

    from posefinder.models import nets, weights
    from posefinder.models.estimators import chain, onnx_runtime
    from posefinder.models.estimators.paper import PaperModelEstimator
    from posefinder.models.nets.bundle import ModelBundle

    image, label = sample_image()
    print(f"\n3. Auto-pose of one image ({label}), batch 1, ms per image (median of interleaved rounds)")
    runs: dict = {}
    for avail in chain.describe_chain():
        if avail.available:
            try:
                est = chain.select_estimator(avail.name)
            except Exception as exc:
                print(f"  {avail.name}: cannot load ({exc})")
                continue
            runs[f"{avail.name} (installed: {getattr(est, 'model_name', '') or 'torchvision'})"] = est
        else:
            print(f"  {avail.name}: not available here ({avail.reason})")
    tmp = args.home
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["POSEFINDER_HOME"] = str(tmp)  # the random paper-size models and their ONNX exports, kept
    torch.manual_seed(0)
    segmenter = nets.create_model("segmenter")
    # A random segmenter may see no character (no pose network run) or several; this one sees one character
    # covering the image (its last layer outputs +10 everywhere), so each image runs the pose network once,
    # as a trained model does on a single-character image. The work done is the same as with real weights.
    last = segmenter.refine[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 10.0)
    for arch, builder in (("feature-matching", "pose_matching"), ("feature-concatenation", "pose_concat")):
        bundle = ModelBundle(nets.create_model(builder), segmenter).eval()
        for s in args.segmenter_sizes:
            path = Path(tmp) / f"{builder}-{s}.safetensors"
            if not path.is_file():  # deterministic (seed 0): kept between runs with their ONNX exports
                card = weights.make_card(bundle, name=f"{builder}-{s}", segmenter_input_size=s)
                weights.save_model(path, bundle, card)
            runs[f"{arch} paper size, random, segmenter {s} px, torch"] = PaperModelEstimator.from_file(
                path, runtime="torch")
            if onnx_runtime.can_export():
                t = time.perf_counter()
                est = PaperModelEstimator.from_file(path, runtime="onnx")
                print(f"  ({arch}, segmenter {s}: ONNX export and check {time.perf_counter() - t:.0f} s)", flush=True)
                threads = getattr(est.pipeline.pose_net, "threads", "?")
                runs[f"{arch} paper size, random, segmenter {s} px, onnxruntime {threads} thr"] = est
                # the segmenter at output stride 16 (same weights, a third of its work; Segmenter.set_output_stride)
                est = PaperModelEstimator.from_file(path, runtime="onnx", segmenter_output_stride=16)
                engine = "onnxruntime" if est.runtime.get("segmenter") == "onnxruntime" else "torch (export failed)"
                runs[f"{arch} paper size, random, segmenter {s} px at stride 16, {engine} {threads} thr"] = est
    for name, est in runs.items():
        count = len(est.estimate(image))
        if count != 1 and "random" in name:
            raise SystemExit(f"{name}: {count} characters found; the benchmark expects exactly one")
    times = interleaved({k: (lambda e=e: e.estimate(image)) for k, e in runs.items()}, args.rounds)
    width = max(map(len, times))
    for name, ms in times.items():
        arch = next((a for a in PAPER_MS if name.startswith(a)), None)
        paper = f"   paper (GPU) {PAPER_MS[arch]} ms: x{ms / PAPER_MS[arch]:.2f}" if arch else ""
        print(f"  {name:<{width}} {ms:8.1f} ms{paper}")


def run_imported(args) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import paper_checkpoints as pc

    from posefinder.models.checkpoints.importer import import_release
    from posefinder.models.estimators import onnx_runtime
    from posefinder.models.estimators.paper import PaperModelEstimator
    from posefinder.models.weights import ModelStore

    image, label = sample_image()
    print(f"\n4. Auto-pose with the imported authors' models ({label}), batch 1, ms per image")
    home = args.home / "imported-v3"  # v3: models installed with their ONNX graphs (templates of their variants)
    os.environ["POSEFINDER_HOME"] = str(home)
    store = ModelStore(home / "models")
    if not store.list():
        torch.manual_seed(0)
        release = home / "release"
        # logits of a trained network's range (a few units), so that the ONNX check (1e-3) sees its rounding only
        pose = pc.scale_output(pc.randomise(pc.FeatMatchRef(), 1, (64, 64)), pc.FeatMatchRef.output_conv, 0.05)
        seg = pc.randomise(pc.SegmenterRef(), 2, (64, 64))
        with torch.no_grad():  # one character covering the image, as in part 3
            seg.get_parameter("final_head.6.weight").zero_()
            seg.get_parameter("final_head.6.bias").copy_(torch.tensor([0.0, 10.0]))
        pc.write_checkpoint(release / "feat_match+data.ckpt", pose.state_dict(), pc.pose_hparams(), rcnn=True)
        pc.write_checkpoint(release / "segmenter.ckpt", seg.state_dict(), pc.segmenter_hparams())
        t = time.perf_counter()
        report = import_release([release], store)
        print(f"  imported {report.installed} in {time.perf_counter() - t:.1f} s")
    path = store.list()[0].weights_path
    runs = {"torch, segmenter stride 8 (baseline)": PaperModelEstimator.from_file(path, runtime="torch")}
    if onnx_runtime.can_export():
        for stride in (8, 16):
            t = time.perf_counter()
            est = PaperModelEstimator.from_file(path, runtime="onnx", segmenter_output_stride=stride)
            print(f"  (ONNX export / load at stride {stride}: {time.perf_counter() - t:.0f} s; runs in {est.runtime})")
            runs[f"onnxruntime, segmenter stride {stride}"] = est
    for name, est in runs.items():
        if len(est.estimate(image)) != 1:
            raise SystemExit(f"{name}: expected exactly one character")
    times = interleaved({k: (lambda e=e: e.estimate(image)) for k, e in runs.items()}, args.rounds)
    base = next(iter(times.values()))
    width = max(map(len, times))
    for name, ms in times.items():
        print(f"  {name:<{width}} {ms:8.1f} ms  x{ms / base:.2f} of the baseline  "
              f"{'under' if ms < 1000 else 'over'} 1 s")


def run_params() -> None:
    from posefinder.models import nets

    matching = nets.create_model("pose_matching")
    concat = nets.create_model("pose_concat")
    trunk = params_m(concat.tagger)
    trained = sum(p.numel() for p in concat.trainable_parameters()) / 1e6
    r50 = params_m(nets.create_model("keypoint_rcnn"))
    r101 = params_m(nets.create_model("keypoint_rcnn", depth=101))
    print("\n1. Parameters (millions; Table 1 counts the frozen sources too)")
    print(f"  feature matching        {params_m(matching):6.2f}  paper {PAPER_PARAMS_M['feature-matching']}  "
          f"(frozen tagger trunk {params_m(matching.tagger):.2f} + trained "
          f"{sum(p.numel() for p in matching.trainable_parameters()) / 1e6:.2f})")
    print(f"  feature concatenation   {params_m(concat):6.2f}  paper {PAPER_PARAMS_M['feature-concatenation']}  "
          f"(trunk {trunk:.2f} + R-CNN backbone and keypoint branch {params_m(concat.task):.2f} + trained {trained:.2f})")
    print(f"    counted as the paper does (trunk + whole detector + trained): R50-FPN {trunk + r50 + trained:.2f}, "
          f"R101-FPN {trunk + r101 + trained:.2f} (whole detectors: R50 {r50:.2f}, R101 {r101:.2f}; paper's "
          f"detectron2 R101 77.5)")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--segmenter-sizes", type=lambda s: [int(v) for v in s.split(",")], default=[320, 256])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--skip-networks", action="store_true", help="skip part 2")
    parser.add_argument("--imported-only", action="store_true", help="run part 4 (the imported models) only")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "posefinder-bench-home",
                        help="where the random paper-size models and their ONNX exports are kept between runs")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"PoseFinder estimator benchmark: torch {torch.__version__}, {args.threads} threads, "
          f"{platform.processor() or platform.machine()} with {os.cpu_count()} cores, load average {load:.1f}")
    if args.imported_only:
        run_imported(args)
        return 0
    run_params()
    if not args.skip_networks:
        run_networks(args)
    run_estimators(args)
    run_imported(args)
    import tagging_cost  # the tagging section: what tagging adds per indexed image

    tagging_cost.main([f"--rounds={args.rounds}", f"--threads={args.threads}", f"--home={args.home}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
