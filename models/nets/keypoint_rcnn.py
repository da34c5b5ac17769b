"""The task source (paper section 3.1): torchvision's COCO Keypoint R-CNN (R50-FPN) and its keypoint features.

`keypoint_rcnn()` builds the whole detector (the chain's "keypoint-rcnn" estimator, the paper's
"Task-Pretrained (R-CNN)" baseline). `task_source()` builds the part the pose models use: the R50-FPN
backbone and the keypoint branch, run on a pose crop with one region covering the whole crop, as the
authors do with detectron2 ("forces them to use my bboxes"). It exposes
    fpn:               the FPN maps the keypoint RoIAlign reads ("0".."3", "pool"),
    keypoint_features: (N, 512, 14, 14), the keypoint head's last features (what the matcher predicts),
    keypoint_logits:   (N, 17, 56, 56), the keypoint predictor's heatmap logits.
The paper uses detectron2's R101-FPN; detectron2 is not installable here, so torchvision's R50-FPN stands
in (DESIGN.md). Widths and depth are configurable so tests and CPU training can use tiny versions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial
from typing import Any, cast

import torch
from torch import nn
from torchvision.models.detection import KeypointRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign, roi_align

from posefinder.models.nets import KEYPOINT_RCNN_COCO_URL, records_spec
from posefinder.models.nets.resnet import Normalize, ResNet


#: The R-CNN input size the authors feed pose crops at (detectron2's INPUT.MIN_SIZE_TEST).
PAPER_INPUT_SIZE = 800


def _backbone(depth: int, width: int, blocks, fpn_channels: int) -> BackboneWithFPN:
    # Frozen batch norm with eps 0, as torchvision's COCO_V1 weights were trained (overwrite_eps(model, 0)).
    trunk = ResNet(depth=depth, width=width, blocks=blocks, norm_layer=partial(FrozenBatchNorm2d, eps=0.0))
    levels = ("layer1", "layer2", "layer3", "layer4")
    return BackboneWithFPN(
        trunk,
        return_layers={name: str(i) for i, name in enumerate(levels)},
        in_channels_list=[trunk.channels[name] for name in levels],
        out_channels=fpn_channels,
    )


@records_spec("keypoint_rcnn")
def keypoint_rcnn(
    *,
    weights: str | None = None,
    depth: int = 50,
    width: int = 64,
    blocks=None,
    fpn_channels: int = 256,
    head_channels: int = 512,
    head_layers: int = 8,
    num_keypoints: int = 17,
    min_size: int = 800,
    max_size: int = 1333,
    progress: bool = True,
    **kwargs,
) -> KeypointRCNN:
    """torchvision's Keypoint R-CNN with our configurable trunk (same parameter names as torchvision's).

    weights=None: random init (nothing downloads); "coco": torchvision's COCO keypoint weights, read from
    the torch hub cache or downloaded there on first use (`posefinder models fetch keypoint-rcnn`).
    """
    model = KeypointRCNN(
        _backbone(depth, width, blocks, fpn_channels),
        num_classes=2,
        min_size=min_size,
        max_size=max_size,
        keypoint_head=KeypointRCNNHeads(fpn_channels, tuple(head_channels for _ in range(head_layers))),
        keypoint_predictor=KeypointRCNNPredictor(head_channels, num_keypoints),
        **kwargs,
    )
    if weights is None:
        return model
    if weights != "coco":
        raise ValueError(f"unknown weights {weights!r} for Keypoint R-CNN; use None or 'coco'")
    if (depth, width, blocks, fpn_channels, head_channels, head_layers, num_keypoints) != (50, 64, None, 256, 512, 8, 17):
        raise ValueError("COCO weights exist only for the standard Keypoint R-CNN R50-FPN sizes")
    model.load_state_dict(coco_state_dict(progress=progress), strict=True)
    return model


def coco_state_dict(progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's COCO Keypoint R-CNN state dict (hash-checked download into the torch hub cache, read
    with torch's weights-only loader)."""
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

    enum = KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
    assert enum.url == KEYPOINT_RCNN_COCO_URL, "torchvision changed its Keypoint R-CNN weights; update nets' URL"
    return enum.get_state_dict(progress=progress, check_hash=True, weights_only=True)


