"""Installed models carry ONNX graphs (issue 19 point 2): templates filled with a file's weights, checked,
run by ONNX Runtime without torch; the templates match their torch networks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from onnx_helpers import numpy_model_file
from posefinder.models import onnx_graphs, weights
from posefinder.models.errors import ModelError

pytestmark = pytest.mark.torchfree


def _store(tmp_path):
    return weights.ModelStore(tmp_path / "store")


def test_a_model_installs_with_its_graphs_and_auto_poses_with_onnx_runtime(tmp_path):
    from posefinder.models.estimators.onnx_model import OnnxModelEstimator

    src = numpy_model_file(tmp_path / "src")
    installed = _store(tmp_path).install(src)
    graphs = onnx_graphs.installed_graphs(installed.weights_path, installed.card)
    assert graphs is not None and sorted(graphs) == ["pose", "segmenter"]
    est = OnnxModelEstimator.from_file(installed.weights_path)
    assert est.runtime == {"pose": "onnxruntime", "segmenter": "onnxruntime"}
    image = np.full((300, 200, 3), 255, np.uint8)
    image[40:260, 60:140] = (40, 90, 200)
    poses = est.estimate_batch([image, image[:, ::-1].copy()])
    assert len(poses) == 2
    for found in poses:
        for pose in found:
            assert pose.keypoints.shape == (25, 3) and np.isfinite(pose.keypoints).all()
            assert pose.source == "model:feature-matching" and pose.meta["model"] == "np-small"


def test_weights_that_do_not_fit_the_graph_are_refused_and_nothing_is_installed(tmp_path):
    from safetensors.numpy import load_file, save_file

    src = numpy_model_file(tmp_path / "src")
    state = load_file(str(src))
    key = next(k for k in state if k.startswith("pose.") and state[k].ndim == 4)
    state[key] = np.zeros(state[key].shape[:-1] + (state[key].shape[-1] + 1,), state[key].dtype)
    from safetensors import safe_open

    with safe_open(str(src), framework="numpy") as f:
        meta = f.metadata()
    save_file(state, str(src), metadata=meta)
    store = _store(tmp_path)
    with pytest.raises(ModelError, match=key[len("pose."):].replace(".", r"\.")):
        store.install(src)
    assert not store.root.exists() or list(store.root.iterdir()) == []


def test_removing_a_model_removes_its_graphs(tmp_path):
    store = _store(tmp_path)
    installed = store.install(numpy_model_file(tmp_path / "src", segmenter=False))
    assert onnx_graphs.graph_path(installed.weights_path, "pose").is_file()
    store.remove(installed.name)
    assert list(store.root.iterdir()) == []


def test_without_torch_models_install_and_the_cli_poses_an_image(tmp_path):
    """In a fresh interpreter with torch blocked: install, list and auto-pose, with no torch module loaded."""
    src = numpy_model_file(tmp_path / "src")
    from posefinder.models.imageio import save_image

    image = np.full((256, 192, 3), 255, np.uint8)
    image[30:230, 50:140] = (30, 60, 90)
    save_image(image, tmp_path / "one.png")
    script = r"""
import json, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
import importlib.util
importlib.util.find_spec = (lambda f: (lambda name, package=None: None if name.split(".")[0] == "torch" else f(name, package)))(importlib.util.find_spec)
from posefinder.app.cli import main
codes = [main(["models", "install", sys.argv[1]]), main(["models", "list"]),
         main(["pose", sys.argv[2], "--json"])]
