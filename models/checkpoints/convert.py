"""The authors' state dicts -> PoseFinder's (numpy): key maps, the exact folds, and shape checks.

From ../shared/paper-weights.md sections 3.1-3.5:
- feature matching / concatenation head: a renaming; the image skip's ImageNet normalisation (PoseFinder
  normalises the image that skips to the head, theirs is raw [0, 1]) folded into head.net.0:
  W'[:, :3] = W[:, :3] * std_c, b' = b + sum_{c,kh,kw} W[:, c, kh, kw] * mean_c (exact: replicate padding);
- segmenter: deeplab.* as is (head="chen2022" at depth 101), final_head.* -> refine.*, and the 2-class
  softmax turned into one logit: w = w1 - w0, b = b1 - b0 (softmax_1 = sigmoid(z1 - z0));
- tagger: resnet.* as is.
Every key of the target network must come from the file with the target's shape; every key of the file
must map somewhere or be known to be dropped (rcnn.*: detectron2's R-CNN, used by training only).
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from posefinder.models.checkpoints.reader import CheckpointError, LazyArray

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])

_RESBLOCK = {"net.conv0": "entry", "net.norm0": "body.1", "net.conv1": "body.2", "net.norm1": "body.4",
             "net.conv2": "body.5", "net.norm2": "body.7", "net_tail.norm3": "tail.1"}  # fmt: skip

_POSE_RULES: list[tuple[str, str]] = [
    (r"resnet\.((?:conv1|bn1|layer[123])\..*)", r"tagger.resnet.\1"),
    (r"keypoint_head\.converter_resnet\.((?:conv1|layer[123])\..*)", r"domain_converter.reduce.\1"),
    (r"keypoint_head\.converter_resnet\.batchnorm\.(.*)", r"domain_converter.norm.\1"),
    (r"keypoint_head\.converter_resnet\.head\.(.*)", r"domain_converter.mix.\1"),
    (r"keypoint_head\.matcher_rcnn\.1\.(.*)", r"matcher.conv.\1"),
    (r"keypoint_head\.matcher_rcnn\.3\.(.*)", r"matcher.norm.\1"),
    (r"keypoint_head\.converter_rcnn\.0\.(.*)", r"task_converter.reduce.\1"),  # feature matching
    (r"keypoint_head\.converter_rcnn\.(weight|bias)", r"task_converter.reduce.\1"),  # feature concatenation
    (r"keypoint_head\.head\.([025])\.(.*)", r"head.net.\1.\2"),
] + [
    (rf"keypoint_head\.head\.([34])\.{re.escape(theirs)}\.(.*)", rf"head.net.\1.{ours}.\2")
    for theirs, ours in _RESBLOCK.items()
]

_SEGMENTER_RULES = [(r"(deeplab\..*)", r"\1"), (r"final_head\.(.*)", r"refine.\1")]
_TAGGER_RULES = [(r"(resnet\..*)", r"\1")]

#: Keys of the files that are not part of the inference networks
_DROPPED = re.compile(r"rcnn\..*")


def _renamer(rules: list[tuple[str, str]]) -> Callable[[str], str | None]:
    compiled = [(re.compile(a), b) for a, b in rules]

    def rename(key: str) -> str | None:
        for pattern, target in compiled:
            if pattern.fullmatch(key):
                return pattern.sub(target, key)
        return None

    return rename


RENAME = {
    "pose": _renamer(_POSE_RULES),
    "segmenter": _renamer(_SEGMENTER_RULES),
    "tagger": _renamer(_TAGGER_RULES),
}


def fold_image_normalisation(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """head.net.0 of theirs (raw RGB in its first 3 input channels) -> ours (ImageNet-normalised RGB)."""
    w = weight.astype(np.float64)
    b = bias.astype(np.float64) + np.einsum("ochw,c->o", w[:, :3], IMAGENET_MEAN)
    w[:, :3] *= IMAGENET_STD[None, :, None, None]
    return w.astype(weight.dtype), b.astype(bias.dtype)


def two_class_to_logit(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 2-class softmax layer -> the one logit z1 - z0 whose sigmoid is its class-1 probability."""
    return (weight[1:2].astype(np.float64) - weight[0:1]).astype(weight.dtype), np.asarray(
        [np.float64(bias[1]) - np.float64(bias[0])], bias.dtype
    )


def map_keys(
    component: str, theirs: dict[str, LazyArray], target: dict[str, tuple[tuple[int, ...], str]], source: str
) -> dict[str, str]:
    """our key -> their key for one component; CheckpointError naming the file and the key when a key is
    missing, unknown or of the wrong shape. target: our key -> (shape, numpy dtype str)."""
    rename = RENAME[component]
    ours_to_theirs: dict[str, str] = {}
    for key in theirs:
        ours = rename(key)
        if ours is None:
            if _DROPPED.fullmatch(key):
                continue
            raise CheckpointError(f"{source}: unexpected key {key} (not part of the {component} network)")
        if ours not in target:
            raise CheckpointError(f"{source}: key {key} maps to {ours}, which the {component} network lacks")
        ours_to_theirs[ours] = key
    for ours, (shape, _dtype) in target.items():
        key = ours_to_theirs.get(ours)
        if key is None:
            raise CheckpointError(f"{source}: key missing: the {component} network's {ours} has no tensor in the file")
        expected = _expected_shape(component, ours, shape)
        if tuple(theirs[key].shape) != expected:
            raise CheckpointError(
                f"{source}: key {key} has shape {list(theirs[key].shape)}, expected {list(expected)}"
            )
    return ours_to_theirs


def _expected_shape(component: str, ours: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if component == "segmenter" and ours in ("refine.6.weight", "refine.6.bias"):
        return (2,) + tuple(shape[1:])  # 2 classes in theirs, 1 logit in ours
    return tuple(shape)


def convert(
    component: str, theirs: dict[str, LazyArray], target: dict[str, tuple[tuple[int, ...], str]], source: str
) -> dict[str, np.ndarray]:
    """Our state dict of one component (unprefixed keys, numpy arrays) from theirs."""
    mapping = map_keys(component, theirs, target, source)
    out: dict[str, np.ndarray] = {}
    for ours, key in mapping.items():
        array = theirs[key].numpy()
        want = np.dtype(target[ours][1])
        if array.dtype != want:
            if array.dtype.kind != want.kind:
                raise CheckpointError(f"{source}: key {key} holds {array.dtype}, expected {want}")
            array = array.astype(want)
        out[ours] = array
    if component == "pose":
        out["head.net.0.weight"], out["head.net.0.bias"] = fold_image_normalisation(
            out["head.net.0.weight"], out["head.net.0.bias"]
        )
    if component == "segmenter":
        out["refine.6.weight"], out["refine.6.bias"] = two_class_to_logit(out["refine.6.weight"], out["refine.6.bias"])
    return out
