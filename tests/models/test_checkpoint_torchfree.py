"""`posefinder models import bizarre_pose_models.zip` on a torch-free install, end to end (issues 11 and 19):
a release laid out as the authors' (written with the standard library: tests/stdlib_checkpoints.py) is read
with the restricted unpickler, converted with numpy, written as safetensors, installed with its ONNX graphs
(the templates of their variants filled with its weights) and auto-poses a non-square image through ONNX
Runtime, the segmenter fed by the image's shorter side. Every step runs in a fresh interpreter where torch
cannot be imported, which then lists the torch modules it loaded: none may be."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import stdlib_checkpoints as sc
from posefinder.models import skeleton

pytestmark = [pytest.mark.torchfree, pytest.mark.slow]  # the paper-size networks: 68M values

SCRIPT = r"""
import json, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "lightning", "pytorch_lightning"):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
import importlib.util
importlib.util.find_spec = (lambda f: (lambda name, package=None: None if name.split(".")[0] == "torch" else f(name, package)))(importlib.util.find_spec)
from posefinder.app.cli import main
codes = [main(argv) for argv in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "torch": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))}))
"""


def _run(tmp_path, *argvs):
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps([[str(a) for a in argv] for argv in argvs])],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ), cwd=str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stdout, out.stderr


def test_the_release_zip_imports_and_auto_poses_without_torch(tmp_path):
    from posefinder.models.formats import read_poses
    from posefinder.models.imageio import save_image
    from posefinder.models.weights import ModelStore

    release = sc.release_zip(tmp_path / "bizarre_pose_models.zip")
    image = np.full((320, 224, 3), 255, np.uint8)  # a portrait: the segmenter sees 256 x 366
    image[40:300, 70:160] = (200, 60, 40)
    save_image(image, tmp_path / "portrait.png")
    result, out, err = _run(
        tmp_path,
        ["models", "import", release],
        ["models", "import", release],  # again: already installed, nothing changes
        ["models", "list"],
        ["pose", tmp_path / "portrait.png", "--json", "-o", tmp_path / "poses.json"],
    )
    assert result == {"codes": [0, 0, 0, 0], "torch": []}, err[-3000:]
    assert "installed 'feature-matching.chen2022-data': pose + segmenter" in out
    assert "is already installed from the same files" in out
    (model,) = ModelStore().list()
    card = model.card
    assert card is not None
    assert card.components["pose"]["kwargs"]["antialias"] is False
    assert card.components["segmenter"]["kwargs"]["depth"] == 101
    assert card.inference["segmenter_resize"] == "shorter"
    for component in ("pose", "segmenter"):
        assert model.weights_path.with_name(f"{model.name}.{component}.onnx").is_file()
    (record,) = read_poses(tmp_path / "poses.json")  # the segmenter answers foreground everywhere: one character
    pose = record.pose
    assert pose.source == "model:feature-matching"
    assert pose.image_size == (224, 320)
    assert pose.bbox_xywh is not None and pose.bbox_xywh[2] > 200 and pose.bbox_xywh[3] > 300
    assert np.isfinite(pose.keypoints).all()
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():  # the card rebuilds midpoints from their endpoints
        np.testing.assert_allclose(pose.xy[m], (pose.xy[a] + pose.xy[b]) / 2, atol=1e-3)


def test_a_release_whose_pickle_would_run_code_is_refused_without_torch(tmp_path):
    pkl, storages = sc.checkpoint_bytes(sc.pose_state(), sc.pose_hparams())
    evil = pkl.replace(b"cargparse\nNamespace\n", b"cos\nsystem\n", 1)
    assert evil != pkl
    import zipfile

    path = tmp_path / "feat_match.ckpt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", evil)
    result, out, err = _run(tmp_path, ["models", "import", path])
    assert result["codes"] == [1] and result["torch"] == []
    assert "os.system" in err and "refused" in err
