"""Auto-pose on a GPU: the paper-size estimators through the real pipeline, per image and batched.

    python benchmarks/gpu.py [--device cuda] [--rounds 10] [--batch 32]

The paper reports its estimators' time per image on a GPU (Table 1: feature matching 147.8 ms, feature
concatenation 217.7 ms). This runs our paper-size networks (random weights: speed does not depend on them)
with the segmenter, as `posefinder pose` and the batch indexer run them, on DEVICE:
1. per image (batch 1, fp32): ms per image and its ratio to the paper's figure;
2. batched (estimate_batch of BATCH images, what `posefinder-train index` runs): images per second and the
   ratio to batch 1 measured in the same run;
3. the pose network alone in fp32 and bf16 autocast (batch BATCH crops), as a ratio.
Timings synchronise the device; each is the median of interleaved rounds after a warm-up.
The last line: `matching_ms=.. concat_ms=.. matching_batched_img_s=.. concat_batched_img_s=..`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import PAPER_MS, interleaved, sample_image  # noqa: E402


def timed(fns: dict, rounds: int, sync) -> dict[str, float]:
    """estimators.interleaved with each call ending in a device synchronisation (every call starts on an idle
    device, since the one before it ended synchronised)."""

    def synced(f):
        def run():
            f()
            sync()

        return run

    sync()
    return interleaved({k: synced(f) for k, f in fns.items()}, rounds)


def one_character_segmenter(nets, torch):
    """A random segmenter that sees one character covering the image (last layer +10 everywhere), so each
    image runs the pose network once, as a trained model does on a single-character image."""
    torch.manual_seed(0)
    segmenter = nets.create_model("segmenter")
    last = segmenter.refine[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, 10.0)
    return segmenter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    import torch

    from posefinder.models import nets
    from posefinder.models.estimators.paper import PaperModelEstimator
    from posefinder.models.nets.bundle import ModelBundle
    from posefinder.models.weights import make_card

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine (or --device cpu)")
        return 1
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"PoseFinder GPU benchmark: torch {torch.__version__} on {name}, batch {args.batch}, "
          f"{args.rounds} rounds, {os.cpu_count()} CPU cores")
    image, label = sample_image()
    images = [image] * args.batch
    segmenter = one_character_segmenter(nets, torch)
    estimators = {}
    for arch, builder in (("feature-matching", "pose_matching"), ("feature-concatenation", "pose_concat")):
        torch.manual_seed(0)
        bundle = ModelBundle(nets.create_model(builder), segmenter).eval()
        card = make_card(bundle, name=f"{builder}-bench", segmenter_input_size=256)
        estimators[arch] = PaperModelEstimator(bundle, card, device=args.device, runtime="torch")
    for arch, est in estimators.items():
        count = len(est.estimate(image))
        if count != 1:
            raise SystemExit(f"{arch}: {count} characters found; the benchmark expects exactly one")

    print(f"\n1. Auto-pose of one image ({label}), batch 1, fp32, ms per image")
    single = timed({a: (lambda e=e: e.estimate(image)) for a, e in estimators.items()}, args.rounds, sync)
    for arch, ms in single.items():
        print(f"  {arch:<22} {ms:8.1f} ms   paper (GPU) {PAPER_MS[arch]} ms: x{ms / PAPER_MS[arch]:.2f}")

    print(f"\n2. Batched auto-pose (estimate_batch of {args.batch} images), images per second")
    batched = timed({a: (lambda e=e: e.estimate_batch(images)) for a, e in estimators.items()},
                    max(3, args.rounds // 3), sync)  # fmt: skip
    rates = {}
    for arch, ms in batched.items():
        rates[arch] = args.batch / (ms / 1000)
        print(f"  {arch:<22} {rates[arch]:8.1f} img/s   x{single[arch] * args.batch / ms:.2f} of batch 1")

    print(f"\n3. The pose network alone, {args.batch} crops of 256 px: fp32 against bf16 autocast")
    for arch, est in estimators.items():
        pose = est.bundle.pose
        x = torch.rand(args.batch, 3, 256, 256, device=args.device).contiguous(memory_format=torch.channels_last)

        def fp32(pose=pose, x=x):
            with torch.inference_mode():
                return pose(x)

        def bf16(pose=pose, x=x):
            with torch.inference_mode(), torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16):
                return pose(x)

        t = timed({"fp32": fp32, "bf16": bf16}, args.rounds, sync)
        ref, low = fp32(), bf16()
        ref = ref[0] if isinstance(ref, (tuple, list)) else ref
        low = low[0] if isinstance(low, (tuple, list)) else low
        diff = float((ref.float() - low.float()).abs().max() / ref.float().abs().max().clamp_min(1e-9))
        print(f"  {arch:<22} fp32 {t['fp32']:7.1f} ms  bf16 {t['bf16']:7.1f} ms  x{t['fp32'] / t['bf16']:.2f}  "
              f"max |diff| / max |logit| {diff:.1e}")
    print(f"matching_ms={single['feature-matching']:.1f} concat_ms={single['feature-concatenation']:.1f} "
          f"matching_batched_img_s={rates['feature-matching']:.1f} "
          f"concat_batched_img_s={rates['feature-concatenation']:.1f}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
