"""`posefinder models use NAME`: the model auto-pose uses, chosen by name (e.g. back to the version a
fine-tuned model came from); installing a model makes the newest rule apply again."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from estimator_fakes import tiny_model_file  # noqa: E402
from posefinder.app import cli  # noqa: E402
from posefinder.models.estimators import chain  # noqa: E402
from posefinder.models.weights import ModelStore  # noqa: E402


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    c = capsys.readouterr()
    return code, c.out, c.err


@pytest.fixture
def two_models(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    a = tiny_model_file(tmp_path / "m", name="first", segmenter=False)
    b = tiny_model_file(tmp_path / "m", name="second", segmenter=False)
    assert run(capsys, "models", "install", a)[0] == 0
    assert run(capsys, "models", "install", b)[0] == 0
    return tmp_path / "m"


def _auto_pose_model() -> str:
    return getattr(chain.select_estimator(), "model_name")


def test_use_chooses_the_model_auto_pose_runs_and_list_marks_it(two_models, capsys):
    assert _auto_pose_model() == "second"  # the newest installed, by default
    code, out, _ = run(capsys, "models", "use", "first")
    assert code == 0 and "auto-pose now uses 'first'" in out
    assert _auto_pose_model() == "first"
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)["installed"]}
    assert rows["first"]["in_use"] and not rows["second"]["in_use"]
    assert "in use" in run(capsys, "models", "list")[1]


def test_an_unknown_name_fails_and_changes_nothing(two_models, capsys):
    run(capsys, "models", "use", "first")
    code, _, err = run(capsys, "models", "use", "nope")
    assert code == 1 and "no installed model named 'nope'" in err
    assert _auto_pose_model() == "first"


def test_the_chosen_models_architecture_comes_first_in_the_chain(two_models, capsys, tmp_path):
    concat = tiny_model_file(tmp_path / "m", name="concat", arch="pose_concat", segmenter=False)
    run(capsys, "models", "install", concat)
    assert _auto_pose_model() == "second"  # feature matching comes first in the chain
    run(capsys, "models", "use", "concat")
    assert [a.name for a in chain.describe_chain()][0] == "feature-concatenation"
    assert _auto_pose_model() == "concat"


def test_installing_or_removing_brings_back_the_default_choice(two_models, capsys, tmp_path):
    run(capsys, "models", "use", "first")
    third = tiny_model_file(tmp_path / "m", name="third", segmenter=False)
    run(capsys, "models", "install", third)
    assert _auto_pose_model() == "third" and ModelStore().in_use_name() is None
    run(capsys, "models", "use", "first")
    assert run(capsys, "models", "remove", "first")[0] == 0
    assert ModelStore().in_use_name() is None and _auto_pose_model() == "third"
