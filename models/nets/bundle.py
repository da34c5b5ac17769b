"""ModelBundle: the networks of one model file under the prefixes "pose", "segmenter" and "tagger"."""

from __future__ import annotations

from torch import nn


class ModelBundle(nn.Module):
    """A model file's components: `pose`, `segmenter` and `tagger`, each None when absent (an installable
    model has a pose network; a file of training's parts, e.g. a tagger alone, has none).

    Its state dict is what a model file stores: "pose.*", "segmenter.*", "tagger.*".
    """

    def __init__(self, pose: nn.Module | None, segmenter: nn.Module | None = None,
                 tagger: nn.Module | None = None) -> None:  # fmt: skip
        if pose is None and segmenter is None and tagger is None:
            raise ValueError("a ModelBundle needs at least one network")
        super().__init__()
        self.pose = pose
        self.segmenter = segmenter
        self.tagger = tagger

    def components(self) -> dict[str, nn.Module]:
        named = (("pose", self.pose), ("segmenter", self.segmenter), ("tagger", self.tagger))
        return {name: module for name, module in named if module is not None}
