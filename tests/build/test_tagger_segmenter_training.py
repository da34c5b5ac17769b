"""Tagger and segmenter training: the loss falls on tiny sets, the commands export what they measured, --help."""

from __future__ import annotations

import argparse
import json

from typing import cast

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

pytest.importorskip("lightning")

from posefinder.build import cli  # noqa: E402
from posefinder.build import trainer as tr  # noqa: E402
from posefinder.build.data import danbooru  # noqa: E402
from posefinder.build.data import segmentation as seg  # noqa: E402
from posefinder.build.data.rulebook import load_rulebook  # noqa: E402
from posefinder.models.weights import load_component  # noqa: E402
from tagseg_helpers import disc_foreground, noise_backgrounds, tiny_rulebook, tiny_tag_folder  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402


def _loader(data, **kwargs) -> DataLoader:
    """A DataLoader over one of build's map-style datasets (len and getitem serve; the stub wants a Dataset)."""
    return DataLoader(cast(Dataset, data), **kwargs)


def _trainer_args(tmp_path, *extra):
    p = argparse.ArgumentParser()
    tr.add_trainer_arguments(p)
    return p.parse_args(["--out", str(tmp_path / "run"), "--accelerator", "cpu", "--progress", "none",
                         "--workers", "0", *extra])  # fmt: skip


def _set_loss(module, loss_fn, loader) -> float:
    """Mean loss over a loader with the network as training sees it (batch statistics), no update."""
    module.train()
    with torch.no_grad():
        losses = [float(loss_fn(module.net(x), y)) for x, y in loader]
    return float(np.mean(losses))


def test_tagger_module_loss_falls_on_a_tiny_set(tmp_path):
    from posefinder.build.modules.tagger import TaggerModule

    torch.manual_seed(0)
    book = load_rulebook(tiny_rulebook(tmp_path / "r.json"))
    posts = danbooru.read_sidecars(tiny_tag_folder(tmp_path, n=16, size=(32, 32)))[0]
    data = danbooru.TaggerDataset(posts, book, input_size=32)
    loader = _loader(data, batch_size=8, shuffle=True)
    positives = danbooru.class_positives(posts, book)
    module = TaggerModule(num_classes=len(book), positives=positives.tolist(), total=len(posts), preset="tiny",
                          lr=3e-3)  # fmt: skip
    fixed = _loader(data, batch_size=16)
    before = _set_loss(module, module.loss, fixed)
    args = _trainer_args(tmp_path, "--max-steps", "6")
    trainer = tr.make_trainer(args, "tagger", limit_val_batches=0)
    tr.fit(trainer, module, args, "tagger", train_dataloaders=loader)
    after = _set_loss(module, module.loss, fixed)
    assert trainer.global_step == 6
    assert after < 0.6 * before, (before, after)


def test_segmenter_module_loss_falls_on_a_tiny_set(tmp_path):
    from posefinder.build.modules.segmenter import SegmenterModule, pixel_bce

    torch.manual_seed(0)
    for i in range(4):
        disc_foreground(tmp_path / "fg" / f"d{i}.png", size=32, radius=9 + i)
    noise_backgrounds(tmp_path / "bg", n=4, size=(40, 40))
    fgs = seg.Sources([seg.foreground_folder(tmp_path / "fg")])
    bgs = seg.Sources([seg.background_folder(tmp_path / "bg")])
    data = seg.CompositeDataset(fgs, bgs, size=32, length=8, mode="fixed", seed=0)
    loader = _loader(data, batch_size=4, shuffle=True)
    module = SegmenterModule(preset="tiny", lr=3e-3)
    fixed = _loader(data, batch_size=8)
    before = _set_loss(module, pixel_bce, fixed)
    args = _trainer_args(tmp_path, "--max-steps", "10")
    trainer = tr.make_trainer(args, "segmenter", limit_val_batches=0)
    tr.fit(trainer, module, args, "segmenter", train_dataloaders=loader)
    after = _set_loss(module, pixel_bce, fixed)
    assert trainer.global_step == 10
    assert after < 0.8 * before, (before, after)


