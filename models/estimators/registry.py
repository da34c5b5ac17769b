"""Registers the estimators of the chain, in order of preference (see chain.py).

1. feature-matching, 2. feature-concatenation: the newest installed model of that architecture in the
   model store (weights.ModelStore, the user's models folder);
3. keypoint-rcnn: torchvision's COCO Keypoint R-CNN, where its weights are in torch hub's cache.
The checks read model cards and look for files only: no torch import, no weights loaded, no download.
"""

from __future__ import annotations

from posefinder.models.estimators import chain
from posefinder.models.estimators.base import Availability

#: What to do when no model of an architecture is installed.
INSTALL_HINT = (
    chain.IMPORT_HINT + "; or train one with `posefinder-train pose` and install its .safetensors file with "
    "`posefinder models install FILE`"
)


def _installed_check(architecture: str):
    def check() -> Availability:
        from posefinder.models.weights import ModelStore

        store = ModelStore()
        model = store.newest(architecture)
        if model is None:
            return Availability(architecture, False, f"no {architecture} model is installed in {store.root}",
                                INSTALL_HINT)  # fmt: skip
        return Availability(architecture, True, f"model {model.name!r} ({model.weights_path})")

    return check


def _installed_load(architecture: str):
    def load(device: str = "cpu"):
        from posefinder.models.errors import ModelError
        from posefinder.models.estimators.paper import PaperModelEstimator
        from posefinder.models.weights import ModelStore

        model = ModelStore().newest(architecture)
        if model is None:
            raise ModelError(f"no {architecture} model is installed; {INSTALL_HINT}")
        return PaperModelEstimator.from_file(model.weights_path, device=device)

    return load


def _rcnn_check() -> Availability:
    from posefinder.models.estimators import rcnn

    return rcnn.availability()


def _rcnn_load(device: str = "cpu"):
    from posefinder.models.estimators import rcnn

    return rcnn.load(device=device)


for _arch in ("feature-matching", "feature-concatenation"):
    chain.register(chain.ChainEntry(_arch, _installed_check(_arch), _installed_load(_arch)))
chain.register(chain.ChainEntry("keypoint-rcnn", _rcnn_check, _rcnn_load))
