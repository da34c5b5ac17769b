"""A width- and depth-configurable ResNet trunk whose parameter names match torchvision's ResNets.

The tagger (paper section 3.2), the segmenter's DeepLabv3 backbone (section 3.3) and the Keypoint R-CNN
backbone (section 3.1) are all ResNets. With depth=50 and width=64 this is exactly torchvision's resnet50
(same module names and shapes, so torchvision's ImageNet/COCO state dicts load strictly); smaller widths
and depths give tiny networks for tests and for CPU training from random init. Blocks are torchvision's.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

#: depth -> (block, blocks per stage), as in He et al. 2016 and torchvision.
DEPTHS: dict[int, tuple[type, tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}

#: The feature maps a trunk exposes, in order: the stem (after ReLU, stride 2) and the four stages.
LEVELS: tuple[str, ...] = ("conv1", "layer1", "layer2", "layer3", "layer4")

#: ImageNet normalisation that every torchvision-pretrained network expects (inputs are RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision's ImageNet weights per depth (the fetchable pretrained starting points).
TORCHVISION_WEIGHTS = {18: "ResNet18_Weights", 34: "ResNet34_Weights", 50: "ResNet50_Weights", 101: "ResNet101_Weights"}


class ResNet(nn.Module):
    """ResNet trunk: conv1/bn1/relu/maxpool stem, layer1..layer4, optional fc classifier.

    depth: 18, 34, 50 or 101 (block type and count); blocks: override the blocks per stage (tiny nets);
    width: stem channels (64 in torchvision; stage i has width * 2**i planes); dilate: per stage 2-4,
    replace the stride by dilation (DeepLabv3's output stride 8 is (False, True, True));
    num_classes: None for a trunk without fc.
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        width: int = 64,
        blocks: Sequence[int] | None = None,
        dilate: Sequence[bool] = (False, False, False),
        num_classes: int | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"unsupported ResNet depth {depth}; use one of {sorted(DEPTHS)}")
        block, default_blocks = DEPTHS[depth]
        blocks = tuple(blocks) if blocks is not None else default_blocks
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must be 4 positive counts, got {blocks}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        if block is BasicBlock and any(dilate):
            raise ValueError("dilation needs bottleneck blocks (depth 50 or 101)")
        self.depth, self.width, self.blocks = depth, width, blocks
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.dilation = 1
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, blocks[0])
        self.layer2 = self._make_layer(block, width * 2, blocks[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, width * 4, blocks[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, width * 8, blocks[3], stride=2, dilate=dilate[2])
        exp = block.expansion
        #: channels of each feature map of LEVELS
        self.channels: dict[str, int] = {
            "conv1": width,
            "layer1": width * exp,
            "layer2": width * 2 * exp,
            "layer3": width * 4 * exp,
            "layer4": width * 8 * exp,
        }
        self.fc = nn.Linear(self.channels["layer4"], num_classes) if num_classes else None
        if self.fc is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
        self._init_weights()

    def _make_layer(self, block, planes: int, count: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        norm_layer = self._norm_layer
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, 1, 64, previous_dilation, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, count):
            layers.append(block(self.inplanes, planes, dilation=self.dilation, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x: torch.Tensor, upto: str = "layer4") -> dict[str, torch.Tensor]:
        """The feature maps of LEVELS up to and including `upto` (x: normalised (N, 3, H, W))."""
        if upto not in LEVELS:
            raise ValueError(f"unknown level {upto!r}; use one of {LEVELS}")
        out: dict[str, torch.Tensor] = {}
        x = self.relu(self.bn1(self.conv1(x)))
        out["conv1"] = x
        x = self.maxpool(x)
        for name in LEVELS[1:]:
            x = getattr(self, name)(x)
            out[name] = x
            if name == upto:
                break
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (with fc), else the layer4 feature map."""
        feats = self.forward_features(x)["layer4"]
        if self.fc is None:
            return feats
        return self.fc(torch.flatten(self.avgpool(feats), 1))

    def truncate(self, upto: str) -> None:
        """Drop the stages after `upto` (and fc): a trunk that only feeds features that far."""
        for name in LEVELS[LEVELS.index(upto) + 1 :]:
            setattr(self, name, None)
        self.fc = None
        self.channels = {k: v for k, v in self.channels.items() if LEVELS.index(k) <= LEVELS.index(upto)}


def imagenet_state_dict(depth: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for a ResNet of this depth (downloads on first use, hash-checked)."""
    import torchvision.models as tvm

    enum = getattr(tvm, TORCHVISION_WEIGHTS[depth])
    return enum.IMAGENET1K_V1.get_state_dict(progress=progress, check_hash=True, weights_only=True)


class Normalize(nn.Module):
    """(x - mean) / std per channel, as constants (not saved in state dicts)."""

    mean: torch.Tensor  # buffers
    std: torch.Tensor

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