def test_tagger_command_exports_a_tagger_that_reproduces_its_card(tmp_path, capsys):
    from posefinder.build.metrics.tags import tag_f1
    from posefinder.build.modules.tagger import predict_probabilities

    images = tiny_tag_folder(tmp_path, n=40, size=(32, 32))
    rules = tiny_rulebook(tmp_path / "rules.json")
    out = tmp_path / "run"
    rc = cli.main(["tagger", "--images", str(images), "--rulebook", str(rules), "--min-side", "0", "--min-tags", "1",
                   "--preset", "tiny", "--max-steps", "8", "--batch-size", "8", "--accumulate", "1",
                   "--accelerator", "cpu", "--workers", "0", "--progress", "none", "--out", str(out)])  # fmt: skip
    assert rc == 0
    stdout = capsys.readouterr().out
    path = out / "tagger.safetensors"
    assert f"tagger={path}" in stdout and "test_micro_f1" in stdout
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["classes"] == ["red_hair", "blue_hair", "solo"] and len(card["thresholds"]) == 3
    assert card["input_size"] == 32 and card["training_data"]["splits"]["train"] > 0
    assert json.loads((out / "metrics.json").read_text()) == card["metrics"]
    # the exported file holds the trained tagger: it reproduces the card's test F1 at the card's thresholds
    net, _ = load_component(path, "tagger")
    book = load_rulebook(rules)
    test_posts = [p for p in danbooru.read_sidecars(images)[0] if p.split == "test"]
    loader = _loader(danbooru.TaggerDataset(test_posts, book, input_size=32), batch_size=8)
    probs, labels = predict_probabilities(net, loader)
    assert tag_f1(probs, labels, card["thresholds"])["micro_f1"] == pytest.approx(card["metrics"]["test_micro_f1"])
    assert card["metrics"]["test_images"] == len(test_posts)
    # and its trunk is what the pose models take as their domain source (posefinder-train pose --tagger)
    from posefinder.models import nets

    nets.create_model("pose_matching", preset="tiny").tagger.load_tagger_weights(net.state_dict())


def test_segmenter_command_exports_a_segmenter_that_reproduces_its_card(tmp_path, capsys):
    from posefinder.build.modules.segmenter import evaluate_masks

    for i in range(12):
        disc_foreground(tmp_path / "fg" / f"d{i}.png", size=32, radius=8 + i % 5)
    noise_backgrounds(tmp_path / "bg", n=8, size=(40, 40))
    out = tmp_path / "run"
    rc = cli.main(["segmenter", "--foregrounds", str(tmp_path / "fg"), "--backgrounds", str(tmp_path / "bg"),
                   "--synthetic", "4", "--preset", "tiny", "--held-out-pairs", "8", "--epoch-length", "16", "--max-steps", "4",
                   "--batch-size", "8", "--accelerator", "cpu", "--workers", "0", "--progress", "none",
                   "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert "test_mean_f1" in capsys.readouterr().out
    path = out / "segmenter.safetensors"
    card = json.loads(path.with_suffix(".json").read_text())
    assert list(card["components"]) == ["segmenter"] and card["input_size"] == 32 and card["threshold"] == 0.5
    assert card["metrics"]["test_images"] == 8 and card["training_data"]["synthetic_foregrounds"] == 4
    net, _ = load_component(path, "segmenter")
    foregrounds = [seg.foreground_folder(tmp_path / "fg"), seg.SyntheticForegrounds(4, seed=0, size=(32, 32))]
    splits = seg.make_splits(seg.Sources(foregrounds),
                             seg.Sources([seg.background_folder(tmp_path / "bg")]), size=32, held_out_pairs=8,
                             seed=0)  # fmt: skip
    scores = evaluate_masks(net, _loader(splits.test, batch_size=8))
    assert scores["mean_f1"] == pytest.approx(card["metrics"]["test_mean_f1"], abs=1e-6)
    assert scores["bbox_iou"] == pytest.approx(card["metrics"]["test_bbox_iou"], abs=1e-6)


@pytest.mark.parametrize("command, required", [("tagger", ["--images"]), ("segmenter", ["--backgrounds"])])
def test_help_documents_every_option(command, required, capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for action in sub._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"{command} {action.option_strings} has no help"
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for action in sub._actions:
        for option in action.option_strings:
            assert option in text
    for option in required + ["--preset", "--export", "--precision", "--devices", "--num-nodes", "--accumulate"]:
        assert option in text


def test_bad_data_is_a_one_line_error(tmp_path, capsys):
    rc = cli.main(["tagger", "--images", str(tmp_path / "absent"), "--preset", "tiny", "--accelerator", "cpu",
                   "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "no such image folder" in err and len(err.splitlines()) == 1
    (tmp_path / "bg").mkdir()
    rc = cli.main(["segmenter", "--backgrounds", str(tmp_path / "bg"), "--preset", "tiny", "--accelerator", "cpu",
                   "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "no foregrounds" in err and len(err.splitlines()) == 1
    images = tiny_tag_folder(tmp_path, n=4)
    rc = cli.main(["tagger", "--images", str(images), "--preset", "tiny", "--accelerator", "cpu",
                   "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "kept 0 of 4 images" in err and "few_tags 4" in err
