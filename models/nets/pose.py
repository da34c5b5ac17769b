"""The paper's two pose networks (section 3.1, Fig. 1): feature concatenation and feature matching.

Both take a square pose crop (RGB in [0, 1], (N, 3, S, S), the character's bbox centred and padded by at
least 10%) and return (N, 25, H, H) heatmap logits (sigmoid for probabilities) in skeleton order:
17 COCO keypoints, then 8 limb midpoints.

- Feature concatenation: a frozen domain source (the tagger's trunk, conv1..layer3) and a frozen task
  source (Keypoint R-CNN run on the crop) each go through a shallow converter that cuts their channels;
  both are resampled bilinearly to the common heatmap resolution and concatenated (with the image itself,
  as in the authors' code); the head (a converter and two ResNet blocks) gives the 25 heatmaps. The task
  features are the R-CNN's 17 keypoint heatmap logits (17 x 56 x 56), as in the authors' code (passup.py:
  a 1x1 converter from 17 channels); task_feature="keypoint_features" uses the 512 x 14 x 14 head
  features instead (the matcher's target).
- Feature matching: the same, except that a matcher predicts the task source's features from the
  converted domain features, so Keypoint R-CNN is needed at training time only (MSE between
  `forward_train(x)["matched"]` and the task source's `keypoint_features`; the loss lives in build/).

Sizes default to the authors' public code (ShuhongChen/bizarre-pose-estimator): 256 px crops, tagger
features at 256 px, heatmaps at 128 px, matcher at the R-CNN's 14 x 14 x 512 keypoint features.
Every width is a keyword argument so that tests and CPU training can build small versions.

Where this differs from the authors' code, on purpose: the task source is torchvision's R50-FPN Keypoint
R-CNN, not detectron2's R101-FPN (DESIGN.md); the image that skips to the head is ImageNet-normalised
(theirs is raw RGB in [0, 1]; the head's first convolution has no normalisation before it); shrinking
resamples are antialiased (antialias=False, recorded in the card, gives the authors' plain bilinear
sampling: the imported checkpoints use it, see models/checkpoints).

Parameter counts at the paper's sizes (Table 1 counts the frozen sources too, in inference mode):
- feature matching: 9.95M = tagger trunk conv1..layer3 8.54M (frozen) + 1.40M trained (domain converter
  0.41M, matcher 0.59M, task converter 0.02M, head 0.38M). Paper: 9.9M; the same network.
- feature concatenation: 53.98M = tagger trunk 8.54M + task source 44.64M (R50-FPN backbone 26.80M,
  keypoint head 17.70M, predictor 0.14M) + 0.80M trained. Paper: 86.8M, which is the trunk + their whole
  detectron2 R101-FPN Keypoint R-CNN (77.5M, Table 1's "Task-Pretrained (R-CNN)", counting the RPN and the
  box head that a crop with a given box never runs) + the trained parts. Counted that way here: 8.54 +
  59.14 (torchvision's whole R50-FPN detector) + 0.80 = 68.5M; with an R101 trunk (keypoint_rcnn(depth=101),
  78.1M in torchvision's layout) 87.4M, the paper's figure within 0.6M.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from posefinder.models import skeleton
from posefinder.models.nets import records_spec
from posefinder.models.nets.keypoint_rcnn import KeypointRCNNFeatures, task_source
from posefinder.models.nets.resnet import Normalize
from posefinder.models.nets.tagger import TaggerTrunk, tagger_trunk

#: Crop size and heatmap size of the authors' models.
PAPER_INPUT_SIZE = 256
PAPER_HEATMAP_SIZE = 128

#: The tagger levels the domain converter reads (the authors drop layer4).
DOMAIN_LEVELS: tuple[str, ...] = ("conv1", "layer1", "layer2", "layer3")


def resample(x: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """Bilinear resampling to size x size (antialiased when shrinking, unless antialias is off: the
    authors' networks take a plain bilinear sample); identity when already there."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    shrink = antialias and (x.shape[-1] > size or x.shape[-2] > size)
    if shrink and x.dtype == torch.bfloat16 and x.device.type == "cpu":  # no bf16 antialiasing kernel on CPUs
        out = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return out.to(x.dtype)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


class ResBlock(nn.Module):
    """`depth` 3x3 convs (each followed by ReLU and batch norm); the first maps in -> out channels and its
    output skips over the others (the ResNet block of the authors' head)."""

    def __init__(self, in_channels: int, out_channels: int, depth: int = 3) -> None:
        super().__init__()
        self.entry = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="replicate")
        body: list[nn.Module] = [nn.ReLU(), nn.BatchNorm2d(out_channels)]
        for _ in range(depth - 1):
            body += [
                nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="replicate"),
                nn.ReLU(),
                nn.BatchNorm2d(out_channels),
            ]
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.entry(x)
        return self.tail(head + self.body(head))


