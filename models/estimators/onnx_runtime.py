"""ONNX Runtime for the paper models' networks on CPU: exported once per model file, cached, checked, then run.

benchmarks/estimators.py measures the options for running the networks on this kind of CPU; ONNX
Runtime is the fastest that keeps the outputs equal (see its output quoted in the estimators' report).
It is an optional extra (`pip install posefinder[onnx]`: onnxruntime to run, onnx + onnxscript to export
with torch's exporter). Where it is not installed, or for CUDA, the networks run in PyTorch.

A network is exported with torch.onnx.export (dynamo exporter, opset 18, dynamic batch; the segmenter with
dynamic height and width too, since fed by the shorter side it sees images of any shape) at the size the
pipeline feeds it, into paths.cache_dir()/onnx/, named after the model file's name, size, mtime and the
library versions, so a changed or reinstalled model is exported anew. Every export is checked against
PyTorch on a random input before it is used (max abs difference <= EXPORT_ATOL); a failed export or check
falls back to PyTorch for that network, with one warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import re
import warnings
from pathlib import Path
from typing import cast

import numpy as np

from posefinder.models import paths
from posefinder.models.atomic import atomic_path

#: Largest difference from PyTorch's output (logits) accepted for an exported network.
EXPORT_ATOL = 1e-3

#: Environment variable choosing the runtime of the paper models on CPU: "auto" (default), "onnx", "torch".
RUNTIME_ENV = "POSEFINDER_RUNTIME"

#: "auto" exports only networks at least this large: small ones run fast in PyTorch and are not worth
#: an export (tests' tiny models stay in PyTorch); the paper's networks have 8-40M.
AUTO_MIN_PARAMETERS = 1_000_000


def can_run() -> bool:
    """Whether onnxruntime is installed (running an export needs nothing else)."""
    return importlib.util.find_spec("onnxruntime") is not None


def can_export() -> bool:
    """Whether torch's ONNX exporter has what it needs (onnx and onnxscript)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))


def choice(runtime: str | None = None) -> str:
    """"auto", "onnx" or "torch": the runtime argument, else $POSEFINDER_RUNTIME, else "auto"."""
    value = (runtime or os.environ.get(RUNTIME_ENV, "") or "auto").strip().lower()
    if value not in ("auto", "onnx", "torch"):
        raise ValueError(f"runtime must be auto, onnx or torch, not {value!r} (argument or ${RUNTIME_ENV})")
    return value


def wanted(module, device: str, runtime: str | None = None) -> bool:
    """Whether a network should run in ONNX Runtime: on CPU where onnxruntime is installed, when the runtime
    is "onnx", or "auto" and the network has at least AUTO_MIN_PARAMETERS parameters."""
    value = choice(runtime)
    if value == "torch" or device != "cpu" or not can_run():
        return False
    return value == "onnx" or sum(p.numel() for p in module.parameters()) >= AUTO_MIN_PARAMETERS


#: Part of the exports' cache key: bumped when exports change (2: segmenters take any height and width).
EXPORT_FORMAT = 2


def export_path(weights_path: Path, component: str, input_size: int, variant: str = "") -> Path:
    """Where the ONNX export of one network of a model file is cached (variant: how the network was set to
    run, e.g. the segmenter's output stride, part of the cache key)."""
    import onnxruntime
    import torch

    from posefinder import __version__

    st = Path(weights_path).stat()
    versions = f"{torch.__version__}|{onnxruntime.__version__}|{__version__}|{EXPORT_FORMAT}"
    key = f"{Path(weights_path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{versions}" + (f"|{variant}" if variant else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return paths.cache_dir() / "onnx" / f"{Path(weights_path).stem}-{component}-{input_size}-{digest}.onnx"


def export(module, input_size: int, path: Path, any_size: bool = False) -> Path:
    """Export a network taking (N, 3, input_size, input_size), or (N, 3, H, W) of any size with any_size,
    to path (atomically; quiet)."""
    import torch

    from posefinder.models.onnx_export import dynamic_shapes

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 3, input_size, input_size)  # batch 2: a batch of 1 would be specialised
    with atomic_path(path, durable=False) as tmp, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(tmp), dynamo=True, opset_version=18, input_names=["x"],
                          output_names=["y"], dynamic_shapes=dynamic_shapes(any_size), external_data=False)  # fmt: skip
    return path


def default_threads() -> int:
    """As many threads as PyTorch uses where it is loaded (every core by default), else 0: ONNX Runtime's
    own default, one per physical core (PyTorch's default too)."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 0


class OrtNetwork:
    """An exported network run by ONNX Runtime on CPU: (N, 3, S, S) float32 numpy in, numpy out
    (takes_numpy: the pipeline feeds it numpy, pipeline.py)."""

    takes_numpy = True

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.threads = threads or default_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # no busy-waiting between operators: on a shared or busy CPU (a GUI beside it) it only costs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.session.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})
        return cast(np.ndarray, out[0])  # the exported networks answer one dense tensor


def max_difference(module, network, input_size: int, seed: int = 0, any_size: bool = False) -> float:
    """Largest absolute difference between a PyTorch module and its export on random batches of 1 and 2
    (and, with any_size, a non-square batch of 1); inf when the export refuses one."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    shapes = [(1, 3, input_size, input_size), (2, 3, input_size, input_size)]
    if any_size:
        shapes.append((1, 3, input_size, input_size * 5 // 4 + 1))
    for shape in shapes:
        x = torch.rand(*shape, generator=gen)
        with torch.inference_mode():
            ref = module(x).float()
        try:
            out = network(x.numpy())
        except Exception:  # e.g. an export whose batch size was fixed
            return float("inf")
        if out.shape != tuple(ref.shape):
            return float("inf")
        worst = max(worst, float(np.abs(out - ref.numpy()).max()))
    return worst


def onnx_network(module, weights_path: Path, component: str, input_size: int, variant: str = "",
                 any_size: bool = False):  # fmt: skip
    """The cached (or freshly exported and checked) ONNX Runtime version of a network, or None (PyTorch
    stays in use) when it cannot be exported, loaded or does not match. any_size: exported for inputs of
    any height and width (and checked on a non-square one)."""
    path = export_path(weights_path, component, input_size, variant + ("-any" if any_size else ""))
    try:
        if not path.is_file():
            if not can_export():
                return None
            export(module, input_size, path, any_size)
            network = OrtNetwork(path)
            diff = max_difference(module, network, input_size, any_size=any_size)
            if not diff <= EXPORT_ATOL:
                path.unlink(missing_ok=True)
                warnings.warn(f"{component}: the ONNX export differs from PyTorch by {diff:.2g}; using PyTorch",
                              stacklevel=2)  # fmt: skip
                return None
            return network
        return OrtNetwork(path)
    except Exception as exc:  # an exporter or runtime failure must never stop auto-pose
        path.unlink(missing_ok=True)
        warnings.warn(f"{component}: ONNX Runtime unavailable ({type(exc).__name__}: {str(exc)[:120]}); using PyTorch",
                      stacklevel=2)  # fmt: skip
        return None


def forget(weights_path: Path) -> int:
    """Delete the cached exports of a model file (when it is removed or replaced); how many were deleted."""
    folder = paths.cache_dir() / "onnx"
    mine = re.compile(re.escape(Path(weights_path).stem) + r"-[a-z]+-\d+-[0-9a-f]{16}\.onnx")
    count = 0
    for path in folder.iterdir() if folder.is_dir() else []:
        if mine.fullmatch(path.name):
            path.unlink(missing_ok=True)
            count += 1
    return count