print(json.dumps({"codes": codes, "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""
    out = subprocess.run([sys.executable, "-c", script, str(src), str(tmp_path / "one.png")], capture_output=True,
                         text=True, timeout=240, env=dict(os.environ))  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result == {"codes": [0, 0, 0], "torch": []}, out.stderr[-2000:]
    assert "np-small" in out.stdout


# -- with torch: the graphs equal the torch networks --------------------------------------------------


def test_every_template_names_its_torch_networks_weights():
    """Cheap guard: each committed template's key, weights' names, shapes and types are its network's."""
    pytest.importorskip("torch")
    import onnx

    from posefinder.models.onnx_export import network_of, weight_names

    found = sorted(onnx_graphs.template_dir().glob("*.onnx"))
    assert len(found) >= 5
    for path in found:
        template = onnx.load(str(path))
        meta = onnx_graphs.template_meta(template, str(path))
        assert path.name == onnx_graphs.template_name(meta)
        module = network_of(meta)
        state = module.state_dict()
        assert set(meta["weights"]) <= set(weight_names(module)), path.name
        assert len(meta["weights"]) > 0.5 * len(weight_names(module)), path.name
        by_name = {i.name: i for i in template.graph.initializer}
        for name in meta["weights"]:
            assert tuple(by_name[name].dims) == tuple(state[name].shape), (path.name, name)
            assert not by_name[name].raw_data, (path.name, name)


@pytest.mark.slow
def test_a_template_reexported_from_its_torch_network_is_the_committed_one():
    pytest.importorskip("torch")
    import onnx

    from posefinder.models.onnx_export import network_of, template_of

    small = [p for p in onnx_graphs.template_dir().glob("segmenter-256-os16-*.onnx")]
    path = min(small, key=lambda p: p.stat().st_size)  # the small preset's: the quickest export
    meta = onnx_graphs.template_meta(onnx.load(str(path)))
    assert onnx_graphs.same_graph(onnx.load(str(path)), template_of(network_of(meta), meta))


@pytest.mark.slow
def test_training_exports_graphs_for_sizes_without_a_template_and_install_copies_them(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    import onnxruntime as ort
    from estimator_fakes import tiny_model_file

    from posefinder.models import onnx_export

    (tmp_path / "src").mkdir()
    (tmp_path / "other").mkdir()
    src = tiny_model_file(tmp_path / "src")
    bundle, card = weights.load_bundle(src)
    written = onnx_export.write_model_graphs(src, bundle, card)
    assert sorted(written) == ["pose", "segmenter"]  # no template covers the tiny preset
    installed = _store(tmp_path).install(src)
    graphs = onnx_graphs.installed_graphs(installed.weights_path, installed.card)
    rng = np.random.default_rng(0)
    for component, size in (("pose", card.input_size), ("segmenter", card.segmenter_input_size)):
        assert size is not None and graphs is not None
        x = rng.random((2, 3, size, size), dtype=np.float32)
        with torch.inference_mode():
            ref = getattr(bundle, component)(torch.from_numpy(x)).numpy()
        out = ort.InferenceSession(str(graphs[component])).run(None, {"x": x})[0]
        assert np.abs(out - ref).max() <= 1e-5
    # a graph beside the file whose weights are not the file's is refused
    other = tiny_model_file(tmp_path / "other", name="tiny")
    for component, graph in written.items():
        (tmp_path / "other" / graph.name).write_bytes(graph.read_bytes())
    bundle2, card2 = weights.load_bundle(other)
    assert bundle2.pose is not None
    with torch.no_grad():
        for p in bundle2.pose.parameters():
            p.add_(1.0)
    weights.save_model(other, bundle2, card2)
    with pytest.raises(ModelError, match="differs"):
        _store(tmp_path / "s2").install(other)


@pytest.mark.shared_data
def test_filled_templates_equal_the_torch_networks_on_a_real_illustration(megumin):
    """Paper-size networks (random weights) as installed: the filled template's logits equal torch's
    within 1e-5 on megumin.png's crop and its segmenter input."""
    torch = pytest.importorskip("torch")
    import cv2
    import onnxruntime as ort

    from posefinder.models import nets
    from posefinder.models.imageio import load_image
    from posefinder.models.onnx_export import prepared

    image = load_image(megumin)
    torch.manual_seed(0)
    for builder, size, variant in (("pose_matching", 256, ""), ("segmenter", 256, "os8")):
        module = nets.create_model(builder)
        spec = {"builder": builder, "kwargs": module.build_spec["kwargs"], "input_size": size, "variant": variant}
        module = prepared(module, spec)
        template = onnx_graphs.find_template(spec)
        assert template is not None, f"no template for the paper's {builder}"
        import onnx

        state = {k: v.numpy() for k, v in module.state_dict().items()}
        filled = onnx_graphs.fill(onnx.load(str(template)), state, builder)
        x = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None]
        x = np.ascontiguousarray(x, dtype=np.float32) / np.float32(255)
        with torch.inference_mode():
            ref = module(torch.from_numpy(x)).numpy()
        out = ort.InferenceSession(filled.SerializeToString()).run(None, {"x": x})[0]
        diff = float(np.abs(out - ref).max())
        print(f"{builder}: max |logit difference| {diff:.2e} (logits up to {np.abs(ref).max():.2f})")
        assert diff <= 1e-5


def test_another_segmenter_stride_fills_its_template_once_and_goes_with_the_model(tmp_path):
    """A model installed with its stride-8 segmenter graph runs at stride 16 (a third of the segmenter's
    time on a CPU) from the stride-16 template filled with its weights once, into the cache; removing the
    model removes that graph too."""
    from posefinder.models import paths
    from posefinder.models.estimators.onnx_model import OnnxModelEstimator

    store = _store(tmp_path)
    installed = store.install(numpy_model_file(tmp_path / "src"))
    image = np.full((300, 200, 3), 255, np.uint8)
    image[40:260, 60:140] = (40, 90, 200)
    at8 = OnnxModelEstimator.from_file(installed.weights_path)
    at16 = OnnxModelEstimator.from_file(installed.weights_path, segmenter_output_stride=16)
    cached = sorted((paths.cache_dir() / "onnx").glob(f"{installed.name}-segmenter-*.onnx"))
    segmenter = at16.pipeline.segmenter
    assert len(cached) == 1 and segmenter is not None and getattr(segmenter, "path") == cached[0]
    stamp = cached[0].stat().st_mtime_ns
    (p8,), (p16,) = at8.pipeline.foreground([image]), at16.pipeline.foreground([image])
    assert p8.shape == p16.shape and np.isfinite(p16).all() and not np.allclose(p8, p16)
    OnnxModelEstimator.from_file(installed.weights_path, segmenter_output_stride=16)
    assert cached[0].stat().st_mtime_ns == stamp  # filled once
    with pytest.raises(ModelError, match="output stride"):
        OnnxModelEstimator.from_file(installed.weights_path, segmenter_output_stride=4)
    store.remove(installed.name)
    assert not cached[0].exists()
