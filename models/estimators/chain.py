"""The estimator chain of DESIGN.md: the first available estimator answers, in registry order.

Order: installed paper models (feature-matching, then feature-concatenation; the architecture of the model
chosen with `posefinder models use NAME` first), then torchvision's COCO Keypoint R-CNN, else none, with a
message that says how to get a model. Each entry of ESTIMATORS is a
name, an availability check and a loader; `posefinder models list` shows them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from posefinder.models.errors import ModelError
from posefinder.models.estimators.base import Availability, Estimator

#: Said when no estimator can run, by the CLI and the app alike.
#: How to get illustration-quality auto-pose: the paper's trained models, imported from the authors' release.
IMPORT_HINT = (
    "download the authors' bizarre_pose_models.zip (linked from github.com/ShuhongChen/bizarre-pose-estimator) "
    "and run `posefinder models import bizarre_pose_models.zip` (or Help > Pose models... > Import the "
    "paper's models...)"
)

NO_MODEL_MESSAGE = (
    "no pose model is available: for illustration-quality auto-pose, " + IMPORT_HINT + "; "
    "or install one you trained with `posefinder models install MODEL.safetensors`; "
    "or allow torchvision to download Keypoint R-CNN weights once (weaker on illustrations) with "
    "`posefinder models fetch keypoint-rcnn`"
)


@dataclass(frozen=True)
class ChainEntry:
    name: str
    check: Callable[[], Availability]  # cheap: no weights loaded, nothing downloaded
    load: Callable[..., Estimator]  # load(device="cpu") -> Estimator; ModelError when it cannot


#: The chain, in order of preference. Estimator modules append their entries through register().
ESTIMATORS: list[ChainEntry] = []


def register(entry: ChainEntry) -> None:
    if any(e.name == entry.name for e in ESTIMATORS):
        raise ValueError(f"estimator {entry.name!r} is registered twice")
    ESTIMATORS.append(entry)


def _ensure_registered() -> None:
    """Import the modules that register estimators (lazily: they may import torch)."""
    from posefinder.models.estimators import registry  # noqa: F401  (registers on import)


def ordered() -> list[ChainEntry]:
    """The chain in the order auto-pose tries it: the registry's, except that the architecture of the model
    chosen with `posefinder models use NAME` (weights.ModelStore.use) comes first."""
    _ensure_registered()
    from posefinder.models.weights import ModelStore

    chosen = ModelStore().in_use()
    if chosen is None:
        return list(ESTIMATORS)
    first = [e for e in ESTIMATORS if e.name == chosen.architecture]
    return first + [e for e in ESTIMATORS if e.name != chosen.architecture]


def describe_chain() -> list[Availability]:
    """Every estimator of the chain, in order, with whether it can run here and why not."""
    return [e.check() for e in ordered()]


def select_estimator(name: str | None = None, device: str = "cpu") -> Estimator:
    """The named estimator, or the first available one; ModelError with the reason when none can run.

    name: an estimator of the chain ("feature-matching" = the newest installed model of that architecture,
    "keypoint-rcnn", ...) or the name of an installed model (`posefinder models list` shows both).
    """
    _ensure_registered()
    if name is not None:
        for e in ESTIMATORS:
            if e.name == name:
                avail = e.check()
                if not avail.available:
                    fix = f"; {avail.how_to_fix}" if avail.how_to_fix else ""
                    raise ModelError(f"{name} is not available: {avail.reason}{fix}")
                return e.load(device=device)
        return _load_installed(name, device)
    for e in ordered():
        if e.check().available:
            return e.load(device=device)
    raise ModelError(NO_MODEL_MESSAGE)


def _load_installed(name: str, device: str) -> Estimator:
    from posefinder.models.weights import ModelStore

    store = ModelStore()
    if not any(m.name == name for m in store.list()):
        known = ", ".join([e.name for e in ESTIMATORS] + [m.name for m in store.list() if m.card])
        raise ModelError(f"unknown model {name!r}; use one of: {known} (`posefinder models list` says which can run)")
    model = store.get(name)  # ModelError when its files are broken
    from posefinder.models.estimators.paper import PaperModelEstimator

    return PaperModelEstimator.from_file(model.weights_path, device=device)
