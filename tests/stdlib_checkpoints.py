"""The authors' release laid out as theirs, written with the standard library and numpy alone (no torch): for
the torch-free environment's tests of `posefinder models import` (tests/paper_checkpoints.py writes such
files with torch.save, and holds the reference forwards of their networks).

A Lightning checkpoint is a zip: `archive/data.pkl` (a protocol-2 pickle) and `archive/data/<key>` (each
tensor's storage, raw little-endian). The pickle is written opcode by opcode: tensors as torch's
`_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` with the storage a persistent
id ("storage", torch.FloatStorage, key, "cpu", numel), hyper_parameters as argparse.Namespace objects,
callbacks keyed by a class reference, as PyTorch Lightning 1.3 saves them (../shared/paper-weights.md 1, 6).

Their key names come from ours (the weights a committed template names) through the key map of
paper-weights.md 3.1 and 3.5, written out again here from that table; tests/models/test_checkpoint_onnx.py
checks the names and shapes against the real key lists in ../shared/data/paper-checkpoints/.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from onnx_helpers import random_weights, template_for

POSE_FILE = "_train/character_pose_estim/runs/feat_match+data.ckpt"
SEG_FILE = "_train/character_bg_seg/runs/eyeless_alaska_vulcan0000/checkpoints/epoch=0096-val_f1=0.9508-val_loss=0.0483.ckpt"

#: ours -> theirs, the table of paper-weights.md 3.1 (pose) read right to left
_RESBLOCK = {"entry": "net.conv0", "body.1": "net.norm0", "body.2": "net.conv1", "body.4": "net.norm1",
             "body.5": "net.conv2", "body.7": "net.norm2", "tail.1": "net_tail.norm3"}  # fmt: skip
_POSE = [
    (r"tagger\.resnet\.(.*)", r"resnet.\1"),
    (r"domain_converter\.reduce\.(.*)", r"keypoint_head.converter_resnet.\1"),
    (r"domain_converter\.norm\.(.*)", r"keypoint_head.converter_resnet.batchnorm.\1"),
    (r"domain_converter\.mix\.(.*)", r"keypoint_head.converter_resnet.head.\1"),
    (r"matcher\.conv\.(.*)", r"keypoint_head.matcher_rcnn.1.\1"),
    (r"matcher\.norm\.(.*)", r"keypoint_head.matcher_rcnn.3.\1"),
    (r"task_converter\.reduce\.(.*)", r"keypoint_head.converter_rcnn.0.\1"),
    (r"head\.net\.([025])\.(.*)", r"keypoint_head.head.\1.\2"),
] + [(rf"head\.net\.([34])\.{re.escape(ours)}\.(.*)", rf"keypoint_head.head.\1.{theirs}.\2")
     for ours, theirs in _RESBLOCK.items()]  # fmt: skip
_SEGMENTER = [(r"(deeplab\..*)", r"\1"), (r"refine\.(.*)", r"final_head.\1")]


def theirs(key: str, rules) -> str:
    for pattern, target in rules:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key)
    raise KeyError(f"no key of theirs for {key}")


def pose_state(seed: int = 0) -> dict[str, np.ndarray]:
    """feat_match(+data).ckpt's state_dict (without rcnn.*), random weights of their names and shapes."""
    found = template_for("pose_matching", 256, kwargs={"antialias": False})
    assert found is not None, "resources/onnx lacks the template of the authors' feature-matching network"
    ours = random_weights(found[0], seed)  # with the batch norms' step counters, as theirs
    return {theirs(k, _POSE): v for k, v in ours.items()}


def segmenter_state(seed: int = 1, foreground: float | None = 10.0) -> dict[str, np.ndarray]:
    """The segmenter checkpoint's state_dict: their names, their 2-class output layer. foreground: the
    output layer answers class 1 by this margin everywhere (one character covering the image), whatever
    the rest computes; None keeps it random."""
    found = template_for("segmenter", 256, "os8", kwargs={"depth": 101, "head": "chen2022"})
    assert found is not None, "resources/onnx lacks the template of the authors' depth-101 segmenter"
    ours = random_weights(found[0], seed, gain=0.5)
    rng = np.random.default_rng(seed)
    w, b = ours.pop("refine.6.weight"), ours.pop("refine.6.bias")
    ours["refine.6.weight"] = np.concatenate([w, rng.normal(0, 0.1, w.shape).astype(w.dtype)])
    ours["refine.6.bias"] = np.concatenate([b, rng.normal(0, 0.1, b.shape).astype(b.dtype)])
    if foreground is not None:
        ours["refine.6.weight"][:] = 0
        ours["refine.6.bias"][:] = (0.0, foreground)
    return {theirs(k, _SEGMENTER): v for k, v in ours.items()}


def rcnn_entries(seed: int = 2) -> dict[str, np.ndarray]:
    """A few of the detectron2 R-CNN tensors the pose files also hold (the importer drops them)."""
    rng = np.random.default_rng(seed)
    return {"rcnn.model.backbone.bottom_up.stem.conv1.weight": rng.normal(size=(64, 3, 7, 7)).astype(np.float32),
            "rcnn.model.roi_heads.keypoint_head.score_lowres.bias": rng.normal(size=(17,)).astype(np.float32)}


# -- the pickle ---------------------------------------------------------------------------------------


