"""Which of the authors' released models a checkpoint holds, from its state dict's keys."""

from __future__ import annotations

FEATURE_MATCHING = "feature-matching"
FEATURE_CONCATENATION = "feature-concatenation"
SEGMENTER = "segmenter"
TAGGER = "tagger"


def recognise(keys) -> str | None:
    """The kind of released model whose state dict has these keys, or None."""
    keys = set(keys)
    if "keypoint_head.matcher_rcnn.1.weight" in keys:
        return FEATURE_MATCHING
    if "keypoint_head.converter_rcnn.weight" in keys:
        return FEATURE_CONCATENATION
    if "deeplab.backbone.conv1.weight" in keys and "final_head.6.weight" in keys:
        return SEGMENTER
    if "resnet.fc.weight" in keys and not any(k.startswith("keypoint_head.") for k in keys):
        return TAGGER
    return None


def model_tag(file_stem: str) -> str:
    """The tag of an imported pose model's name: chen2022, or chen2022-data for the +new-data models."""
    return "chen2022-data" if "+data" in file_stem else "chen2022"
