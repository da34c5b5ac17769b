"""Pose training: the loss falls, resume is exact, the export installs and loads back, and the CLI says so."""

from __future__ import annotations

from typing import cast

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

pytest.importorskip("lightning")

from posefinder.build import cli  # noqa: E402
from test_build_data import _coco_set  # noqa: E402

TINY = ["--preset", "tiny", "--accelerator", "cpu", "--workers", "0", "--progress", "none", "--batch-size", "2",
        "--rotation", "30", "--colour", "0", "--no-onnx"]


def _run(argv):
    return cli.main(["pose", *argv])


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _args(argv):
    import argparse

    from posefinder.build.commands import pose as cmd

    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    return parser.parse_args(argv)


class _Interrupt:
    """Stops training after `steps` optimiser steps, as an interruption would (last.ckpt written)."""

    def __new__(cls, steps):
        import lightning as L

        class Stop(L.Callback):
            def on_train_batch_end(self, trainer, *a):
                if trainer.global_step >= steps:
                    trainer.should_stop = True

        return Stop()


def test_resume_is_exact(tmp_path):
    from posefinder.build.commands.pose import train

    ann = _coco_set(tmp_path, n=6)  # 3 batches per epoch: the interruption at step 2 falls inside an epoch
    common = ["--train", str(ann), "--images", str(tmp_path / "img"), *TINY, "--max-steps", "4",
              "--checkpoint-every", "1"]
    straight, _, _ = train(_args([*common, "--out", str(tmp_path / "a")]))
    first, t1, _ = train(_args([*common, "--out", str(tmp_path / "b")]), callbacks=[_Interrupt(2)])
    assert t1.global_step == 2 and (tmp_path / "b" / "checkpoints" / "last.ckpt").is_file()
    resumed, t2, _ = train(_args([*common, "--out", str(tmp_path / "b")]))  # the same command again
    assert t2.global_step == 4 and int(resumed.batches_seen) == 4
    a, b, c = straight.state_dict(), resumed.state_dict(), first.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())  # step 2 differs from step 4


def test_loss_falls_on_a_tiny_set(tmp_path):
    from posefinder.build.commands.pose import build_module, crop_config, loaders, make_sources
    from posefinder.build.trainer import make_trainer

    ann = _coco_set(tmp_path, n=4)
    parser = __import__("argparse").ArgumentParser()
    from posefinder.build.commands import pose as cmd

    cmd.add_arguments(parser)
    args = parser.parse_args(["--train", str(ann), "--images", str(tmp_path / "img"), *TINY, "--rotation", "0",
                              "--flip", "0", "--scale-min", "1", "--max-steps", "20", "--lr", "1e-2",
                              "--schedule", "constant", "--out", str(tmp_path / "run")])
    trainer = make_trainer(args, "t")
    module = build_module(args)
    train, _, _ = make_sources(args, crop_config(args, module.net))
    train_loader, _ = loaders(args, module, train, None)
    assert train is not None and module.task is not None
    batch = next(iter(torch.utils.data.DataLoader(cast(Dataset, train), batch_size=4, collate_fn=__import__(
        "posefinder.build.data.pose", fromlist=["collate"]).collate)))
    module.eval()
    with torch.no_grad():
        before = module.losses(batch)[1]["heatmap_bce"].item()
    trunk = module.net.tagger.resnet.conv1.weight.detach().clone()
    task = next(module.task.parameters()).detach().clone()
    trainer.fit(module, train_dataloaders=train_loader)
    module.eval()
    with torch.no_grad():
        after = module.losses(batch)[1]["heatmap_bce"].item()
    assert after < 0.5 * before, (before, after)
    # random init: the tagger trunk learns too; the task source (the matching target) stays frozen
    assert not torch.equal(trunk, module.net.tagger.resnet.conv1.weight)
    assert torch.equal(task, next(module.task.parameters()))


def test_export_installs_and_loads_back(tmp_path):
    from posefinder.models.weights import ModelStore, load_bundle

    ann = _coco_set(tmp_path, n=2)
    out = tmp_path / "run"
    assert _run(["--train", str(ann), "--images", str(tmp_path / "img"), "--val", str(ann), "--val-images",
                 str(tmp_path / "img"), *TINY, "--max-steps", "2", "--out", str(out), "--name", "tiny-pose"]) == 0
    path = out / "pose-matching.safetensors"
    assert (out / "checkpoints" / "last.ckpt").is_file() and list((out / "checkpoints").glob("best-step*.ckpt"))
    bundle, card = load_bundle(path)
    assert card.name == "tiny-pose" and card.architecture == "feature-matching"
    assert set(card.metrics) >= {"oks50", "oks75", "pckh50", "pdj20", "pcpm50"}
    assert card.training_data["train"][0]["characters"] == 2
    saved = _weights(path)
    for k, v in bundle.state_dict().items():
        assert torch.equal(saved[k], v)
    assert ModelStore().install(path).name == "tiny-pose"


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert _run([*TINY, "--out", str(tmp_path / "x")]) == 1
    assert "no training data" in capsys.readouterr().err
    assert _run(["--synthetic", "1", *TINY, "--resume", str(tmp_path / "none.ckpt"), "--out", str(tmp_path)]) == 1
    assert "no such checkpoint" in capsys.readouterr().err


def test_mixed_precision_and_ddp_flags_on_cpu(tmp_path):
    """bf16 autocast runs the training step on the CPU; two devices ask for DDP (launched only by fit)."""
    from posefinder.build.commands.pose import train
    from posefinder.build.trainer import make_trainer

    ann = _coco_set(tmp_path, n=2)
    args = _args(["--train", str(ann), "--images", str(tmp_path / "img"), *TINY, "--max-steps", "1",
                  "--precision", "bf16-mixed", "--out", str(tmp_path / "amp")])
    module, trainer, _ = train(args)
    assert trainer.global_step == 1 and trainer.precision == "bf16-mixed"
    assert all(torch.isfinite(p).all() for p in module.net.parameters())
    ddp = make_trainer(_args(["--synthetic", "4", *TINY, "--devices", "2", "--num-nodes", "1",
                              "--out", str(tmp_path / "ddp")]), "pose")
    assert type(ddp.strategy).__name__ == "DDPStrategy" and ddp.num_devices == 2
