"""The shared Trainer options of posefinder-train: flags -> Lightning Trainer, resume, export round trips."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

pytest.importorskip("lightning")

from posefinder.build import trainer as tr  # noqa: E402
from posefinder.models.errors import ModelError  # noqa: E402


def _args(tmp_path, *extra):
    p = argparse.ArgumentParser()
    tr.add_trainer_arguments(p)
    return p.parse_args(["--out", str(tmp_path / "run"), "--accelerator", "cpu", "--progress", "none", *extra])


def test_defaults_are_the_papers(tmp_path):
    args = _args(tmp_path)
    assert (args.lr, args.batch_size, tr.max_epochs(args)) == (1e-3, 32, 1000)
    args = _args(tmp_path, "--max-steps", "10")
    assert tr.max_epochs(args) == -1  # steps alone: no epoch limit


def test_strategy_is_ddp_with_more_than_one_device_or_node(tmp_path):
    assert tr.resolve_strategy(_args(tmp_path, "--devices", "1")) == "auto"
    assert tr.resolve_strategy(_args(tmp_path, "--devices", "2")) == "ddp"
    assert tr.resolve_strategy(_args(tmp_path, "--devices", "0,1")) == "ddp"
    assert tr.resolve_strategy(_args(tmp_path, "--devices", "1", "--num-nodes", "2")) == "ddp"
    trainer = tr.make_trainer(_args(tmp_path, "--devices", "2"), "t")
    from lightning.pytorch.strategies import DDPStrategy

    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.num_devices == 2


def test_bad_flags_are_one_line_errors(tmp_path):
    with pytest.raises(SystemExit):
        _args(tmp_path, "--devices", "0")
    if not torch.cuda.is_available():
        with pytest.raises(tr.TrainingError, match="16-mixed needs a GPU"):
            tr.make_trainer(_args(tmp_path, "--precision", "16-mixed"), "t")
        with pytest.raises(tr.TrainingError, match="no CUDA GPU"):
            tr.make_trainer(_args(tmp_path, "--accelerator", "cuda"), "t")


def test_resume_picks_last_checkpoint_unless_fresh(tmp_path):
    args = _args(tmp_path)
    assert tr.resume_checkpoint(args, "t") is None
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"x")
    assert tr.resume_checkpoint(args, "t") == last
    assert tr.resume_checkpoint(_args(tmp_path, "--fresh"), "t") is None
    with pytest.raises(tr.TrainingError, match="no such checkpoint"):
        tr.resume_checkpoint(_args(tmp_path, "--resume", str(tmp_path / "nope.ckpt")), "t")


def test_export_pose_model_installs_and_loads_back(tmp_path):
    from posefinder.models import nets
    from posefinder.models.weights import ModelStore, load_bundle

    torch.manual_seed(0)
    pose = nets.create_model("pose_matching", preset="tiny")
    path = tr.export_bundle(tmp_path / "m.safetensors", pose=pose, name="tiny-m", metrics={"oks50": 0.5},
                            training_data={"source": "synthetic"})  # fmt: skip
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["metrics"] == {"oks50": 0.5} and card["architecture"] == "feature-matching"
    bundle, _ = load_bundle(path)
    assert bundle.pose is not None
    for k, v in pose.state_dict().items():
        assert torch.equal(bundle.pose.state_dict()[k], v), k
    assert ModelStore(tmp_path / "store").install(path).name == "tiny-m"


def test_export_component_round_trip(tmp_path):
    from posefinder.models import nets
    from posefinder.models.weights import load_component

    tagger = nets.create_model("tagger", preset="tiny")
    path = tr.export_bundle(tmp_path / "tagger.safetensors", tagger=tagger, metrics={"f1": 0.25})
    module, card = load_component(path, "tagger")
    assert card.metrics == {"f1": 0.25} and list(card.components) == ["tagger"] and card.architecture == ""
    for k, v in tagger.state_dict().items():
        assert torch.equal(module.state_dict()[k], v), k
    with pytest.raises(ModelError, match="not a segmenter"):
        load_component(path, "segmenter")


def test_fit_writes_last_checkpoint_logs_and_progress_lines(tmp_path, capsys):
    import lightning as L

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_step(self, batch, idx):
            loss = self.lin(batch[0]).pow(2).mean()
            self.log("train/loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    data = torch.utils.data.TensorDataset(torch.randn(8, 2))
    args = _args(tmp_path, "--max-steps", "4", "--log-every", "2", "--progress", "lines", "--workers", "0")
    trainer = tr.make_trainer(args, "t")
    assert tr.fit(trainer, Tiny(), args, "t", train_dataloaders=torch.utils.data.DataLoader(data, batch_size=2)) is None
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "logs").rglob("metrics.csv"))
    err = capsys.readouterr().err
    assert "step 2/4" in err and "loss=" in err and "img/s" in err
    # a second run with the same --out resumes (from step 4: nothing left to do)
    trainer = tr.make_trainer(args, "t")
    resumed = tr.fit(trainer, Tiny(), args, "t", train_dataloaders=torch.utils.data.DataLoader(data, batch_size=2))
    assert resumed == run / "checkpoints" / "last.ckpt" and trainer.global_step == 4
