"""The illustration tagger (paper section 3.2): a ResNet50 with a multi-label head over the rulebook's classes.

Its feature maps (stem, layer1..layer4) are the pose models' "domain" features (section 3.1, Fig. 1). The
paper trains it on Danbooru with the class-balanced BCE of eq. 1-3 (that loss lives in build/); here is
only the network. Input: RGB in [0, 1], (N, 3, H, W); the ImageNet normalisation happens inside.
"""

from __future__ import annotations

import torch
from torch import nn

from posefinder.models.nets import records_spec
from posefinder.models.nets.resnet import LEVELS, Normalize, ResNet, imagenet_state_dict

#: The paper's rulebook: 314 body-part + 545 clothing + 203 miscellaneous classes (section 4.2).
PAPER_NUM_CLASSES = 1062

#: Input size the paper's tagger is trained and used at (the 512px Danbooru images resized to 256).
PAPER_INPUT_SIZE = 256


class Tagger(nn.Module):
    """Multi-label classifier: `resnet` trunk + `fc` logits over num_classes tags.

    forward(x) -> (N, num_classes) logits (sigmoid for probabilities);
    features(x, upto) -> {level: feature map} for LEVELS up to `upto`.
    """

    def __init__(self, *, num_classes: int, depth: int = 50, width: int = 64, blocks=None) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.resnet = ResNet(depth=depth, width=width, blocks=blocks, num_classes=num_classes)
        self.num_classes = num_classes

    @property
    def channels(self) -> dict[str, int]:
        return self.resnet.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnet(self.normalize(x))

    def features(self, x: torch.Tensor, upto: str = "layer4") -> dict[str, torch.Tensor]:
        return self.resnet.forward_features(self.normalize(x), upto=upto)


class TaggerTrunk(nn.Module):
    """The tagger cut after `upto` (no classifier): the frozen domain source inside the pose models.

    Its state dict is the tagger's without the later stages and fc, under the same names
    (`resnet.conv1.weight`, ...), so a trained tagger's weights load into it with
    load_tagger_weights(). forward(x) resizes x to input_size (when set) and returns the feature maps.
    """

    def __init__(
        self, *, depth: int = 50, width: int = 64, blocks=None, upto: str = "layer3", input_size: int | None = None
    ) -> None:
        super().__init__()
        if upto not in LEVELS:
            raise ValueError(f"unknown level {upto!r}; use one of {LEVELS}")
        self.normalize = Normalize()
        self.resnet = ResNet(depth=depth, width=width, blocks=blocks)
        self.resnet.truncate(upto)
        self.upto = upto
        self.input_size = input_size

    @property
    def channels(self) -> dict[str, int]:
        return self.resnet.channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=True
            )
        return self.resnet.forward_features(self.normalize(x), upto=self.upto)

    def load_tagger_weights(self, tagger_state: dict[str, torch.Tensor]) -> None:
        """Load a trained Tagger's state dict (keys `resnet.*`), keeping only this trunk's stages."""
        own = self.state_dict()
        picked = {k: v for k, v in tagger_state.items() if k in own}
        missing = sorted(set(own) - set(picked))
        if missing:
            raise ValueError(f"tagger weights lack {len(missing)} trunk tensors, e.g. {missing[0]}")
        self.load_state_dict(picked, strict=True)


@records_spec("tagger")
def tagger(
    *,
    weights: str | None = None,
    num_classes: int = PAPER_NUM_CLASSES,
    depth: int = 50,
    width: int = 64,
    blocks=None,
    progress: bool = True,
) -> Tagger:
    """Build the tagger. weights=None: random init; "imagenet": torchvision's ImageNet trunk, random fc
    (the paper's starting point; downloads once). Trained tagger weights come from a model file
    (posefinder.models.weights), never from here."""
    model = Tagger(num_classes=num_classes, depth=depth, width=width, blocks=blocks)
    if weights is not None:
        _load_imagenet(model.resnet, weights, depth, width, blocks, progress)
    return model


@records_spec("tagger_trunk")
def tagger_trunk(
    *,
    weights: str | None = None,
    depth: int = 50,
    width: int = 64,
    blocks=None,
    upto: str = "layer3",
    input_size: int | None = PAPER_INPUT_SIZE,
    progress: bool = True,
) -> TaggerTrunk:
    """Build the tagger's trunk up to `upto` (the paper's pose models use conv1..layer3 at 256 px)."""
    model = TaggerTrunk(depth=depth, width=width, blocks=blocks, upto=upto, input_size=input_size)
    if weights is not None:
        _load_imagenet(model.resnet, weights, depth, width, blocks, progress)
    return model


def _load_imagenet(resnet: ResNet, weights: str, depth: int, width: int, blocks, progress: bool) -> None:
    if weights != "imagenet":
        raise ValueError(f"unknown weights {weights!r} for the tagger; use None or 'imagenet'")
    if width != 64 or blocks is not None:
        raise ValueError("ImageNet weights exist only for the standard widths (width=64, default blocks)")
    state = imagenet_state_dict(depth, progress=progress)
    own = resnet.state_dict()
    state = {k: v for k, v in state.items() if k in own and not k.startswith("fc.")}
    missing = [k for k in own if k not in state and not k.startswith("fc.")]
    if missing:
        raise ValueError(f"ImageNet weights lack {missing[:3]}")
    resnet.load_state_dict(state, strict=False)
