"""The restricted checkpoint reader: tensors as numpy without torch's unpickler, inert stand-ins for every
other global, and refusal of pickles that would call anything."""

from __future__ import annotations

import argparse
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the test writes its checkpoints with torch.save (the reader needs none)

import paper_checkpoints as pc  # noqa: E402
from posefinder.models.checkpoints.importer import import_release  # noqa: E402
from posefinder.models.checkpoints.reader import CheckpointError, LazyArray, lookup, read_checkpoint  # noqa: E402
from posefinder.models.weights import ModelStore  # noqa: E402


def _read(path: Path):
    return read_checkpoint(io.BytesIO(path.read_bytes()), str(path))


def test_tensors_and_lightning_objects_come_back_as_plain_data(tmp_path):
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 5, generator=gen)
    state = {"a.weight": base.t(), "a.bias": base[2, 1:4], "bn.num_batches_tracked": torch.tensor(7),
             "half": torch.randn(3, generator=gen).half(), "p": torch.nn.Parameter(torch.randn(2, 2, generator=gen))}  # fmt: skip
    for style in ("namespace", "easydict"):
        path = pc.write_checkpoint(tmp_path / f"{style}.ckpt", state, pc.pose_hparams(style, size=192))
        reader, obj = _read(path)
        sd = obj["state_dict"]
        assert set(sd) == set(state)
        for key, tensor in state.items():
            assert isinstance(sd[key], LazyArray)
            array = sd[key].numpy()
            assert array.shape == tuple(tensor.shape) and array.dtype == tensor.detach().numpy().dtype
            np.testing.assert_array_equal(array, tensor.detach().numpy())
        hp = obj["hyper_parameters"]
        assert lookup(lookup(lookup(hp, "largs"), "danbooru_coco"), "size") == 192
        assert lookup(lookup(hp, "margs"), "resnet_inferserve_query") == "kate"
        (callback_class, callback), = obj["callbacks"].items()
        assert callback_class.qualname == "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
        assert callback["object"].monitor == "val_loss"
        assert float(callback["best_model_score"].numpy()) == pytest.approx(0.0483)
        assert obj["optimizer_states"][0]["param_groups"][0]["lr"] == 1e-3


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _evil_checkpoint(path: Path, module: str, name: str, arg: str) -> Path:
    """A zip checkpoint whose data.pkl calls module.name(arg) while loading (written opcode by opcode)."""
    payload = (b"\x80\x02}" + _text("state_dict") + b"}s" + _text("hyper_parameters")
               + b"c" + f"{module}\n{name}\n".encode() + _text(arg) + b"\x85Rs.")  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    return path


@pytest.mark.parametrize(
    "module,name,arg",
    [("os", "system", "touch {marker}"), ("posix", "system", "touch {marker}"),
     ("builtins", "eval", "open({marker!r}, 'w')"), ("subprocess", "getoutput", "touch {marker}"),
     ("collections", "Counter", "{marker}"), ("mypackage.tools", "Runner", "{marker}")],
)  # fmt: skip
def test_pickles_that_call_anything_are_refused_and_nothing_runs(tmp_path, module, name, arg):
    marker = tmp_path / "ran"
    path = _evil_checkpoint(tmp_path / f"{module}.{name}.ckpt", module, name, arg.format(marker=str(marker)))
    # the same pickle run by the standard unpickler would call it (the test's premise)
    assert pickle.loads(zipfile.ZipFile(path).read("archive/data.pkl")) if module == "collections" else True
    with pytest.raises(CheckpointError) as err:
        _read(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and name in message
    assert not marker.exists()
    store = ModelStore()
    with pytest.raises(CheckpointError):
        import_release([path], store)
    assert not marker.exists() and store.list() == []


def test_truncated_and_non_zip_files_get_one_line_errors(tmp_path):
    good = pc.write_checkpoint(tmp_path / "full.ckpt", {"w": torch.zeros(1000)}, pc.pose_hparams())
    data = good.read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    not_zip = tmp_path / "old.ckpt"
    not_zip.write_bytes(b"\x80\x02legacy torch pickle")
    for path in (cut, not_zip):
        with pytest.raises(CheckpointError) as err:
            _read(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_storage_member_cut_short_names_it(tmp_path):
    good = pc.write_checkpoint(tmp_path / "full.ckpt", {"w": torch.zeros(1000)}, pc.pose_hparams())
    bad = tmp_path / "short.ckpt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info.filename, body[:8] if "/data/" in info.filename and len(body) == 4000 else body)
    _, obj = _read(bad)
    with pytest.raises(CheckpointError, match=r"short\.ckpt: storage .*/data/\d+ is shorter"):
        obj["state_dict"]["w"].numpy()


def test_namespace_stand_in_is_inert_data():
    ns = argparse.Namespace(size=3)
    buf = io.BytesIO()
    torch.save({"h": ns}, buf)
    buf.seek(0)
    _, obj = read_checkpoint(buf, "mem")
    assert obj["h"].size == 3 and type(obj["h"]).__module__ == "argparse"
