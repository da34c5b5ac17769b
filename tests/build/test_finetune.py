"""Fine-tuning on the artist's corrections (issue 15): a tiny installed model, a generated library of 30
hand-corrected poses; a few steps; installed only when better on the held-out corrections, with its lineage;
refused, cancelled or given too little: the installed models stay as they were."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

from estimator_fakes import tiny_model_file  # noqa: E402
from finetune_helpers import correction_library  # noqa: E402
from posefinder.app import cli as app_cli  # noqa: E402
from posefinder.build import cli as train_cli  # noqa: E402
from posefinder.build.finetune import FinetuneCancelled, FinetuneOptions, finetune  # noqa: E402
from posefinder.models.estimators import chain  # noqa: E402
from posefinder.models.weights import ModelStore, load_bundle  # noqa: E402

#: what makes the tiny random model better within a few steps (it starts near OKS@50 0)
LEARNS = {"steps": 30, "batch_size": 8, "lr": 1e-2}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return correction_library(tmp_path_factory.mktemp("corrections"), 30, extra_estimated=3)


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "m").mkdir()
    path = tiny_model_file(tmp_path / "m", name="tiny", segmenter=True)
    ModelStore().install(path)
    return path


def _store_state():
    """Every file of the model store with its content digest."""
    root = ModelStore().root
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir()) if p.is_file()}


@pytest.mark.slow  # trains a tiny network for a few steps (seconds on an idle CPU)
def test_a_better_model_is_installed_in_use_with_its_lineage(library, tiny, capsys):
    argv = ["finetune", "--library", str(library), "--steps", str(LEARNS["steps"]), "--batch-size",
            str(LEARNS["batch_size"]), "--lr", str(LEARNS["lr"]), "--json"]  # fmt: skip
    assert train_cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["corrections"] == 30 and result["held_out"] >= 6 and result["train"] + result["held_out"] == 30
    assert result["after"]["oks50"] > result["before"]["oks50"]
    assert result["installed"] == "tiny-ft1" and "now the model in use" in result["reason"]
    store = ModelStore()
    assert store.in_use_name() == "tiny-ft1" and getattr(chain.select_estimator(), "model_name") == "tiny-ft1"
    card = store.info("tiny-ft1")
    lineage = card.extra["lineage"]
    assert lineage["base"]["name"] == "tiny" and lineage["ancestors"] == ["tiny"] and lineage["root"] == "tiny"
    assert (lineage["corrections"], lineage["train"], lineage["held_out"]) == (30, result["train"], result["held_out"])
    assert lineage["held_out_metrics"] == {"before": result["before"], "after": result["after"]}
    assert set(lineage["held_out_metrics"]["before"]) >= {"oks50", "oks75", "pckh50"}
    assert lineage["split"] == {"by": "image", "seed": 0, "held_out_fraction": 0.2}
    assert lineage["training"]["steps"] == LEARNS["steps"] and lineage["training"]["frozen"] == ["tagger"]
    assert lineage["library"] == str(library.resolve())
    assert card.metrics["oks50"] == result["after"]["oks50"] and "held-out corrections" in card.metrics["evaluated_on"]
    # the tagger trunk was frozen, the trained parts changed; the segmenter came along unchanged
    old, _ = load_bundle(tiny)
    new, _ = load_bundle(store.weights_path("tiny-ft1"))
    for key, value in old.state_dict().items():
        same = torch.equal(value, new.state_dict()[key])
        if key.startswith(("pose.tagger.", "segmenter.")) or "running_" in key or "num_batches" in key:
            assert same, key
    old_pose, new_pose = cast(Any, old.pose), cast(Any, new.pose)
    assert not torch.equal(old_pose.head.net[0].weight, new_pose.head.net[0].weight)
    assert not torch.equal(old_pose.matcher.conv.weight, new_pose.matcher.conv.weight)
    capsys.readouterr()
    assert app_cli.main(["models", "info", "tiny-ft1"]) == 0
    assert "lineage:        fine-tuned from tiny on" in capsys.readouterr().out
    # the previous version comes back with `posefinder models use`
    assert app_cli.main(["models", "use", "tiny"]) == 0
    assert getattr(chain.select_estimator(), "model_name") == "tiny"
    # a second round starts from the fine-tuned version: its lineage goes on
    assert app_cli.main(["models", "use", "tiny-ft1"]) == 0
    capsys.readouterr()
    assert train_cli.main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    if second["installed"]:
        lineage2 = store.info(second["installed"]).extra["lineage"]
        assert second["installed"] == "tiny-ft2" and lineage2["ancestors"] == ["tiny", "tiny-ft1"]


@pytest.mark.slow  # trains a tiny network for a few steps (seconds on an idle CPU)
def test_no_better_on_the_held_out_corrections_installs_nothing(library, tiny, capsys):
    before = _store_state()
    argv = ["finetune", "--library", str(library), "--steps", "2", "--lr", "1e-12", "--json"]
    assert train_cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["installed"] is None and result["after"] == result["before"]
    assert result["reason"].startswith("not installed: the fine-tuned model is no better") and "'tiny' stays" in result["reason"]
    assert _store_state() == before


@pytest.mark.slow  # trains a tiny network for a few steps (seconds on an idle CPU)
def test_cancel_leaves_the_installed_model_untouched(library, tiny):
    before = _store_state()
    seen = []

    def cancel():
        return any(m.startswith("training step 2/") for m in seen)

    with pytest.raises(FinetuneCancelled, match="unchanged"):
        finetune(FinetuneOptions(library=library, **LEARNS), progress=lambda f, m: seen.append(m), cancel=cancel)
    assert any(m.startswith("training step") for m in seen) and not any("installing" in m for m in seen)
    assert _store_state() == before and ModelStore().in_use_name() is None


def test_too_few_corrections_is_a_clear_error(tmp_path, tiny, capsys):
    small = correction_library(tmp_path / "few", 12)
    before = _store_state()
    assert train_cli.main(["finetune", "--library", str(small)]) == 1
    err = capsys.readouterr().err
    assert "12 corrected poses with their images" in err and "needs at least 20" in err
    assert _store_state() == before


def test_without_an_installed_model_it_says_how_to_get_one(library, capsys):
    assert train_cli.main(["finetune", "--library", str(library)]) == 1
    assert "no installed pose model to fine-tune" in capsys.readouterr().err


@pytest.mark.slow  # trains a tiny network for a few steps (seconds on an idle CPU)
def test_the_concatenation_architecture_fine_tunes_with_its_task_source_frozen(library, tmp_path, capsys):
    (tmp_path / "m").mkdir()
    path = tiny_model_file(tmp_path / "m", name="tinycat", arch="pose_concat", segmenter=False)
    ModelStore().install(path)
    argv = ["finetune", "--library", str(library), "--model", "tinycat", "--steps", "20", "--lr", "1e-2", "--json"]
    assert train_cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["architecture"] == "feature-concatenation"
    assert result["installed"] == "tinycat-ft1" and result["after"]["oks50"] > result["before"]["oks50"]
    new, card = load_bundle(ModelStore().weights_path(result["installed"]))
    old, _ = load_bundle(path)
    changed = {k for k, v in old.state_dict().items() if not torch.equal(v, new.state_dict()[k])}
    assert changed and all(k.startswith(("pose.domain_converter.", "pose.task_converter.", "pose.head.")) for k in changed)
    assert card.extra["lineage"]["training"]["frozen"] == ["tagger", "task (Keypoint R-CNN)"]


@pytest.mark.slow  # a paper-size network on CPU
def test_an_imported_model_of_the_authors_fine_tunes(library, tmp_path, capsys):
    import paper_checkpoints as pc

    from posefinder.models.checkpoints.importer import import_release

    ref = pc.randomise(pc.FeatMatchRef(), 5, (64, 64))
    ckpt = pc.write_checkpoint(tmp_path / "feat_match+data.ckpt", ref.state_dict(), pc.pose_hparams(), rcnn=True)
    report = import_release([ckpt], ModelStore())
    name = report.installed[0][0]
    argv = ["finetune", "--library", str(library), "--steps", "2", "--batch-size", "2", "--json"]
    assert train_cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["base"] == name and result["architecture"] == "feature-matching" and result["steps"] == 2
    assert set(result["after"]) >= {"oks50", "oks75", "pckh50"}
    if result["installed"]:
        card = ModelStore().info(result["installed"])
        base = ModelStore().info(name)
        assert card.inference == base.inference and card.extra["source"] == base.extra["source"]
        assert card.extra["lineage"]["base"]["name"] == name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--held-out", "0.1"], "--held-out must be at least 0.2"),
        (["--model", "nope"], "no installed model named 'nope'"),
        (["--steps", "0"], "--steps and --batch-size must be at least 1"),
        (["--rehearse", "1"], "--rehearse must be at least 0 and below 1"),
    ],
)
def test_bad_options_are_clear_errors_that_change_nothing(library, tiny, capsys, argv, message):
    before = _store_state()
    assert train_cli.main(["finetune", "--library", str(library), *argv]) == 1
    assert message in capsys.readouterr().err
    assert _store_state() == before


def test_a_folder_that_is_no_library_is_a_clear_error(tmp_path, tiny, capsys):
    assert train_cli.main(["finetune", "--library", str(tmp_path / "nowhere")]) == 1
    assert "no PoseFinder library" in capsys.readouterr().err


def test_a_base_trained_on_synthetic_figures_rehearses_them_and_others_do_not(tmp_path):
    from types import SimpleNamespace

    from posefinder.build.data.pose import CropConfig, SyntheticPoseDataset
    from posefinder.build.finetune import REHEARSAL_SHARE, CorrectionSource, rehearsal_figures, rehearsal_share
    from posefinder.models.pose import Pose

    synthetic = SimpleNamespace(training_data={"train": [{"synthetic": 500, "seed": 3, "size": [96, 96]}]})
    imported = SimpleNamespace(training_data={"train": [{"source": "the authors' release"}]})
    assert rehearsal_figures(synthetic) == {"synthetic": 500, "seed": 3, "size": [96, 96]}
    assert rehearsal_figures(imported) is None
    assert rehearsal_share(FinetuneOptions(library=tmp_path), synthetic) == REHEARSAL_SHARE
    assert rehearsal_share(FinetuneOptions(library=tmp_path), imported) == 0.0
    assert rehearsal_share(FinetuneOptions(library=tmp_path, rehearse=0.0), synthetic) == 0.0

    import numpy as np

    config = CropConfig(crop_size=64, heatmap_size=32)
    image = np.full((96, 96, 3), 255, np.uint8)
    kp = np.zeros((25, 3))
    kp[:17] = [[30 + i, 20 + 3 * i, 2] for i in range(17)]
    corrections = [SimpleNamespace(path=tmp_path / f"{i}.png", pose=Pose(kp.copy(), image_size=(96, 96)))
                   for i in range(4)]  # fmt: skip
    figures = SyntheticPoseDataset(500, seed=3, config=config, size=(96, 96))
    images = cast(Any, lambda _p: image)  # a stand-in for the images reader
    source = CorrectionSource(corrections, images, config, 0, figures, 0.5)
    assert len(source) == 8 and source.rehearsed == 4
    rng = np.random.default_rng(0)
    own = source.sample(1, rng)
    replayed = source.sample(6, rng)
    assert int(replayed["index"]) == 6 and replayed["image"].shape == own["image"].shape
    assert not np.array_equal(replayed["image"], own["image"])  # a rendered figure, not a correction
    assert len(CorrectionSource(corrections, images, config, 0, figures, 0.0)) == 4
