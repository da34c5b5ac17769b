"""PoseFinder's networks, one module per family, and a tiny registry that builds them by name.

    tagger, tagger_trunk          nets/tagger.py        ResNet50 illustration tagger (paper 3.2)
    segmenter                     nets/segmenter.py     DeepLabv3-ResNet50 + 3 layers (paper 3.3)
    keypoint_rcnn, task_source    nets/keypoint_rcnn.py torchvision COCO Keypoint R-CNN (paper 3.1, task source)
    pose_concat, pose_matching    nets/pose.py          the two pose networks (paper 3.1)

Every builder takes keyword-only arguments; weights=None means random init and nothing is downloaded;
widths and depths are arguments so tests build tiny versions (see PRESETS). Importing this package does
not import torch; create_model() imports the family's module.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable

#: builder name -> "module:function" under posefinder.models.nets
BUILDERS: dict[str, str] = {
    "tagger": "tagger:tagger",
    "tagger_trunk": "tagger:tagger_trunk",
    "segmenter": "segmenter:segmenter",
    "keypoint_rcnn": "keypoint_rcnn:keypoint_rcnn",
    "task_source": "keypoint_rcnn:task_source",
    "pose_concat": "pose:pose_concat",
    "pose_matching": "pose:pose_matching",
}

#: torchvision's COCO Keypoint R-CNN weights (KeypointRCNN_ResNet50_FPN_Weights.COCO_V1): the task source's
#: pretrained weights and the chain's "keypoint-rcnn" estimator. torchvision keeps them in torch hub's cache
#: under this file name; the 8 hex digits before ".pth" start the file's sha256.
KEYPOINT_RCNN_COCO_URL = "https://download.pytorch.org/models/keypointrcnn_resnet50_fpn_coco-fc266e95.pth"
KEYPOINT_RCNN_COCO_FILE = KEYPOINT_RCNN_COCO_URL.rsplit("/", 1)[-1]

#: pose architecture (the chain's estimator name) -> its builder
ARCHITECTURES: dict[str, str] = {
    "feature-matching": "pose_matching",
    "feature-concatenation": "pose_concat",
}

_TINY_TRUNK = {"depth": 18, "width": 8, "blocks": (1, 1, 1, 1)}

#: Named keyword sets per builder: "paper" is the default sizes; "tiny" builds in milliseconds (tests);
#: "small" is a reduced-width model that trains from random init on a CPU (ResNet18-style trunk at half
#: width, 128 px crops, 64 px heatmaps, the real R-CNN's 512 x 14 x 14 features as matching target).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tagger": {"paper": {}, "tiny": {**_TINY_TRUNK, "num_classes": 10}, "small": {"depth": 18, "width": 32}},
    "tagger_trunk": {"paper": {}, "tiny": {**_TINY_TRUNK, "input_size": 64}, "small": {"depth": 18, "width": 32}},
    "segmenter": {
        "paper": {},
        "tiny": {"depth": 50, "width": 4, "blocks": (1, 1, 1, 1), "aspp_channels": 8, "mid_channels": 4,
                 "refine_channels": (4, 4)},
        "small": {"depth": 50, "width": 16, "blocks": (1, 1, 1, 1), "aspp_channels": 32},
    },
    "keypoint_rcnn": {
        "paper": {},
        "tiny": {**_TINY_TRUNK, "fpn_channels": 16, "head_channels": 16, "head_layers": 2, "min_size": 64,
                 "max_size": 96},
    },
    "task_source": {
        "paper": {},
        "tiny": {**_TINY_TRUNK, "fpn_channels": 16, "head_channels": 16, "head_layers": 2, "input_size": 96},
        "small": {"input_size": 400},
    },
    "pose_matching": {
        "paper": {},
        "tiny": {"input_size": 64, "heatmap_size": 32, "tagger_depth": 18, "tagger_width": 8,
                 "tagger_blocks": (1, 1, 1, 1), "tagger_input_size": 64, "task_feature_channels": 16,
                 "task_feature_size": 7, "converter_channels": 8, "domain_channels": 16, "task_channels": 8,
                 "head_channels": (16, 16, 8)},
        "small": {"input_size": 128, "heatmap_size": 64, "tagger_depth": 18, "tagger_width": 32,
                  "tagger_input_size": 128, "converter_channels": 32, "domain_channels": 64,
                  "task_channels": 16, "head_channels": (64, 32, 32)},
    },
    "pose_concat": {
        "paper": {},
        "tiny": {"input_size": 64, "heatmap_size": 32, "tagger_depth": 18, "tagger_width": 8,
                 "tagger_blocks": (1, 1, 1, 1), "tagger_input_size": 64, "task_input_size": 96,
                 "task_depth": 18, "task_width": 8, "task_blocks": (1, 1, 1, 1), "task_fpn_channels": 16,
                 "task_head_channels": 16, "task_head_layers": 2, "converter_channels": 8,
                 "domain_channels": 16, "task_channels": 8, "head_channels": (16, 16, 8)},
    },
}  # fmt: skip


def list_models() -> list[str]:
    return list(BUILDERS)


def get_builder(name: str) -> Callable[..., Any]:
    """The builder function registered under `name` (imports its module, and so torch)."""
    if name not in BUILDERS:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(BUILDERS)}")
    module_name, func = BUILDERS[name].split(":")
    module = importlib.import_module(f"posefinder.models.nets.{module_name}")
    return getattr(module, func)


def create_model(name: str, *, preset: str | None = None, **kwargs: Any):
    """Build network `name` with the keywords of `preset` (if given), overridden by kwargs."""
    merged = dict(PRESETS.get(name, {}).get(preset, {})) if preset else {}
    if preset and preset not in PRESETS.get(name, {}):
        raise KeyError(f"network {name!r} has no preset {preset!r}; known: {', '.join(PRESETS.get(name, {}))}")
    merged.update(kwargs)
    return get_builder(name)(**merged)


def register_model(name: str, target: str) -> None:
    """Register a builder ("module:function" under posefinder.models.nets) under a new name."""
    if name in BUILDERS:
        raise ValueError(f"network {name!r} is registered already")
    BUILDERS[name] = target


#: Builder arguments that say where initial weights come from, not what the network is; never recorded.
NOT_ARCHITECTURE = ("weights", "progress")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def records_spec(name: str) -> Callable:
    """Decorator for builders: the built module gets `build_spec` = {"builder": name, "kwargs": every
    architecture argument, defaults included}, which model cards store so the exact network is rebuilt
    before its weights are loaded."""

    def decorate(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def build(**kwargs: Any):
            bound = signature.bind(**kwargs)
            bound.apply_defaults()
            call: dict[str, Any] = {}
            for key, value in bound.arguments.items():
                if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                    call.update(value)
                else:
                    call[key] = value
            model = fn(**call)
            spec = {k: _jsonable(v) for k, v in call.items() if k not in NOT_ARCHITECTURE}
            model.build_spec = {"builder": name, "kwargs": spec}
            return model

        return build

    return decorate
