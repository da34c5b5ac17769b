"""Generated checkpoints laid out like the authors' released ones, and reference forwards of their networks
written from ../shared/paper-weights.md alone (sections 2.1, 2.3, 2.4): random weights, real key names.

    ref = FeatMatchRef(); write_checkpoint(path, ref.state_dict(), hparams=pose_hparams(), rcnn=True)
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from typing import cast

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def resize(x, size):  # torchvision 0.9's tensor TT.Resize: bilinear, align_corners=False, no antialiasing
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def conv3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate")


class RefResBlock(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.net = nn.Sequential()
        for i in range(3):
            self.net.add_module(f"conv{i}", conv3(cin if i == 0 else c, c))
            self.net.add_module(f"act{i}", nn.ReLU())
            self.net.add_module(f"norm{i}", nn.BatchNorm2d(c))
        self.net_tail = nn.Sequential()
        self.net_tail.add_module("act3", nn.ReLU())
        self.net_tail.add_module("norm3", nn.BatchNorm2d(c))

    def forward(self, x):
        h = self.net[0](x)  # conv0
        return self.net_tail(h + self.net[1:](h))


class FeatMatchRef(nn.Module):
    """fermat.Model at inference (section 2.1)."""

    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        del r.layer4, r.fc
        self.resnet = r
        conv = nn.ModuleDict({k: nn.Conv2d(c, 64, 1) for k, c in
                              (("conv1", 64), ("layer1", 256), ("layer2", 512), ("layer3", 1024))})  # fmt: skip
        self.keypoint_head = nn.ModuleDict({
            "converter_resnet": nn.ModuleDict({**conv, "batchnorm": nn.BatchNorm2d(256), "head": conv3(256, 128)}),
            "matcher_rcnn": nn.Sequential(nn.Identity(), conv3(128, 512), nn.ReLU(), nn.BatchNorm2d(512)),
            "converter_rcnn": nn.Sequential(nn.Conv2d(512, 32, 1)),
            "head": nn.Sequential(conv3(163, 128), nn.LeakyReLU(), nn.BatchNorm2d(128), RefResBlock(128, 64),
                                  RefResBlock(64, 32), conv3(32, 25)),
        })  # fmt: skip

    output_conv = "keypoint_head.head.5"

    def forward(self, x):
        r, k = self.resnet, self.keypoint_head
        h = r.relu(r.bn1(r.conv1((resize(x, 256) - MEAN) / STD)))
        feats = {"conv1": h}
        h = r.maxpool(h)
        for name in ("layer1", "layer2", "layer3"):
            h = feats[name] = getattr(r, name)(h)
        cr = cast(nn.ModuleDict, k["converter_resnet"])
        cat = torch.cat([resize(cr[n](feats[n]), 128) for n in ("conv1", "layer1", "layer2", "layer3")], 1)
        fr = resize(cr["head"](F.leaky_relu(cr["batchnorm"](cat))), 128)
        fm = cast(nn.Sequential, k["matcher_rcnn"])[1:](resize(fr, 14))
        return k["head"](torch.cat([resize(x, 128), fr, resize(k["converter_rcnn"](fm), 128)], 1))


class SegmenterRef(nn.Module):
    """alaska.Model (section 2.4): deeplabv3_resnet101 with their classifier and final_head, 2 classes."""

    def __init__(self):
        super().__init__()
        from torchvision.models.segmentation.deeplabv3 import ASPP

        d = torchvision.models.segmentation.deeplabv3_resnet101(weights=None, weights_backbone=None, aux_loss=False)
        d.aux_classifier = None
        d.classifier = nn.Sequential(ASPP(2048, [12, 24, 36]), nn.Conv2d(256, 64, 3, padding=1), nn.BatchNorm2d(64),
                                     nn.LeakyReLU(), nn.Conv2d(64, 16, 3, padding=1), nn.BatchNorm2d(16), nn.LeakyReLU())
        self.deeplab = d
        self.final_head = nn.Sequential(nn.Conv2d(19, 16, 3, padding=1), nn.BatchNorm2d(16), nn.LeakyReLU(),
                                        nn.Conv2d(16, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(),
                                        nn.Conv2d(8, 2, 1))  # fmt: skip

    def forward(self, x):  # foreground probability (N, H, W)
        normed = (x - MEAN) / STD
        out = self.deeplab(normed)["out"]
        return torch.softmax(self.final_head(torch.cat([out, normed], 1)), 1)[:, 1]


def randomise(module: nn.Module, seed: int, size: tuple[int, int] = (256, 256), batch=None) -> nn.Module:
    """Random weights of trained-network magnitudes, eval mode: random batch-norm affine parameters, and
    running statistics measured on a random batch, or on `batch` (N >= 2, e.g. real images) (so that
    activations stay near unit scale, as in a trained network, and 1e-5 comparisons mean something)."""
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative: the statistics of the calibration batch
        module.train()
        module(torch.rand(2, 3, *size, generator=gen) if batch is None else batch)
        for m in norms:
            m.momentum = 0.1
    return module.eval()


def scale_output(module: nn.Module, name: str, factor: float) -> nn.Module:
    """Scales the last layer so that random logits have a trained network's range (a few units)."""
    with torch.no_grad():
        module.get_parameter(f"{name}.weight").mul_(factor)
        module.get_parameter(f"{name}.bias").mul_(factor)
    return module


