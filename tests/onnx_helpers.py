"""Model files made with numpy alone from a committed ONNX template (for the torch-free environment's tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posefinder.models import onnx_graphs, weights


def template_for(builder: str, input_size: int, variant: str = "", kwargs: dict | None = None):
    """(path, meta) of the committed template of a builder at a size (whose keywords include kwargs), or None."""
    import onnx

    for path in sorted(onnx_graphs.template_dir().glob(f"{builder}-{input_size}{'-' + variant if variant else ''}-*.onnx")):
        meta = onnx_graphs.template_meta(onnx.load(str(path)))
        if meta["builder"] == builder and meta["variant"] == variant and all(
            meta["kwargs"].get(k) == v for k, v in (kwargs or {}).items()
        ):
            return path, meta
    return None


def random_weights(template_path: Path, seed: int, gain: float = 1.0) -> dict[str, np.ndarray]:
    """Random weights of every weight a template names (batch norm: unit variance, zero mean), plus the
    batch-norm step counters a torch state dict has. gain scales the convolutions' He-normal weights."""
    import onnx

    model = onnx.load(str(template_path))
    names = set(onnx_graphs.template_meta(model)["weights"])
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        if init.name not in names:
            continue
        shape = tuple(init.dims)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        if init.name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif init.name.endswith("running_mean"):
            value = rng.normal(0, 0.1, shape)
        elif len(shape) > 1:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0, gain * np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(1.0 if init.name.endswith("weight") else 0.0, 0.1, shape)
        out[init.name] = value.astype(dtype)
        if init.name.endswith("running_mean"):
            out[init.name[: -len("running_mean")] + "num_batches_tracked"] = np.array(0, np.int64)
    return out


def numpy_model_file(folder: Path, *, name: str = "np-small", seed: int = 0, segmenter: bool = True) -> Path:
    """A feature-matching model file of the "small" sizes, written with safetensors' numpy API (no torch)."""
    from safetensors.numpy import save_file

    pose_t = template_for("pose_matching", 128)
    assert pose_t is not None, "resources/onnx lacks the small pose_matching template"
    components = {"pose": {"builder": "pose_matching", "kwargs": pose_t[1]["kwargs"]}}
    state = {f"pose.{k}": v for k, v in random_weights(pose_t[0], seed).items()}
    if segmenter:
        seg_t = template_for("segmenter", 256, "os8", kwargs={"depth": 50, "width": 16})
        assert seg_t is not None, "resources/onnx lacks the segmenter template at 256 px, output stride 8"
        components["segmenter"] = {"builder": "segmenter", "kwargs": seg_t[1]["kwargs"]}
        state.update({f"segmenter.{k}": v for k, v in random_weights(seg_t[0], seed + 1).items()})
    kwargs = pose_t[1]["kwargs"]
    card = weights.ModelCard(name=name, architecture="feature-matching", components=components,
                             input_size=int(kwargs["input_size"]), heatmap_size=int(kwargs["heatmap_size"]),
                             segmenter_input_size=256 if segmenter else None)  # fmt: skip
    card.validate()
    import json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    text = json.dumps(card.to_dict(), indent=1)
    save_file(state, str(path), metadata={"format": weights.FORMAT, weights.METADATA_KEY: text})
    weights.card_path(path).write_text(text + "\n", encoding="utf-8")
    return path
