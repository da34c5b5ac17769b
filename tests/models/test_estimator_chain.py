"""The estimator chain: installed paper models first, then Keypoint R-CNN, else none with a message;
`posefinder models list` says which can run and why not; the R-CNN estimator's conversion and weights."""

from __future__ import annotations

import json
import urllib.error

import numpy as np
import pytest

pytest.importorskip("torch")

from estimator_fakes import tiny_model_file  # noqa: E402
from posefinder.app import cli  # noqa: E402
from posefinder.models import nets, paths, skeleton  # noqa: E402
from posefinder.models.errors import ModelError  # noqa: E402
from posefinder.models.estimators import chain, rcnn  # noqa: E402
from posefinder.models.weights import ModelStore  # noqa: E402


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of its own (no Keypoint R-CNN weights unless a test puts a file there)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return paths.torch_hub_dir()


def install(tmp_path, **kw):
    return ModelStore().install(tiny_model_file(tmp_path, **kw))


def listed(capsys) -> dict:
    assert cli.main(["models", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _model_of(estimator) -> str:
    """The installed model an estimator runs (the paper and ONNX estimators name theirs)."""
    return getattr(estimator, "model_name")


def test_with_nothing_installed_no_estimator_runs_and_the_message_says_how_to_get_one(capsys):
    described = chain.describe_chain()
    assert [a.name for a in described] == ["feature-matching", "feature-concatenation", "keypoint-rcnn"]
    assert not any(a.available for a in described)
    assert all(a.reason and a.how_to_fix for a in described)
    with pytest.raises(ModelError) as err:
        chain.select_estimator()
    assert str(err.value) == chain.NO_MODEL_MESSAGE
    assert "posefinder models install" in chain.NO_MODEL_MESSAGE and "fetch keypoint-rcnn" in chain.NO_MODEL_MESSAGE
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("unavailable") == 3 and "no feature-matching model is installed" in out
    assert "not in torch hub's cache" in out and "Auto-pose: none" in out


def test_the_chain_falls_through_to_the_first_installed_architecture(tmp_path, capsys):
    install(tmp_path, name="concat", arch="pose_concat", segmenter=False)
    est = chain.select_estimator()
    assert (est.name, _model_of(est)) == ("feature-concatenation", "concat")
    doc = listed(capsys)
    assert doc["auto_pose"] == "feature-concatenation"
    assert [e["available"] for e in doc["estimators"]] == [False, True, False]
    install(tmp_path, name="match")
    assert chain.select_estimator().name == "feature-matching"
    assert _model_of(chain.select_estimator("feature-concatenation")) == "concat"
    assert chain.select_estimator("concat").name == "feature-concatenation"  # an installed model by name
    with pytest.raises(ModelError, match="unknown model 'nope'.*feature-matching.*concat"):
        chain.select_estimator("nope")


def test_a_named_estimator_that_cannot_run_says_why():
    with pytest.raises(ModelError, match="feature-matching is not available: no feature-matching model is installed"):
        chain.select_estimator("feature-matching")
    with pytest.raises(ModelError, match="keypoint-rcnn is not available.*models fetch keypoint-rcnn"):
        chain.select_estimator("keypoint-rcnn")


def test_broken_installed_models_are_listed_and_skipped(tmp_path, capsys):
    install(tmp_path, name="good")
    (ModelStore().root / "junk.safetensors").write_bytes(b"not a model")
    assert _model_of(chain.select_estimator()) == "good"
    doc = listed(capsys)
    junk = next(m for m in doc["installed"] if m["name"] == "junk")
    assert not junk["ok"] and "junk" in junk["error"]
    with pytest.raises(ModelError, match="broken"):
        chain.select_estimator("junk")


def test_keypoint_rcnn_is_available_when_its_file_is_cached_and_refused_when_corrupt(hub, capsys):
    path = hub / "checkpoints" / nets.KEYPOINT_RCNN_COCO_FILE
    assert rcnn.weights_path() == path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00" * 1024)
    doc = listed(capsys)
    assert doc["auto_pose"] == "keypoint-rcnn" and doc["estimators"][2]["available"]
    with pytest.raises(ModelError, match="corrupt"):
        chain.select_estimator()


def test_fetch_offline_fails_with_one_line_and_exit_1(monkeypatch, capsys):
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(type(KeypointRCNN_ResNet50_FPN_Weights.COCO_V1), "get_state_dict", offline)
    assert cli.main(["models", "fetch", "keypoint-rcnn"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "cannot download the Keypoint R-CNN weights" in lines[0]
    assert "Name or service not known" in lines[0]


def test_rcnn_detections_become_25_point_poses_in_posefinders_pixel_convention():
    kp17 = np.stack([np.arange(17) * 10.0 + 0.5, np.arange(17) * 5.0 + 0.5, np.ones(17)], axis=1)
    logits = np.linspace(-4, 4, 17)
    pose = rcnn.pose_from_detection(kp17, logits, np.array([1.0, 2.0, 101.0, 52.0]), 0.9, (200, 100))
    assert pose.source == "model:keypoint-rcnn" and pose.score == 0.9 and pose.bbox_xywh == (1.0, 2.0, 100.0, 50.0)
    assert np.allclose(pose.xy[:17], kp17[:, :2] - 0.5)  # torchvision puts pixel centres at +0.5
    scores17 = 1 / (1 + np.exp(-logits))
    assert pose.scores is not None and np.allclose(pose.scores[:17], scores17)
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        assert np.allclose(pose.xy[m], (pose.xy[a] + pose.xy[b]) / 2)
        assert pose.scores[m] == min(scores17[a], scores17[b])
    assert list(pose.keypoints[:17, 2]) == [2 if s >= rcnn.VISIBLE_SCORE else 1 for s in scores17]


def test_rcnn_estimator_runs_a_torchvision_detector_on_whole_images():
    import torch

    torch.manual_seed(0)
    detector = nets.create_model("keypoint_rcnn", preset="tiny", box_score_thresh=0.0)
    est = rcnn.KeypointRCNNEstimator(detector)
    images = [np.full((60, 80, 3), 128, np.uint8), np.zeros((50, 40, 3), np.uint8)]
    batch = est.estimate_batch(images)
    assert len(batch) == 2
    for poses, im in zip(batch, images):
        assert len(poses) <= rcnn.MAX_CHARACTERS
        scores = [p.score for p in poses]
        assert None not in scores and scores == sorted((s for s in scores if s is not None), reverse=True)
        for p in poses:
            assert p.image_size == (im.shape[1], im.shape[0]) and p.keypoints.shape == (25, 3)
