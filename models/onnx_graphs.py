"""ONNX graphs of a model file's networks, made without torch: weightless templates filled with the file's weights.

An installed model carries one ONNX graph per network that auto-pose runs (the pose network, and the
segmenter when the model has one), beside its weights in the store: `NAME.pose.onnx`, `NAME.segmenter.onnx`.
ONNX Runtime runs them on CPU, so a torch-free install (`pip install posefinder`) estimates poses.

Where the graphs come from, in order:
1. a template in resources/onnx/: the graph of one architecture (builder, its every keyword, input size,
   variant such as the segmenter's output stride) exported from the torch definition by
   `posefinder-train onnx-templates`, with the data of every weight removed (a few hundred kB). Installing
   fills it with the file's weights, read with numpy: each weight the graph names must be in the file with
   the same shape and type, or the install is refused. The templates cover the paper-size presets and the
   variants `posefinder models import` makes of the authors' released models (pose nets without
   antialiasing, the depth-101 segmenter with their head). Segmenter graphs take any height and width
   (ANY_SIZE): a segmenter fed by the shorter side of an image sees it in its own shape;
2. graphs written beside the model file by training's export (`NAME.pose.onnx` next to
   `NAME.safetensors`: build/trainer.py), for every size our training makes (tiny, small, paper); they are
   checked the same way (every weight equal to the file's) before they are copied into the store;
3. neither: the model runs only where torch is installed (`pip install posefinder[torch]`).

Every graph is checked once made: ONNX Runtime loads it and answers a batch with finite (1, C, H, W)
outputs (a non-square one where the pipeline feeds the segmenter images of any shape). Weight names are the torch state-dict keys (the exporter keeps them when it does not optimise:
graph optimisation, batch-norm folding included, is ONNX Runtime's job at load time).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from posefinder.models.atomic import atomic_path
from posefinder.models.errors import ModelError

TEMPLATE_FORMAT = "posefinder-onnx-template"
TEMPLATE_VERSION = 1
#: metadata_props key holding the template's description (JSON) in the ONNX file
META_KEY = "posefinder_template"
#: the networks auto-pose runs, in the order they run
RUN_COMPONENTS = ("segmenter", "pose")
#: builders whose graphs take inputs of any height and width (the segmenter: fed by its shorter side, as the
#: authors' models are, it sees images of any shape); the others take input_size x input_size
ANY_SIZE = ("segmenter",)


def graph_spec(card, component: str) -> dict[str, Any]:
    """What decides a component's graph: its builder and every keyword, the input size, the variant."""
    spec = card.components[component]
    if component == "segmenter":
        stride = int((card.inference or {}).get("segmenter_output_stride", 8))
        size, variant = int(card.segmenter_input_size or 256), f"os{stride}"
    else:
        size, variant = int(card.input_size), ""
    return {"builder": spec["builder"], "kwargs": spec.get("kwargs", {}), "input_size": size, "variant": variant}


def any_size(spec: Mapping[str, Any]) -> bool:
    """Whether the graph of a spec takes inputs of any height and width."""
    return spec["builder"] in ANY_SIZE


def needs_any_size(card, component: str) -> bool:
    """Whether the pipeline feeds a model's component images of any shape: the segmenter of a card whose
    inference sizes its input by the shorter side (the authors' models); the letterbox feeds squares."""
    return component == "segmenter" and (card.inference or {}).get("segmenter_resize") == "shorter"


def takes_any_size(model) -> bool:
    """Whether an ONNX ModelProto's (or an onnxruntime session's) input has a free height and width."""
    if hasattr(model, "get_inputs"):
        shape = model.get_inputs()[0].shape
        return all(not isinstance(d, int) for d in shape[2:4])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return all(not d.HasField("dim_value") for d in dims[2:4])


