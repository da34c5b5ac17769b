"""Exporting the networks to ONNX graphs (needs torch; see onnx_graphs.py for the graphs and their use).

export_graph() exports one network at the size the pipeline feeds it, with a dynamic batch (and, for the
segmenter, dynamic height and width: fed by its shorter side it sees images of any shape), without graph
optimisation (every weight stays an initializer named by its state-dict key, so a template can be filled
from a model file by name; ONNX Runtime optimises at load). template_of() makes the weightless template of
a network (what `posefinder-train onnx-templates` writes into resources/onnx/), write_model_graphs() the
filled graphs of a bundle beside its model file (what training's export writes, for any size).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

from posefinder.models import onnx_graphs
from posefinder.models.atomic import atomic_path


def weight_names(module) -> list[str]:
    """The state-dict keys a graph of module holds as weights (batch norm's step counters are not used)."""
    return [k for k in module.state_dict() if not k.endswith("num_batches_tracked")]


def prepared(module, spec: Mapping[str, Any]):
    """module in eval mode, set to the spec's variant (the segmenter's output stride)."""
    module = module.eval()
    if spec["variant"].startswith("os"):
        module.set_output_stride(int(spec["variant"][2:]))
    return module


def dynamic_shapes(any_size: bool) -> dict:
    """torch.onnx.export's dynamic_shapes for the input x: the batch, and height and width when any_size."""
    import torch

    dims = {0: torch.export.Dim("batch", min=1, max=1024)}  # batch 2 in the example: 1 would be specialised
    if any_size:
        dims.update({2: torch.export.Dim("height", min=16, max=16384), 3: torch.export.Dim("width", min=16, max=16384)})
    return {"x": dims}


def export_graph(module, input_size: int, any_size: bool = False):
    """The ONNX ModelProto of a network taking (N, 3, input_size, input_size) float RGB in [0, 1], or
    (N, 3, H, W) of any size with any_size (what onnx_graphs.ANY_SIZE names)."""
    import onnx
    import torch

    example = torch.rand(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "graph.onnx")
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), path, dynamo=True, opset_version=18, input_names=["x"],
                              output_names=["y"], dynamic_shapes=dynamic_shapes(any_size), external_data=False,
                              optimize=False)  # fmt: skip
        return onnx.load(path)


def network_of(spec: Mapping[str, Any]):
    """The torch network a graph spec names (random weights, nothing downloaded)."""
    from posefinder.models import nets

    kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec["kwargs"].items()}
    return prepared(nets.create_model(spec["builder"], **kwargs), spec)


def template_of(module, spec: Mapping[str, Any]):
    """The weightless template (ModelProto) of a network built for spec."""
    module = prepared(module, spec)
    graph = export_graph(module, spec["input_size"], onnx_graphs.any_size(spec))
    return onnx_graphs.make_template(graph, weight_names(module), spec)


def filled_graph_of(module, spec: Mapping[str, Any]):
    """The graph of a network with its own weights, described like a template (a model file's graph)."""
    module = prepared(module, spec)
    graph = export_graph(module, spec["input_size"], onnx_graphs.any_size(spec))
    template = onnx_graphs.make_template(graph, weight_names(module), spec)
    weights = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return onnx_graphs.fill(template, weights, "export")


def write_model_graphs(weights_path: str | Path, bundle, card) -> dict[str, Path]:
    """Export the graphs of a bundle's networks beside its model file (NAME.<component>.onnx); those a
    template in resources/onnx covers are skipped (installing fills the template). {component: path}."""
    import onnx

    out = {}
    for component in onnx_graphs.RUN_COMPONENTS:
        module = getattr(bundle, component, None)
        if module is None or component not in card.components:
            continue
        spec = onnx_graphs.graph_spec(card, component)
        if onnx_graphs.find_template(spec) is not None:
            continue
        path = onnx_graphs.graph_path(weights_path, component)
        with atomic_path(path) as tmp:
            onnx.save_model(filled_graph_of(module, spec), str(tmp))
        out[component] = path
    return out
