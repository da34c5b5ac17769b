"""The character segmenter (paper section 3.3): DeepLabv3-ResNet50 plus three layers for input-resolution masks.

torchvision's DeepLabv3 (dilated ResNet trunk at output stride 8, ASPP head) predicts `mid_channels`
feature maps, which torchvision upsamples bilinearly to the input size; three extra layers (paper: "three
additional layers at the end of the head for finer segmentations at the input image resolution") see
those maps together with the input image and give one foreground logit per input pixel. Trained with
pixel-wise BCE (build/); at inference the mask is sigmoid > 0.5 and its enclosing box is the character's.
The authors' public code uses ResNet101 and a 2-class softmax; DESIGN.md asks for ResNet50, and one
sigmoid logit is the same model as a 2-class softmax with fewer parameters. Their head after ASPP is
3x3 conv 256->64 and 3x3 conv 64->16 (batch norm, LeakyReLU); here it is torchvision's DeepLabHead
(3x3 conv 256->256, 1x1 conv 256->16), which keeps the COCO-pretrained 3x3 conv that the paper's
"initialize with pretrained DeepLabv3 weights" starts from. The three extra layers (16+3 -> 16 -> 8 -> out)
are theirs. head="chen2022" (at depth=101) is the authors' released segmenter exactly, with their
2-class output turned into one logit (models/checkpoints/convert.py). 39.64M parameters: trunk 23.51M, ASPP + head 16.13M, extra layers 0.004M.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3

from posefinder.models.nets import records_spec
from posefinder.models.nets.resnet import Normalize, ResNet, imagenet_state_dict


#: Heads after the ASPP: torchvision's DeepLabHead ("deeplab") or the authors' released segmenter's
#: ("chen2022": 3x3 conv 256->64 with bias, BN, LeakyReLU, 3x3 conv 64->mid with bias, BN, LeakyReLU).
HEADS = ("deeplab", "chen2022")

#: The ASPP's atrous rates at output stride 8 (torchvision's DeepLabHead); halved at 16.
ASPP_RATES = (12, 24, 36)


class Segmenter(nn.Module):
    """Foreground segmenter. forward(x: RGB in [0, 1], (N, 3, H, W)) -> (N, 1, H, W) foreground logits."""

    def __init__(
        self,
        *,
        depth: int = 50,
        width: int = 64,
        blocks=None,
        aspp_channels: int = 256,
        mid_channels: int = 16,
        refine_channels: tuple[int, int] = (16, 8),
        head: str = "deeplab",
        head_channels: int = 64,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown segmenter head {head!r}; known: {', '.join(HEADS)}")
        self.normalize = Normalize()
        trunk = ResNet(depth=depth, width=width, blocks=blocks, dilate=(False, True, True))
        c4 = trunk.channels["layer4"]
        backbone = IntermediateLayerGetter(trunk, return_layers={"layer4": "out"})
        aspp = ASPP(c4, list(ASPP_RATES), out_channels=aspp_channels)
        if head == "deeplab":  # torchvision's DeepLabHead, with mid_channels outputs
            classifier = nn.Sequential(
                aspp,
                nn.Conv2d(aspp_channels, aspp_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(aspp_channels),
                nn.ReLU(),
                nn.Conv2d(aspp_channels, mid_channels, 1),
            )
        else:  # the authors' released head
            classifier = nn.Sequential(
                aspp,
                nn.Conv2d(aspp_channels, head_channels, 3, padding=1),
                nn.BatchNorm2d(head_channels),
                nn.LeakyReLU(),
                nn.Conv2d(head_channels, mid_channels, 3, padding=1),
                nn.BatchNorm2d(mid_channels),
                nn.LeakyReLU(),
            )
        self.deeplab = DeepLabV3(backbone, classifier, aux_classifier=None)
        r1, r2 = refine_channels
        self.refine = nn.Sequential(  # the three extra layers, at input resolution
            nn.Conv2d(mid_channels + 3, r1, 3, padding=1),
            nn.BatchNorm2d(r1),
            nn.LeakyReLU(),
            nn.Conv2d(r1, r2, 3, padding=1),
            nn.BatchNorm2d(r2),
            nn.LeakyReLU(),
            nn.Conv2d(r2, 1, 1),
        )

    @property
    def output_stride(self) -> int:
        """The trunk's output stride: 8 (DeepLabv3's, and how the segmenter is trained) or 16."""
        trunk: Any = self.deeplab.backbone  # layers by name (a type checker reads Module attributes as Tensor | Module)
        return 8 if trunk["layer3"][0].conv2.stride == (1, 1) else 16

    def set_output_stride(self, output_stride: int) -> "Segmenter":
        """Run the trunk at output stride 8 or 16; the weights stay the same (returns self).

        At 16, layer3 strides instead of dilating, layer4 dilates by 2 instead of 4 and the ASPP rates are
        halved, so every filter keeps its field of view in the image while layer3, layer4 and the ASPP see a
        quarter of the positions: about a third of the operations (DeepLabv3, Chen et al. 2017, section 4:
        trained at one output stride, evaluated at 8 for accuracy or at 16 for speed). Masks come out a
        little coarser before the extra layers refine them at input resolution.
        """
        if output_stride not in (8, 16):
            raise ValueError(f"the segmenter runs at output stride 8 or 16, not {output_stride}")
        backbone: Any = self.deeplab.backbone  # as in output_stride
        dilation = 1
        for name, dilate in (("layer2", False), ("layer3", output_stride == 8), ("layer4", True)):
            previous, stride = dilation, 2
            if dilate:
                dilation, stride = dilation * 2, 1
            for i, block in enumerate(backbone[name]):
                d, s = (previous, stride) if i == 0 else (dilation, 1)
                block.conv2.stride, block.conv2.dilation, block.conv2.padding = (s, s), (d, d), (d, d)
                if i == 0 and block.downsample is not None:
                    block.downsample[0].stride = (s, s)
        classifier: Any = self.deeplab.classifier
        for branch, rate in zip(classifier[0].convs[1:-1], ASPP_RATES):  # ASPPConv: rate-dilated 3x3
            r = rate * 8 // output_stride
            branch[0].dilation, branch[0].padding = (r, r), (r, r)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.normalize(x)
        mid = self.deeplab(normed)["out"]  # upsampled to the input size by torchvision
        return self.refine(torch.cat([mid, normed], dim=1))

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W) foreground probabilities."""
        return torch.sigmoid(self(x))[:, 0]


