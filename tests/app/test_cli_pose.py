"""`posefinder pose` and `posefinder models` with a tiny installed model: real files in, real files out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from estimator_fakes import blob_image, tiny_model_file  # noqa: E402
from posefinder.app import cli  # noqa: E402
from posefinder.models.estimators import chain  # noqa: E402
from posefinder.models.formats import read_poses  # noqa: E402
from posefinder.models.imageio import load_image, save_image  # noqa: E402


@pytest.fixture(autouse=True)
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def model(tmp_path, capsys):
    """A tiny feature-matching model file with its segmenter, installed with `posefinder models install`."""
    export = tmp_path / "export"
    export.mkdir()
    path = tiny_model_file(export, name="tiny")
    assert cli.main(["models", "install", str(path)]) == 0
    out = capsys.readouterr().out
    assert "installed 'tiny': feature-matching, with its segmenter" in out
    return path


@pytest.fixture
def images(tmp_path) -> list[Path]:
    out = []
    for i, size in enumerate([(96, 80), (70, 110)]):
        p = tmp_path / f"img{i}.png"
        save_image(blob_image(size, [(10, 10, 50, 50)], [(30.0, 30.0)], 4.0), p)
        out.append(p)
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_output_rereads_as_the_estimated_poses(model, images, capsys, tmp_path):
    code, out, err = run(capsys, "pose", images[0], "--json")
    assert code == 0 and "estimating with feature-matching (model 'tiny')" in err
    records = read_poses_text(out, tmp_path)
    assert records and all(r.image == str(images[0]) for r in records)
    pose = records[0].pose
    assert pose.source == "model:feature-matching" and pose.image_size == (96, 80)
    assert pose.scores is not None and pose.scores.shape == (25,) and pose.score is not None
    # -o writes the same document to a file
    code, out, _ = run(capsys, "pose", images[0], "--json", "-o", tmp_path / "p.json")
    assert code == 0 and out == ""
    again = read_poses(tmp_path / "p.json")
    assert [r.pose.allclose(q.pose) for r, q in zip(again, records)] == [True] * len(records)


def read_poses_text(text: str, folder: Path):
    path = folder / "stdout.json"
    path.write_text(text)
    return read_poses(path)


def test_coco_and_openpose_outputs_reread(model, images, capsys, tmp_path):
    code, out, _ = run(capsys, "pose", *images, "--coco")
    assert code == 0
    doc = json.loads(out)
    assert {im["file_name"] for im in doc["images"]} <= {str(p) for p in images}
    coco = read_poses_text(out, tmp_path)
    assert all(len(r.pose.keypoints) == 25 for r in coco) and coco
    code, out, _ = run(capsys, "pose", *images, "--openpose")
    docs = json.loads(out)
    assert isinstance(docs, list) and [(d["canvas_width"], d["canvas_height"]) for d in docs] == [(96, 80), (70, 110)]
    assert read_poses_text(out, tmp_path)
    code, out, _ = run(capsys, "pose", images[1], "--openpose")
    doc = json.loads(out)
    assert isinstance(doc, dict) and (doc["canvas_width"], doc["canvas_height"]) == (70, 110)


def test_text_summary_lists_every_keypoint(model, images, capsys):
    code, out, _ = run(capsys, "pose", images[0])
    assert code == 0 and out.startswith(f"{images[0]}: ")
    assert "character 1: score" in out and "left_shin" in out


def test_draw_writes_the_image_with_the_skeleton(model, images, capsys, tmp_path):
    target = tmp_path / "drawn.png"
    assert run(capsys, "pose", images[0], "--draw", target)[0] == 0
    drawn, original = load_image(target), load_image(images[0])
    assert drawn.shape == original.shape and not np.array_equal(drawn, original)
    assert run(capsys, "pose", *images, "--draw", tmp_path / "folder")[0] == 0
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["img0.pose.png", "img1.pose.png"]
    assert run(capsys, "pose", *images, "--draw", str(tmp_path / "pat" / "{index:02d}-{stem}.jpg"))[0] == 0
    assert sorted(p.name for p in (tmp_path / "pat").iterdir()) == ["01-img0.jpg", "02-img1.jpg"]
    code, _, err = run(capsys, "pose", images[0], "--draw", images[0])
    assert code == 1 and "would be overwritten" in err and err.count("\n") == 1
    code, _, err = run(capsys, "pose", images[0], "--draw", tmp_path / "x.txt")
    assert code == 1 and "needs an image suffix" in err


def test_a_bad_image_gets_one_line_and_the_others_still_run(model, images, capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, out, err = run(capsys, "pose", images[0], bad, tmp_path / "missing.png", "--json")
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("posefinder: error:")]
    assert len(errors) == 2 and "bad.png" in errors[0] and "no such file" in errors[1]
    assert "Traceback" not in err
    assert {r.image for r in read_poses_text(out, tmp_path)} == {str(images[0])}


def test_without_a_model_pose_exits_1_with_the_chain_message(images, capsys):
    code, out, err = run(capsys, "pose", images[0])
    assert code == 1 and out == ""
    assert err.strip() == f"posefinder: error: {chain.NO_MODEL_MESSAGE}"


def test_models_install_info_remove_and_bad_files(model, capsys, tmp_path):
    code, out, _ = run(capsys, "models", "info", "tiny", "--json")
    card = json.loads(out)
    assert code == 0 and card["architecture"] == "feature-matching" and card["stored_values"] > 0
    code, out, _ = run(capsys, "models", "info", "tiny")
    assert code == 0 and "pose_matching" in out and "64 px crops" in out
    code, out, _ = run(capsys, "models", "install", model, "--name", "second")
    assert code == 0 and "installed 'second'" in out
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    code, out, err = run(capsys, "models", "install", junk)
    assert code == 1 and err.count("\n") == 1 and "not a readable safetensors file" in err
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"pickle")
    code, _, err = run(capsys, "models", "install", pt)
    assert code == 1 and "pickled" in err
    mismatch = tiny_model_file(tmp_path / "export", name="mismatch")
    cpath = mismatch.with_suffix(".json")
    doc = json.loads(cpath.read_text())
    doc["components"]["pose"]["kwargs"]["head_channels"] = [16, 8, 8]
    cpath.write_text(json.dumps(doc))
    code, _, err = run(capsys, "models", "install", mismatch)
    assert code == 1 and "do not fit the architecture" in err and err.count("\n") == 1
    assert run(capsys, "models", "remove", "second")[0] == 0
    code, _, err = run(capsys, "models", "remove", "second")
    assert code == 1 and "no installed model named 'second'" in err
    code, _, err = run(capsys, "pose", "x.png", "--model", "second")
    assert code == 1 and "unknown model 'second'" in err


def test_a_broken_installed_weight_file_fails_with_one_line(model, images, capsys):
    from posefinder.models.weights import ModelStore

    installed = ModelStore().get("tiny").weights_path
    data = installed.read_bytes()
    installed.write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "pose", images[0], "--model", "tiny")
    assert code == 1 and err.strip().startswith("posefinder: error:") and "Traceback" not in err


def _posefinder(*args, env_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSEFINDER_HOME": str(env_home), "TORCH_HOME": str(env_home / "torch")}
    return subprocess.run([sys.executable, "-m", "posefinder", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def test_megumin_without_a_model_exits_non_zero_with_the_message(megumin, tmp_path):
    result = _posefinder("pose", megumin, "--draw", tmp_path / "out.png", env_home=tmp_path / "home")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip() == f"posefinder: error: {chain.NO_MODEL_MESSAGE}"
    assert not (tmp_path / "out.png").exists()


def test_megumin_with_a_tiny_random_model_draws_a_valid_png(megumin, model, capsys, tmp_path):
    out = tmp_path / "out.png"
    code, text, _ = run(capsys, "pose", megumin, "--draw", out)
    assert code == 0 and "character" in text
    drawn = load_image(out)
    assert drawn.shape == load_image(megumin).shape == (512, 512, 3)


def test_cuda_without_a_gpu_and_unavailable_estimators_say_so_in_one_line(model, images, capsys):
    import torch

    if not torch.cuda.is_available():
        code, _, err = run(capsys, "pose", images[0], "--device", "cuda")
        assert code == 1 and "CUDA is not available" in err and err.count("\n") == 1
    code, _, err = run(capsys, "pose", images[0], "--model", "keypoint-rcnn")
    assert code == 1 and "keypoint-rcnn is not available" in err and "models fetch keypoint-rcnn" in err
