"""ONNX Runtime for the paper models (optional extra): the export runs, matches PyTorch, is cached and forgotten."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from estimator_fakes import blob_image, tiny_model_file  # noqa: E402
from posefinder.models.estimators import onnx_runtime  # noqa: E402
from posefinder.models.estimators.paper import PaperModelEstimator  # noqa: E402

pytestmark = pytest.mark.skipif(not onnx_runtime.can_export(), reason="onnxruntime/onnx/onnxscript not installed")


@pytest.mark.slow
def test_forced_onnx_runtime_gives_the_pytorch_poses_and_is_cached(tmp_path):
    """One export (the pose network; the segmenter's goes the same way and benchmarks/estimators.py checks
    the paper-size ones): about 10 s on an idle 2-core CPU."""
    path = tiny_model_file(tmp_path, name="tiny", segmenter=False)
    image = blob_image((120, 90), [(30, 10, 50, 70)], [(50.0, 40.0)], 5.0)
    torch_est = PaperModelEstimator.from_file(path, runtime="torch")
    onnx_est = PaperModelEstimator.from_file(path, runtime="onnx")
    assert (torch_est.runtime, onnx_est.runtime) == ({"pose": "torch"}, {"pose": "onnxruntime"})
    network = onnx_runtime.OrtNetwork(onnx_runtime.export_path(path, "pose", 64))
    assert onnx_runtime.max_difference(torch_est.bundle.pose, network, 64, seed=3) <= onnx_runtime.EXPORT_ATOL
    (a,), (b,) = torch_est.estimate(image), onnx_est.estimate(image)
    assert a.scores is not None and b.scores is not None
    assert np.abs(a.xy - b.xy).max() < 0.05 and np.abs(a.scores - b.scores).max() < 1e-3
    assert PaperModelEstimator.from_file(path, runtime="onnx").runtime == {"pose": "onnxruntime"}  # cached
    cached = [p.name for p in onnx_runtime.export_path(path, "pose", 64).parent.iterdir()]
    assert len(cached) == 1 and cached[0].startswith("tiny-pose-64-")
    assert onnx_runtime.forget(tmp_path / "tin.safetensors") == 0 and onnx_runtime.forget(path) == 1


@pytest.mark.slow
def test_a_tagger_run_by_onnx_runtime_scores_as_pytorch_does(tmp_path):
    import torch
    from posefinder.build.trainer import export_bundle
    from posefinder.models import nets, tagging

    torch.manual_seed(0)
    net = nets.create_model("tagger", depth=18, width=8, blocks=(1, 1, 1, 1), num_classes=3)
    path = export_bundle(tmp_path / "tags.safetensors", tagger=net, name="tags", classes=["a", "b", "c"], input_size=64)
    info = tagging.read_tagger_file(path)
    image = blob_image((120, 90), [(30, 10, 50, 70)], [(50.0, 40.0)], 5.0)
    by_torch, by_onnx = tagging.ImageTagger(info, runtime="torch"), tagging.ImageTagger(info, runtime="onnx")
    assert (by_torch.runtime, by_onnx.runtime) == ("torch", "onnxruntime")
    a, b = by_torch.scores(image), by_onnx.scores(image)
    assert a.shape == b.shape == (3,) and np.abs(a - b).max() < 1e-4


def test_auto_keeps_tiny_networks_in_pytorch(tmp_path, monkeypatch):
    path = tiny_model_file(tmp_path, name="tiny", segmenter=False)
    assert PaperModelEstimator.from_file(path).runtime == {"pose": "torch"}
    monkeypatch.setenv(onnx_runtime.RUNTIME_ENV, "fast")
    with pytest.raises(ValueError, match="auto, onnx or torch"):
        PaperModelEstimator.from_file(path)


def test_each_output_stride_of_the_segmenter_has_its_own_export(tmp_path):
    path = tiny_model_file(tmp_path, name="tiny")
    at_8 = onnx_runtime.export_path(path, "segmenter", 64)
    assert onnx_runtime.export_path(path, "segmenter", 64, "os16") != at_8
    assert at_8.name.startswith("tiny-segmenter-64-")