@records_spec("segmenter")
def segmenter(
    *,
    weights: str | None = None,
    depth: int = 50,
    width: int = 64,
    blocks=None,
    aspp_channels: int = 256,
    mid_channels: int = 16,
    refine_channels: tuple[int, int] = (16, 8),
    head: str = "deeplab",
    head_channels: int = 64,
    progress: bool = True,
) -> Segmenter:
    """Build the segmenter. weights=None: random init; "coco": torchvision's DeepLabv3-ResNet50 COCO weights
    for the trunk and ASPP head (the paper's starting point, "pretrained DeepLabv3 weights from PyTorch"),
    random last classifier layer and extra layers; "imagenet": ImageNet trunk only. Both download once."""
    r1, r2 = refine_channels  # a list, too, from a model file's spec
    model = Segmenter(
        depth=depth,
        width=width,
        blocks=blocks,
        aspp_channels=aspp_channels,
        mid_channels=mid_channels,
        refine_channels=(r1, r2),
        head=head,
        head_channels=head_channels,
    )
    if weights is None:
        return model
    if width != 64 or blocks is not None or depth not in (50, 101) or aspp_channels != 256:
        raise ValueError("pretrained segmenter weights exist only for the standard sizes (width 64, ASPP 256)")
    if weights == "imagenet":
        state = imagenet_state_dict(depth, progress=progress)
        trunk = model.deeplab.backbone
        state = {k: v for k, v in state.items() if k in trunk.state_dict()}
        trunk.load_state_dict(state, strict=True)
    elif weights == "coco":
        import torchvision.models.segmentation as tvs

        enum = tvs.DeepLabV3_ResNet50_Weights if depth == 50 else tvs.DeepLabV3_ResNet101_Weights
        state = enum.COCO_WITH_VOC_LABELS_V1.get_state_dict(progress=progress, check_hash=True, weights_only=True)
        own = model.deeplab.state_dict()
        state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
        model.deeplab.load_state_dict(state, strict=False)  # all but classifier.4 (21 VOC classes)
    else:
        raise ValueError(f"unknown weights {weights!r} for the segmenter; use None, 'coco' or 'imagenet'")
    return model