class DomainConverter(nn.Module):
    """Shallow converter of the tagger's feature maps: a 1x1 conv per level, bilinear resampling to the
    heatmap size, concatenation, batch norm, LeakyReLU and a 3x3 conv to `out_channels`."""

    def __init__(
        self, in_channels: dict[str, int], size: int, per_level: int = 64, out_channels: int = 128, antialias: bool = True
    ) -> None:
        super().__init__()
        self.size = size
        self.antialias = antialias
        self.levels = tuple(in_channels)
        self.reduce = nn.ModuleDict({k: nn.Conv2d(c, per_level, 1) for k, c in in_channels.items()})
        self.norm = nn.BatchNorm2d(per_level * len(self.levels))
        self.act = nn.LeakyReLU()
        self.mix = nn.Conv2d(per_level * len(self.levels), out_channels, 3, padding=1, padding_mode="replicate")

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        x = torch.cat([resample(self.reduce[k](feats[k]), self.size, self.antialias) for k in self.levels], dim=1)
        return self.mix(self.act(self.norm(x)))


class TaskConverter(nn.Module):
    """Shallow converter of the task source's features: a 1x1 conv, then bilinear resampling."""

    def __init__(self, in_channels: int, size: int, out_channels: int = 32, antialias: bool = True) -> None:
        super().__init__()
        self.size = size
        self.antialias = antialias
        self.reduce = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resample(self.reduce(x), self.size, self.antialias)


class Matcher(nn.Module):
    """Predicts the task source's keypoint features (C x S x S) from the converted domain features."""

    def __init__(self, in_channels: int, out_channels: int = 512, size: int = 14, antialias: bool = True) -> None:
        super().__init__()
        self.size = size
        self.antialias = antialias
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="replicate")
        self.act = nn.ReLU()
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.conv(resample(x, self.size, self.antialias))))