class KeypointRCNNFeatures(nn.Module):
    """Task-source features of a square pose crop (RGB in [0, 1], (N, 3, S, S)), one RoI = the whole crop.

    The crop is resized to input_size (the authors' 800), normalised as torchvision's R-CNN expects, and
    run through the FPN backbone, the keypoint RoIAlign (14 x 14), the 8-conv keypoint head and the
    keypoint predictor. forward(x) returns {"fpn", "keypoint_features", "keypoint_logits"}.
    """

    def __init__(self, detector: KeypointRCNN, input_size: int | None = PAPER_INPUT_SIZE) -> None:
        super().__init__()
        # nn.Module's attributes read as Tensor | Module to a type checker: the detector's parts, typed
        transform = cast(GeneralizedRCNNTransform, detector.transform)
        heads = cast(RoIHeads, detector.roi_heads)
        self.normalize = Normalize(transform.image_mean, transform.image_std)
        self.backbone = detector.backbone
        self.keypoint_roi_pool = cast(MultiScaleRoIAlign, heads.keypoint_roi_pool)
        self.keypoint_head = cast(nn.Module, heads.keypoint_head)
        self.keypoint_predictor = cast(KeypointRCNNPredictor, heads.keypoint_predictor)
        self.input_size = input_size
        self.feature_channels = self.keypoint_predictor.kps_score_lowres.in_channels
        self.num_keypoints = self.keypoint_predictor.kps_score_lowres.out_channels
        self.feature_size = self.keypoint_roi_pool.output_size[0]

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        fpn: OrderedDict = self.backbone(self.normalize(x))
        pooled = self.pool_whole_image(fpn, x)
        feats = self.keypoint_head(pooled)
        logits = self.keypoint_predictor(feats)
        return {"fpn": fpn, "keypoint_features": feats, "keypoint_logits": logits}

    def pool_whole_image(self, fpn: dict, x: torch.Tensor) -> torch.Tensor:
        """The keypoint RoIAlign of one box covering each whole image: what torchvision's MultiScaleRoIAlign
        gives for it (the FPN level of eq. 1 of the FPN paper, its scale, 14 x 14 bins, sampling ratio 2),
        computed without a Python loop over the batch so that exports keep the batch size dynamic."""
        pooler = self.keypoint_roi_pool
        h, w = x.shape[-2:]
        feats = [fpn[k] for k in pooler.featmap_names]
        scales = [2.0 ** round(math.log2(f.shape[-2] / h)) for f in feats]
        k_min, k_max = -round(math.log2(scales[0])), -round(math.log2(scales[-1]))
        level = math.floor(pooler.canonical_level + math.log2(math.sqrt(h * w) / pooler.canonical_scale) + 1e-6)
        index = min(max(level, k_min), k_max) - k_min
        n = x.shape[0]
        batch = torch.arange(n, dtype=x.dtype, device=x.device).unsqueeze(1)
        box = torch.tensor([[0.0, 0.0, float(w), float(h)]], dtype=x.dtype, device=x.device).expand(n, 4)
        return roi_align(feats[index], torch.cat([batch, box], dim=1), output_size=pooler.output_size,
                         spatial_scale=scales[index], sampling_ratio=pooler.sampling_ratio)  # fmt: skip


@records_spec("task_source")
def task_source(
    *,
    weights: str | None = None,
    input_size: int | None = PAPER_INPUT_SIZE,
    depth: int = 50,
    width: int = 64,
    blocks=None,
    fpn_channels: int = 256,
    head_channels: int = 512,
    head_layers: int = 8,
    progress: bool = True,
) -> KeypointRCNNFeatures:
    """The frozen task source of the pose models (see KeypointRCNNFeatures); weights as keypoint_rcnn()."""
    detector = keypoint_rcnn(
        weights=weights,
        depth=depth,
        width=width,
        blocks=blocks,
        fpn_channels=fpn_channels,
        head_channels=head_channels,
        head_layers=head_layers,
        progress=progress,
    )
    return KeypointRCNNFeatures(detector, input_size=input_size)