def graph_key(spec: Mapping[str, Any]) -> str:
    """12 hex digits naming a graph spec (canonical JSON's sha256)."""
    text = json.dumps({k: spec[k] for k in ("builder", "kwargs", "input_size", "variant")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def template_name(spec: Mapping[str, Any]) -> str:
    variant = f"-{spec['variant']}" if spec["variant"] else ""
    return f"{spec['builder']}-{spec['input_size']}{variant}-{graph_key(spec)}.onnx"


def template_dir() -> Path:
    """resources/onnx of the installed package."""
    return Path(str(resources.files("posefinder.resources").joinpath("onnx")))


def find_template(spec: Mapping[str, Any], folder: Path | None = None) -> Path | None:
    path = (folder or template_dir()) / template_name(spec)
    return path if path.is_file() else None


def graph_path(weights_path: str | Path, component: str) -> Path:
    """Where a model file's graph of a component lies: beside it, NAME.<component>.onnx."""
    weights_path = Path(weights_path)
    return weights_path.with_name(f"{weights_path.stem}.{component}.onnx")


# -- templates -----------------------------------------------------------------------------------------


def make_template(model, weight_names, spec: Mapping[str, Any]):
    """A weightless copy of an exported ONNX ModelProto: the initializers named in weight_names keep their
    name, shape and type but lose their data (weights the forward pass never uses, e.g. the parts of
    Keypoint R-CNN the concatenation model skips, are not in the graph); the spec goes into the metadata."""
    import onnx

    template = onnx.ModelProto()
    template.CopyFrom(model)
    names = set(weight_names)
    stripped = []
    for init in template.graph.initializer:
        if init.name in names:
            name, dims, dtype = init.name, list(init.dims), init.data_type
            init.Clear()
            init.name, init.data_type = name, dtype
            init.dims.extend(dims)
            stripped.append(name)
    if not stripped:
        raise ValueError("the export holds none of the network's weights (exported with graph optimisation?)")
    meta = {"format": TEMPLATE_FORMAT, "version": TEMPLATE_VERSION, **dict(spec), "weights": stripped}
    for node in template.graph.node:  # the exporter's stack traces and names of torch modules
        del node.metadata_props[:]
        node.doc_string = ""
    del template.graph.value_info[:]
    del template.metadata_props[:]
    entry = template.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta, sort_keys=True)
    return template


def same_graph(a, b) -> bool:
    """Whether two templates (or graphs) have the same operators, weights' names, shapes and types, and
    constants: the same network."""
    return a.graph.SerializeToString() == b.graph.SerializeToString() and list(a.opset_import) == list(b.opset_import)


def template_meta(model, source: str = "ONNX template") -> dict[str, Any]:
    for entry in model.metadata_props:
        if entry.key == META_KEY:
            meta = json.loads(entry.value)
            if meta.get("format") != TEMPLATE_FORMAT:
                break
            if int(meta.get("version", 0)) > TEMPLATE_VERSION:
                raise ModelError(f"{source}: made by a newer PoseFinder (template version {meta['version']})")
            return meta
    raise ModelError(f"{source}: not a PoseFinder ONNX template")


def fill(template, weights: Mapping[str, np.ndarray], source: str):
    """A runnable ModelProto: the template with each stripped weight set from weights (same shape and type);
    ModelError naming the first weight that is missing or does not fit."""
    import onnx
    from onnx import numpy_helper

    meta = template_meta(template, source)
    wanted = set(meta["weights"])
    model = onnx.ModelProto()
    model.CopyFrom(template)
    for init in model.graph.initializer:
        if init.name not in wanted:
            continue
        if init.name not in weights:
            raise ModelError(f"{source}: the weights lack {init.name!r}, which its network's graph needs")
        value = np.asarray(weights[init.name])
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        if tuple(value.shape) != tuple(init.dims) or value.dtype != dtype:
            raise ModelError(f"{source}: weight {init.name!r} is {value.dtype} {tuple(value.shape)}, its network's "
                             f"graph needs {dtype} {tuple(init.dims)}")  # fmt: skip
        init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value), init.name))
    return model


def weights_equal(model, weights: Mapping[str, np.ndarray], names) -> str:
    """"" when every named initializer of model equals weights[name], else the first that does not."""
    from onnx import numpy_helper

    by_name = {init.name: init for init in model.graph.initializer}
    for name in names:
        if name not in by_name or name not in weights:
            return name
        value = numpy_helper.to_array(by_name[name])
        if value.shape != weights[name].shape or not np.array_equal(value, weights[name]):
            return name
    return ""