def keys_json(shared_data: Path, name: str) -> dict:
    return json.loads((shared_data / "paper-checkpoints" / f"{name}.keys.json").read_text())["state_dict"]


# -- Lightning's layout -----------------------------------------------------------------------------


def _fake_module(name: str, **attrs) -> None:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    for key, value in attrs.items():
        value.__module__ = name
        setattr(sys.modules[name], key, value)


class ModelCheckpoint:  # pickled as pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint
    def __init__(self):
        self.monitor, self.best_model_path, self.save_top_k = "val_loss", "/runs/x/epoch=1.ckpt", 1


class EasyDict(dict):  # pickled as easydict.EasyDict: a dict subclass with attribute access
    def __init__(self, d=None):
        super().__init__(d or {})
        for k, v in (d or {}).items():
            setattr(self, k, v)

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        self[name] = value


_fake_module("pytorch_lightning.callbacks.model_checkpoint", ModelCheckpoint=ModelCheckpoint)
_fake_module("easydict", EasyDict=EasyDict)


def pose_hparams(style: str = "namespace", size: int = 256, heatmap: int = 128, padding: float = 0.1) -> dict:
    make = argparse.Namespace if style == "namespace" else (lambda **kw: EasyDict(kw))
    return {
        "bargs": make(name="feat_match"),
        "pargs": make(lr=1e-3),
        "largs": make(danbooru_coco=make(size=size, padding=padding), bg_seg=make(size=256)),
        "margs": make(size=heatmap, resnet_inferserve_query="kate"),
    }


def segmenter_hparams(style: str = "easydict") -> dict:
    make = argparse.Namespace if style == "namespace" else (lambda **kw: EasyDict(kw))
    return {"bargs": make(), "pargs": make(), "largs": make(bg_seg=make(size=256)), "margs": make()}


def tagger_hparams(subset="sfw", rules="x") -> dict:
    ns = argparse.Namespace
    return {"largs": ns(danbooru_sfw=ns(size=256, filter_subset=subset, filter_rules=rules))}


def rcnn_entries(gen: torch.Generator) -> dict:
    """A few of the detectron2 R-CNN tensors the pose files also hold (dropped by the importer)."""
    return {
        "rcnn.model.backbone.bottom_up.stem.conv1.weight": torch.randn(64, 3, 7, 7, generator=gen),
        "rcnn.model.backbone.bottom_up.stem.conv1.norm.running_var": torch.rand(64, generator=gen),
        "rcnn.model.roi_heads.keypoint_head.score_lowres.weight": torch.randn(512, 17, 4, 4, generator=gen),
    }


def write_checkpoint(path: Path, state: dict, hparams: dict, *, rcnn: bool = False, seed: int = 0) -> Path:
    """A PyTorch Lightning 1.3-style .ckpt: state_dict (+ rcnn.model.*), hyper_parameters, class-keyed
    callbacks (holding a callback object), optimizer states."""
    from collections import OrderedDict

    gen = torch.Generator().manual_seed(seed)
    sd = OrderedDict((k, v.detach().clone()) for k, v in state.items())
    if rcnn:
        sd.update(rcnn_entries(gen))
    setattr(sd, "_metadata", {"": {"version": 1}})  # as torch's state dicts carry it
    first = next(iter(sd.values()))
    ckpt = {
        "epoch": 96, "global_step": 12345, "pytorch-lightning_version": "1.3.8",
        "state_dict": sd,
        "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.0483), "object": ModelCheckpoint()}},
        "optimizer_states": [{"state": {0: {"step": 10, "exp_avg": torch.randn_like(first)}},
                              "param_groups": [{"lr": 1e-3, "params": [0]}]}],
        "lr_schedulers": [],
        "hyper_parameters": hparams,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def rulebook(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"name": f"tag_{i}", "tags": [f"tag_{i}"]} for i in range(n)]))
    return path
