"""posefinder-train index (batched, parallel decoding, incremental) and evaluate (model / predictions file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from posefinder.build import cli  # noqa: E402
from posefinder.build.indexing import BatchRunner  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.imageio import save_image  # noqa: E402
from posefinder.models.pose import Pose  # noqa: E402


class FakeEstimator:
    """A figure at the image centre, scaled to the image; counts the images it saw."""

    name = "fake"

    def __init__(self):
        self.seen = 0
        self.batches = []

    def estimate(self, image):
        return self.estimate_batch([image])[0]

    def estimate_batch(self, images):
        self.batches.append(len(images))
        self.seen += len(images)
        out = []
        for im in images:
            h, w = im.shape[:2]
            kp = np.zeros((25, 3))
            kp[:17, 0] = np.linspace(0.3, 0.7, 17) * w
            kp[:17, 1] = np.linspace(0.2, 0.9, 17) * h
            kp[:17, 2] = 2
            skeleton.fill_midpoints(kp)
            out.append([Pose(kp, image_size=(w, h), source="model:fake", scores=np.ones(25), score=1.0)])
        return out


def _folder(tmp_path, n=5, broken=True):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        save_image(rng.integers(0, 255, size=(40 + i, 30, 3), dtype=np.uint8), folder / f"{i}.png")
    if broken:
        (folder / "broken.png").write_bytes(b"not an image")
    return folder


def test_batch_runner_indexes_incrementally_over_two_devices(tmp_path):
    from posefinder.models.library import Library

    folder = _folder(tmp_path)
    a, b = FakeEstimator(), FakeEstimator()
    runner = BatchRunner([a, b], batch_size=2, workers=1)
    with Library.open(tmp_path / "lib", create=True) as lib:
        report = lib.index([folder], runner=runner, batch_size=runner.commit_size)
        assert report.estimated == 5 and len(report.bad) == 1
        assert a.seen + b.seen == 5 and a.seen > 0 and b.seen > 0  # both devices got batches
        assert max(a.batches + b.batches) <= 2
        assert lib.counts().poses == 5
        again = lib.index([folder], runner=runner, batch_size=runner.commit_size)
        assert again.estimated == 0 and a.seen + b.seen == 5  # nothing unchanged is estimated again
        from posefinder.models.descriptor import Query

        results = lib.search(Query(lib.poses_of_image(1)[0][1]), k=3)
        assert len(results) == 3


def test_index_command_with_a_model_file_writes_a_library_posefinder_opens(tmp_path, capsys):
    import torch

    from posefinder.build.trainer import export_bundle
    from posefinder.models import nets

    torch.manual_seed(0)
    model = export_bundle(tmp_path / "tiny.safetensors", pose=nets.create_model("pose_matching", preset="tiny"))
    folder = _folder(tmp_path, n=3, broken=False)
    lib = tmp_path / "lib"
    assert cli.main(["index", str(folder), "--library", str(lib), "--model", str(model), "--device", "cpu",
                     "--workers", "0", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "library: 3 images, 3 poses" in out
    from posefinder.app import cli as app_cli
    from posefinder.models.formats import write_poses

    pose_file = tmp_path / "q.json"
    write_poses([Pose(np.tile([[10.0, 10.0, 2.0]], (25, 1)) + np.arange(25)[:, None] * [1, 2, 0])], pose_file)
    assert app_cli.main(["search", "--library", str(lib), "--pose", str(pose_file), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_index_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["index", str(tmp_path / "nope"), "--library", str(tmp_path / "lib")]) == 1
    assert "no such folder" in capsys.readouterr().err
    folder = _folder(tmp_path, n=1, broken=False)
    assert cli.main(["index", str(folder), "--library", str(tmp_path / "lib"), "--model", "no-such-model",
                     "--device", "cpu"]) == 1
    assert "no-such-model" in capsys.readouterr().err


def _gt_set(tmp_path):
    """Two images with COCO ground truth; predictions: one exact, one off by 40 px."""
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord

    (tmp_path / "img").mkdir()
    recs, preds = [], []
    for i in range(2):
        kp = np.zeros((25, 3))
        kp[:17, 0] = 20 + np.arange(17) * 3
        kp[:17, 1] = 30 + np.arange(17) * 5
        kp[:17, 2] = 2
        skeleton.fill_midpoints(kp)
        save_image(np.full((150, 100, 3), 255, np.uint8), tmp_path / "img" / f"{i}.png")
        recs.append(PoseRecord(Pose(kp, bbox_xywh=(15, 25, 60, 90), image_size=(100, 150)), f"{i}.png"))
        pk = kp.copy()
        pk[:17, 0] += 40 * i
        preds.append(PoseRecord(Pose(pk), f"img/{i}.png"))
    write_poses(recs, tmp_path / "gt.json", "coco")
    write_poses(preds, tmp_path / "pred.json", "posefinder")
    return tmp_path / "gt.json", tmp_path / "pred.json"


def test_evaluate_predictions_file(tmp_path, capsys):
    gt, pred = _gt_set(tmp_path)
    assert cli.main(["evaluate", "--data", str(gt), "--images", str(tmp_path / "img"), "--predictions", str(pred),
                     "--json", "--output", str(tmp_path / "m.json")]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["overall"]["oks50"] == pytest.approx(0.5)  # one perfect character, one far off
    assert obj["per_keypoint"]["nose"]["oks50"] == pytest.approx(0.5)
    assert json.loads((tmp_path / "m.json").read_text()) == obj
    assert cli.main(["evaluate", "--data", str(gt), "--images", str(tmp_path / "img"), "--predictions",
                     str(pred)]) == 0
    assert "OKS@50" in capsys.readouterr().out


def test_evaluate_model_file_on_synthetic_set_both_protocols(tmp_path, capsys):
    import torch

    from posefinder.build.trainer import export_bundle
    from posefinder.models import nets

    torch.manual_seed(0)
    model = export_bundle(tmp_path / "tiny.safetensors", pose=nets.create_model("pose_matching", preset="tiny"))
    for bbox in ("gt", "estimated"):
        assert cli.main(["evaluate", "--model", str(model), "--synthetic", "3", "--synthetic-size", "96", "--bbox",
                         bbox, "--json"]) == 0
        obj = json.loads(capsys.readouterr().out)
        assert obj["instances"] == 3 and 0 <= obj["overall"]["oks50"] <= 1 and obj["bbox"] == bbox
    assert cli.main(["evaluate", "--synthetic", "2", "--synthetic-size", "64", "--save-synthetic",
                     str(tmp_path / "set"), "--predictions", str(tmp_path / "nothing.json")]) == 1
    assert (tmp_path / "set" / "ground_truth.json").is_file()
    assert "nothing.json" in capsys.readouterr().err


def test_every_command_documents_its_options(capsys):
    for name in cli.available_commands():
        with pytest.raises(SystemExit) as exc:
            cli.main([name, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith("usage: posefinder-train " + name)
    assert {"pose", "evaluate", "index"} <= set(cli.available_commands())
    with pytest.raises(SystemExit):
        cli.main(["pose", "--help"])
    text = capsys.readouterr().out
    for option in ("--train", "--synthetic", "--architecture", "--preset", "--devices", "--num-nodes", "--precision",
                   "--max-steps", "--resume", "--export", "--tagger", "--segmenter", "--rotation", "--flip"):
        assert option in text, option