class PoseHead(nn.Module):
    """The head: a converter (3x3 conv, LeakyReLU, batch norm) and two ResNet blocks, then a 3x3 conv to
    one heatmap logit map per keypoint."""

    def __init__(self, in_channels: int, channels: Sequence[int] = (128, 64, 32), num_keypoints: int = 25) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c0, 3, padding=1, padding_mode="replicate"),
            nn.LeakyReLU(),
            nn.BatchNorm2d(c0),
            ResBlock(c0, c1),
            ResBlock(c1, c2),
            nn.Conv2d(c2, num_keypoints, 3, padding=1, padding_mode="replicate"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _PoseNet(nn.Module):
    """What both pose networks share: sizes, the frozen sources, the image skip and the head."""

    architecture = ""

    def __init__(
        self, *, tagger: TaggerTrunk, input_size: int, heatmap_size: int, image_skip: bool, antialias: bool = True
    ) -> None:
        super().__init__()
        #: shrinking resamples are antialiased (PoseFinder's models) or plain bilinear (the authors')
        self.antialias = antialias
        self.tagger = tagger
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.num_keypoints = skeleton.NUM_KEYPOINTS
        self.image_skip = image_skip
        self.normalize = Normalize()
        #: frozen sources are kept in eval mode and get no gradients unless this is set
        self.train_sources = False

    def frozen_sources(self) -> list[nn.Module]:
        return [self.tagger]

    def freeze_sources(self) -> None:
        for module in self.frozen_sources():
            module.requires_grad_(False)
            module.eval()

    def trainable_parameters(self) -> list[nn.Parameter]:
        frozen = {id(p) for m in self.frozen_sources() for p in m.parameters()}
        return [p for p in self.parameters() if id(p) not in frozen and p.requires_grad]

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.train_sources:
            for module in self.frozen_sources():
                module.eval()
        return self

    def _sources_grad(self) -> bool:
        return self.train_sources and torch.is_grad_enabled()

    def _image(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [resample(self.normalize(x), self.heatmap_size, self.antialias)] if self.image_skip else []


class FeatureConcatenationPose(_PoseNet):
    """Feature concatenation (paper section 3.1): tagger trunk + Keypoint R-CNN features -> 25 heatmaps."""

    architecture = "feature-concatenation"

    def __init__(
        self,
        *,
        tagger: TaggerTrunk,
        task: KeypointRCNNFeatures,
        task_feature: str = "keypoint_logits",
        input_size: int = PAPER_INPUT_SIZE,
        heatmap_size: int = PAPER_HEATMAP_SIZE,
        converter_channels: int = 64,
        domain_channels: int = 128,
        task_channels: int = 32,
        head_channels: Sequence[int] = (128, 64, 32),
        image_skip: bool = True,
        antialias: bool = True,
    ) -> None:
        super().__init__(
            tagger=tagger, input_size=input_size, heatmap_size=heatmap_size, image_skip=image_skip, antialias=antialias
        )
        if task_feature not in ("keypoint_features", "keypoint_logits"):
            raise ValueError(f"task_feature must be 'keypoint_features' or 'keypoint_logits', not {task_feature!r}")
        self.task = task
        self.task_feature = task_feature
        task_in = task.feature_channels if task_feature == "keypoint_features" else task.num_keypoints
        self.domain_converter = DomainConverter(
            {k: tagger.channels[k] for k in DOMAIN_LEVELS}, heatmap_size, converter_channels, domain_channels, antialias
        )
        self.task_converter = TaskConverter(task_in, heatmap_size, task_channels, antialias)
        self.head = PoseHead(domain_channels + task_channels + (3 if image_skip else 0), head_channels)

    def frozen_sources(self) -> list[nn.Module]:
        return [self.tagger, self.task]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self._sources_grad()):
            domain = self.tagger(x)
            task = self.task(x)[self.task_feature]
        feats = self._image(x) + [self.domain_converter(domain), self.task_converter(task)]
        return self.head(torch.cat(feats, dim=1))


class FeatureMatchingPose(_PoseNet):
    """Feature matching (paper section 3.1): tagger trunk -> matcher (predicted R-CNN features) -> heatmaps.

    forward(x) -> heatmap logits; forward_train(x) -> {"heatmaps", "matched"}, where "matched" has the
    shape of the task source's keypoint_features (N, task_feature_channels, task_feature_size, ...).
    """

    architecture = "feature-matching"

    def __init__(
        self,
        *,
        tagger: TaggerTrunk,
        input_size: int = PAPER_INPUT_SIZE,
        heatmap_size: int = PAPER_HEATMAP_SIZE,
        task_feature_channels: int = 512,
        task_feature_size: int = 14,
        converter_channels: int = 64,
        domain_channels: int = 128,
        task_channels: int = 32,
        head_channels: Sequence[int] = (128, 64, 32),
        image_skip: bool = True,
        antialias: bool = True,
    ) -> None:
        super().__init__(
            tagger=tagger, input_size=input_size, heatmap_size=heatmap_size, image_skip=image_skip, antialias=antialias
        )
        self.domain_converter = DomainConverter(
            {k: tagger.channels[k] for k in DOMAIN_LEVELS}, heatmap_size, converter_channels, domain_channels, antialias
        )
        self.matcher = Matcher(domain_channels, task_feature_channels, task_feature_size, antialias)
        self.task_converter = TaskConverter(task_feature_channels, heatmap_size, task_channels, antialias)
        self.head = PoseHead(domain_channels + task_channels + (3 if image_skip else 0), head_channels)

    @property
    def matched_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the task features the matcher predicts."""
        return (self.matcher.conv.out_channels, self.matcher.size, self.matcher.size)

    def forward_train(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.set_grad_enabled(self._sources_grad()):
            domain = self.tagger(x)
        converted = self.domain_converter(domain)
        matched = self.matcher(converted)
        feats = self._image(x) + [converted, self.task_converter(matched)]
        return {"heatmaps": self.head(torch.cat(feats, dim=1)), "matched": matched}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_train(x)["heatmaps"]


def _tagger_kwargs(depth, width, blocks, input_size) -> dict:
    return {"depth": depth, "width": width, "blocks": blocks, "upto": "layer3", "input_size": input_size}


@records_spec("pose_matching")
def pose_matching(
    *,
    weights: str | None = None,
    input_size: int = PAPER_INPUT_SIZE,
    heatmap_size: int = PAPER_HEATMAP_SIZE,
    tagger_depth: int = 50,
    tagger_width: int = 64,
    tagger_blocks: Sequence[int] | None = None,
    tagger_input_size: int | None = 256,
    task_feature_channels: int = 512,
    task_feature_size: int = 14,
    converter_channels: int = 64,
    domain_channels: int = 128,
    task_channels: int = 32,
    head_channels: Sequence[int] = (128, 64, 32),
    image_skip: bool = True,
    antialias: bool = True,
    progress: bool = True,
) -> FeatureMatchingPose:
    """Build the feature matching pose network. weights=None: random init; "sources": the tagger trunk
    starts from torchvision's ImageNet ResNet (downloads once; a trained tagger is loaded by the trainer
    with `model.tagger.load_tagger_weights(state)`). Trained pose weights come from model files."""
    trunk = tagger_trunk(
        weights="imagenet" if _sources(weights) else None,
        progress=progress,
        **_tagger_kwargs(tagger_depth, tagger_width, tagger_blocks, tagger_input_size),
    )
    model = FeatureMatchingPose(
        tagger=trunk,
        input_size=input_size,
        heatmap_size=heatmap_size,
        task_feature_channels=task_feature_channels,
        task_feature_size=task_feature_size,
        converter_channels=converter_channels,
        domain_channels=domain_channels,
        task_channels=task_channels,
        head_channels=tuple(head_channels),
        image_skip=image_skip,
        antialias=antialias,
    )
    model.freeze_sources()
    return model


@records_spec("pose_concat")
def pose_concat(
    *,
    weights: str | None = None,
    input_size: int = PAPER_INPUT_SIZE,
    heatmap_size: int = PAPER_HEATMAP_SIZE,
    tagger_depth: int = 50,
    tagger_width: int = 64,
    tagger_blocks: Sequence[int] | None = None,
    tagger_input_size: int | None = 256,
    task_input_size: int | None = 800,
    task_depth: int = 50,
    task_width: int = 64,
    task_blocks: Sequence[int] | None = None,
    task_fpn_channels: int = 256,
    task_head_channels: int = 512,
    task_head_layers: int = 8,
    task_feature: str = "keypoint_logits",
    converter_channels: int = 64,
    domain_channels: int = 128,
    task_channels: int = 32,
    head_channels: Sequence[int] = (128, 64, 32),
    image_skip: bool = True,
    antialias: bool = True,
    progress: bool = True,
) -> FeatureConcatenationPose:
    """Build the feature concatenation pose network. weights=None: random init; "sources": ImageNet tagger
    trunk and torchvision's COCO Keypoint R-CNN (both download once)."""
    sources = _sources(weights)
    trunk = tagger_trunk(
        weights="imagenet" if sources else None,
        progress=progress,
        **_tagger_kwargs(tagger_depth, tagger_width, tagger_blocks, tagger_input_size),
    )
    task = task_source(
        weights="coco" if sources else None,
        input_size=task_input_size,
        depth=task_depth,
        width=task_width,
        blocks=task_blocks,
        fpn_channels=task_fpn_channels,
        head_channels=task_head_channels,
        head_layers=task_head_layers,
        progress=progress,
    )
    model = FeatureConcatenationPose(
        tagger=trunk,
        task=task,
        task_feature=task_feature,
        input_size=input_size,
        heatmap_size=heatmap_size,
        converter_channels=converter_channels,
        domain_channels=domain_channels,
        task_channels=task_channels,
        head_channels=tuple(head_channels),
        image_skip=image_skip,
        antialias=antialias,
    )
    model.freeze_sources()
    return model


def _sources(weights: str | None) -> bool:
    if weights is None:
        return False
    if weights == "sources":
        return True
    raise ValueError(
        f"unknown weights {weights!r} for a pose network; use None (random) or 'sources' (pretrained "
        "sources); trained pose models load from model files (posefinder.models.weights)"
    )
