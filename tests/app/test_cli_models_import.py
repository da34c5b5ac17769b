"""`posefinder models import`: what it prints, twice, on bad files; `models list/info` on imported models."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")  # the generated release is written with torch.save

import paper_checkpoints as pc  # noqa: E402
from posefinder.app import cli  # noqa: E402
from posefinder.models.estimators import chain  # noqa: E402

pytestmark = pytest.mark.slow  # a paper-size feature-matching network (10M values)


@pytest.fixture(scope="module")
def pose_ckpt(tmp_path_factory):
    ref = pc.randomise(pc.FeatMatchRef(), 4, (64, 64))
    return pc.write_checkpoint(tmp_path_factory.mktemp("ckpt") / "feat_match.ckpt", ref.state_dict(),
                               pc.pose_hparams("easydict"), rcnn=True)  # fmt: skip


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_list_info_and_import_again(capsys, pose_ckpt, tmp_path):
    code, out, err = run(capsys, "models", "import", pose_ckpt)
    assert code == 0, err
    assert "installed 'feature-matching.chen2022': pose" in out
    assert "auto-pose uses feature-matching" in out
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert "feature-matching.chen2022  feature-matching, no segmenter" in out and "no metrics measured" in out
    assert "from the authors' release bizarre_pose_models.zip" in out and "feat_match.ckpt (sha256 " in out
    assert "reported by the authors (paper Table 1, Feature Matching): oks50 0.8769" in out
    assert "licence: the authors' repository is AGPL-3.0" in out
    code, out, _ = run(capsys, "models", "info", "feature-matching.chen2022", "--json")
    card = json.loads(out)
    assert card["metrics"] == {} and card["reported_by_authors"]["oks50"] == 0.8769
    assert card["components"]["pose"]["kwargs"]["antialias"] is False
    code, out, _ = run(capsys, "models", "import", pose_ckpt, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["installed"] == [] and doc["already_installed"][0]["name"] == "feature-matching.chen2022"


def test_bad_files_get_one_line_and_exit_1(capsys, tmp_path):
    bad = tmp_path / "feat_match.ckpt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code, out, err = run(capsys, "models", "import", bad)
    assert code == 1 and len(err.strip().splitlines()) == 1 and str(bad) in err
    code, out, err = run(capsys, "models", "import", tmp_path / "missing.zip")
    assert code == 1 and "no such file or folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "models", "import", empty)
    assert code == 1 and "nothing was imported" in err
    code, out, err = run(capsys, "models", "install", bad)
    assert code == 1 and "pickled .pt/.ckpt files are refused" in err and "models import" in err


def test_no_model_messages_name_the_import():
    assert "posefinder models import bizarre_pose_models.zip" in chain.NO_MODEL_MESSAGE
    assert "Keypoint R-CNN" in chain.NO_MODEL_MESSAGE