# -- a model file's graphs -----------------------------------------------------------------------------


def component_weights(weights_path: str | Path, component: str) -> dict[str, np.ndarray]:
    """The weights of one component of a model file (keys without the "component." prefix), as numpy."""
    from safetensors import safe_open

    prefix = f"{component}."
    try:
        with safe_open(str(weights_path), framework="numpy") as f:
            return {k[len(prefix) :]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{weights_path}: not a readable safetensors file ({exc})") from None


def check_graph(path: Path, input_size: int, source: str, any_size: bool = False) -> None:
    """ONNX Runtime loads the graph and answers one input with finite (1, C, H, W) outputs; ModelError else.
    any_size: the graph must take a non-square input (H = input_size, W a quarter more) and answer at its size."""
    import onnxruntime as ort

    h, w = input_size, (input_size * 5 // 4 if any_size else input_size)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = np.full((1, 3, h, w), 0.5, np.float32)
        y = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception as exc:  # onnxruntime raises its own error types
        raise ModelError(f"{source}: ONNX Runtime cannot run its graph ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(y, np.ndarray) or y.ndim != 4 or y.shape[0] != 1 or not np.isfinite(y).all():
        what = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ModelError(f"{source}: its graph answers {what}, not finite (1, C, H, W) outputs")
    if any_size and tuple(y.shape[2:]) != (h, w):
        raise ModelError(f"{source}: its graph answers {tuple(y.shape[2:])} for a {h}x{w} input, not its size")


def _write(model, path: Path) -> None:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        onnx.save_model(model, str(tmp))


def make_graphs(weights_path: str | Path, card, target: str | Path, source_graphs: str | Path | None = None,
                templates: Path | None = None) -> dict[str, Path]:  # fmt: skip
    """Write the filled, checked graph of each network auto-pose runs beside `target` (a .safetensors path);
    {component: path}, empty when some network has neither a template nor a graph beside source_graphs
    (the model then runs only with torch). ModelError when the weights do not fit a graph."""
    made: dict[str, Path] = {}
    try:
        for component in RUN_COMPONENTS:
            if component not in card.components:
                continue
            model = _graph(weights_path, card, component, source_graphs, templates)
            if model is None:
                _remove(made)
                return {}
            out = graph_path(target, component)
            made[component] = out
            _write(model, out)
            check_graph(out, graph_spec(card, component)["input_size"], f"{weights_path} ({component})",
                        needs_any_size(card, component))
    except BaseException:
        _remove(made)
        raise
    return made


def _remove(paths: dict[str, Path]) -> None:
    for path in paths.values():
        path.unlink(missing_ok=True)


def _graph(weights_path, card, component: str, source_graphs, templates):
    """The filled graph (ModelProto) of one component, or None where there is neither template nor graph."""
    import onnx

    spec = graph_spec(card, component)
    weights = component_weights(weights_path, component)
    source = f"{weights_path} ({component})"
    template = find_template(spec, templates)
    if template is not None:
        return fill(onnx.load(str(template)), weights, source)
    beside = graph_path(source_graphs, component) if source_graphs else None
    if beside is None or not beside.is_file():
        return None
    try:
        model = onnx.load(str(beside))
    except Exception as exc:  # onnx raises protobuf's DecodeError and others
        raise ModelError(f"{beside}: not a readable ONNX file ({type(exc).__name__})") from None
    meta = template_meta(model, str(beside))
    if graph_key(meta) != graph_key(spec):
        raise ModelError(f"{beside}: its graph is of another network than the card's {component}")
    bad = weights_equal(model, weights, meta["weights"])
    if bad:
        raise ModelError(f"{beside}: its weight {bad!r} differs from {Path(weights_path).name}'s")
    return model


def installed_graphs(weights_path: str | Path, card) -> dict[str, Path] | None:
    """The graphs of an installed model ({component: path}), or None when one is missing."""
    out = {}
    for component in RUN_COMPONENTS:
        if component in card.components:
            path = graph_path(weights_path, component)
            if not path.is_file():
                return None
            out[component] = path
    return out