class Global:
    """A reference to module.name in the pickle (a class or function of the saving program)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class Obj:
    """An object pickled as protocol 2 pickles plain classes: cls.__new__ (NEWOBJ), then its __dict__ (BUILD)."""

    def __init__(self, cls: Global, state: dict) -> None:
        self.cls, self.state = cls, state


class Namespace(Obj):
    def __init__(self, **fields) -> None:
        super().__init__(Global("argparse", "Namespace"), fields)


_STORAGES = {np.dtype("<f4"): "FloatStorage", np.dtype("<i8"): "LongStorage", np.dtype("<f8"): "DoubleStorage"}
MODEL_CHECKPOINT = Global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.storages: list[tuple[str, bytes]] = []

    def global_(self, g: Global) -> None:
        self.out += b"c" + f"{g.module}\n{g.name}\n".encode()

    def save(self, obj) -> None:
        out = self.out
        if obj is None:
            out += b"N"
        elif obj is True or obj is False:
            out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, int):
            if -(2**31) <= obj < 2**31:
                out += b"J" + struct.pack("<i", obj)
            else:
                raw = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
                out += b"\x8a" + bytes([len(raw)]) + raw
        elif isinstance(obj, float):
            out += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):
            raw = obj.encode("utf-8")
            out += b"X" + struct.pack("<I", len(raw)) + raw
        elif isinstance(obj, tuple):
            out += b"("
            for item in obj:
                self.save(item)
            out += b"t"
        elif isinstance(obj, list):
            out += b"]("
            for item in obj:
                self.save(item)
            out += b"e"
        elif isinstance(obj, dict):
            out += b"}("
            for key, value in obj.items():
                self.save(key)
                self.save(value)
            out += b"u"
        elif isinstance(obj, Global):
            self.global_(obj)
        elif isinstance(obj, Obj):
            self.global_(obj.cls)
            out += b")\x81"  # EMPTY_TUPLE, NEWOBJ
            self.save(obj.state)
            out += b"b"  # BUILD
        elif isinstance(obj, np.ndarray):
            self.tensor(obj)
        else:
            raise TypeError(f"cannot pickle {type(obj).__name__}")

    def ordered_dict(self, items: dict) -> None:
        self.global_(Global("collections", "OrderedDict"))
        self.out += b")R("  # OrderedDict() (EMPTY_TUPLE, REDUCE), then MARK, the items, SETITEMS
        for key, value in items.items():
            self.save(key)
            self.save(value)
        self.out += b"u"

    def tensor(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<")
        key = str(len(self.storages))
        self.storages.append((key, array.astype(dtype).tobytes()))
        self.global_(Global("torch._utils", "_rebuild_tensor_v2"))
        self.out += b"("
        self.out += b"("  # the persistent id: ("storage", torch.FloatStorage, key, "cpu", numel)
        self.save("storage")
        self.global_(Global("torch", _STORAGES[dtype]))
        self.save(key)
        self.save("cpu")
        self.save(int(array.size))
        self.out += b"tQ"  # TUPLE, BINPERSID
        strides = tuple(int(s // array.itemsize) for s in array.strides) if array.ndim else ()
        self.save(0)
        self.save(tuple(int(n) for n in array.shape))
        self.save(strides)
        self.save(False)
        self.global_(Global("collections", "OrderedDict"))
        self.out += b")R"  # backward hooks: OrderedDict()
        self.out += b"tR"  # TUPLE, REDUCE


def checkpoint_bytes(state: dict[str, np.ndarray], hparams: dict) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(data.pkl, [(storage key, bytes)]) of a Lightning 1.3 checkpoint holding state as its state_dict."""
    w = _Writer()
    w.out += b"}("  # the checkpoint dict
    for key, value in (("epoch", 96), ("global_step", 12345), ("pytorch-lightning_version", "1.3.8")):
        w.save(key)
        w.save(value)
    w.save("state_dict")
    w.ordered_dict(state)
    w.save("callbacks")
    w.save({MODEL_CHECKPOINT: {"monitor": "val_loss", "best_model_score": np.array(0.0483, np.float32)}})
    w.save("optimizer_states")
    first = next(iter(state.values()))
    w.save([{"state": {0: {"step": 10, "exp_avg": np.zeros_like(first)}}, "param_groups": [{"lr": 1e-3}]}])
    w.save("lr_schedulers")
    w.save([])
    w.save("hyper_parameters")
    w.save(hparams)
    w.out += b"u."  # SETITEMS, STOP
    return bytes(w.out), w.storages


def write_checkpoint(path: Path, state: dict[str, np.ndarray], hparams: dict) -> Path:
    """A .ckpt as torch.save writes it (a stored zip: archive/data.pkl, archive/data/<key>, archive/version)."""
    pkl, storages = checkpoint_bytes(state, hparams)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for key, raw in storages:
            z.writestr(f"archive/data/{key}", raw)
        z.writestr("archive/version", "3\n")
    return path


def pose_hparams(size: int = 256, heatmap: int = 128, padding: float = 0.1) -> dict:
    return {"bargs": Namespace(name="feat_match"), "pargs": Namespace(lr=1e-3),
            "largs": Namespace(danbooru_coco=Namespace(size=size, padding=padding), bg_seg=Namespace(size=256)),
            "margs": Namespace(size=heatmap, resnet_inferserve_query="kate")}  # fmt: skip


def segmenter_hparams() -> dict:
    return {"bargs": Namespace(), "largs": Namespace(bg_seg=Namespace(size=256)), "margs": Namespace()}


def release_zip(path: Path, *, segmenter: bool = True) -> Path:
    """bizarre_pose_models.zip with feat_match+data.ckpt (and the segmenter), members stored (streamed)."""
    folder = path.parent / (path.stem + "-files")
    files = [(POSE_FILE, write_checkpoint(folder / "pose.ckpt", {**pose_state(), **rcnn_entries()}, pose_hparams()))]
    if segmenter:
        files.append((SEG_FILE, write_checkpoint(folder / "seg.ckpt", segmenter_state(), segmenter_hparams())))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, file in files:
            z.write(file, name)
        z.writestr("README.txt", "not a model")
    for _, file in files:
        file.unlink()
    folder.rmdir()
    return path
