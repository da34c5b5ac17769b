"""Model files (safetensors weights + a JSON model card beside them) and the ModelStore of installed models.

A model file is a pair with the same stem (the one format of every network file PoseFinder writes: an
installable pose model, and the parts training makes on the way, such as a tagger or a segmenter alone):

    NAME.safetensors   every component's weights in one flat state dict, keys prefixed by component:
                       "pose.*" (the pose network: "pose.tagger.*" frozen tagger trunk, "pose.matcher.*",
                       "pose.domain_converter.*", "pose.task_converter.*", "pose.head.*", and "pose.task.*"
                       for the concatenation model's Keypoint R-CNN), "segmenter.*" (optional), "tagger.*"
                       (optional: the full tagger with its classifier). The card is also embedded in the
                       safetensors metadata under "posefinder_card", so a lone .safetensors still installs.
    NAME.json          the model card: {
                         "format": "posefinder-model", "format_version": 1,
                         "name": "...", "architecture": "feature-matching" | "feature-concatenation"
                                                        | "" (a file without a pose network),
                         "components": {"pose": {"builder": "pose_matching", "kwargs": {...}},
                                        "segmenter": {"builder": "segmenter", "kwargs": {...}}},   # optional
                         "keypoints": [25 names, skeleton.KEYPOINT_NAMES],
                         "input_size": 256, "heatmap_size": 128, "segmenter_input_size": 256,
                         "normalisation": {...}, "inference": {"threshold": 0.5, "padding": 0.1, ...},
                         "training_data": {...}, "metrics": {"oks50": ..., ...}, "description": "...",
                         "created": ISO time, "posefinder_version": "..."}

A file whose components lack "pose" (a trained tagger or segmenter on its own: input_size is then that
network's, heatmap_size null) is read by load_component, which `posefinder-train pose --tagger FILE` uses;
it is not installable. Files of the former component format ("posefinder-component") still read.

The builder kwargs are every architecture argument of the builder in posefinder.models.nets, so loading
rebuilds exactly the saved network (random init, nothing downloaded) and then loads the weights strictly:
a missing, unexpected or wrongly shaped tensor is a ModelError that says so. Weights are never unpickled:
safetensors only, for files from a user's disk.

Exporting (what build/ does after training):

    bundle = ModelBundle(pose=pose_net, segmenter=segmenter_net)     # posefinder.models.nets.bundle
    card = make_card(bundle, name="matching-adds", training_data={...}, metrics={"oks50": 0.89})
    save_model("matching-adds.safetensors", bundle, card)

Installing and loading: ModelStore().install(path); load_bundle(path) -> (bundle, card);
load_component(path, "tagger") -> (network, card). One validator, ModelCard.validate, checks every card
read or written.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from posefinder.models import paths, skeleton
from posefinder.models.atomic import atomic_path, is_temporary, move_into_place, temporary_name, write_text
from posefinder.models.errors import ModelError

FORMAT = "posefinder-model"
FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
METADATA_KEY = "posefinder_card"
#: The component files build/ wrote before they became model files without a pose network (read only).
LEGACY_COMPONENT_FORMAT = "posefinder-component"
LEGACY_COMPONENT_KEY = "posefinder_component"

#: component -> builders a card may name for it (a card never names arbitrary code).
COMPONENT_BUILDERS: dict[str, tuple[str, ...]] = {
    "pose": ("pose_matching", "pose_concat"),
    "segmenter": ("segmenter",),
    "tagger": ("tagger",),
}

#: Defaults of the inference settings a card may carry (see estimators/pipeline.py).
DEFAULT_INFERENCE: dict[str, Any] = {
    "threshold": 0.5,  # segmenter probability -> mask (paper section 3.3)
    "padding": 0.1,  # crop padding, fraction of the bbox's longer side on each side (section 4.1)
    "smoothing": 0.1,  # gaussian smoothing sigma, fraction of the heatmap size (authors' code)
    "fill": [255, 255, 255],  # colour of the crop outside the image
    "visible_score": 0.3,  # a joint scoring at least this is visible (v=2), else guessed (v=1)
    "absent_score": 0.0,  # a joint scoring below this is absent (v=0); 0: every joint is given
    "max_characters": 4,  # characters per image at most (mask components, largest first)
    "refine": True,  # without a segmenter: a second pass cropped around the first pass's keypoints
    "segmenter_resize": "longer",  # segmenter input: longer side letterboxed, or "shorter" side (authors')
    "segmenter_fill": None,  # letterbox / alpha colour of the segmenter input (None: "fill")
    "midpoints": "network",  # the 8 midpoints from their heatmaps, or "endpoints": rebuilt from their ends
}

#: Names a model may not be installed under (they name chain entries).
RESERVED_NAMES = ("feature-matching", "feature-concatenation", "keypoint-rcnn", "none")

#: The file in the models folder that names the model chosen with `posefinder models use NAME`.
IN_USE_FILE = "in-use.json"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class ModelCard:
    """What a model file says about itself (see the module docstring for the JSON layout)."""

    name: str
    architecture: str
    components: dict[str, dict[str, Any]]
    keypoints: list[str] = field(default_factory=lambda: list(skeleton.KEYPOINT_NAMES))
    input_size: int | None = 256
    heatmap_size: int | None = 128
    segmenter_input_size: int | None = None
    normalisation: dict[str, Any] = field(
        default_factory=lambda: {
            "input": "RGB float in [0, 1], (N, 3, H, W); each network normalises inside",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        }
    )
    inference: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_INFERENCE))
    training_data: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created: str = ""
    posefinder_version: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept as they were

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": FORMAT,
            "format_version": self.format_version,
            "name": self.name,
            "architecture": self.architecture,
            "components": self.components,
            "keypoints": list(self.keypoints),
            "input_size": self.input_size,
            "heatmap_size": self.heatmap_size,
            "segmenter_input_size": self.segmenter_input_size,
            "normalisation": self.normalisation,
            "inference": self.inference,
            "training_data": self.training_data,
            "metrics": self.metrics,
            "description": self.description,
            "created": self.created,
            "posefinder_version": self.posefinder_version,
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, obj: Any, source: str = "model card") -> "ModelCard":
        """A card from decoded JSON; ModelError when it is not a PoseFinder model card or is from a newer version."""
        if isinstance(obj, dict) and obj.get("format") == LEGACY_COMPONENT_FORMAT:
            obj = _from_component_card(obj)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ModelError(f"{source}: not a PoseFinder model card (no \"format\": \"{FORMAT}\")")
        version = obj.get("format_version")
        if not isinstance(version, int):
            raise ModelError(f"{source}: the model card has no format_version")
        if version > FORMAT_VERSION:
            raise ModelError(
                f"{source}: made by a newer PoseFinder (model format {version}, this one reads up to "
                f"{FORMAT_VERSION}); update PoseFinder"
            )
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        try:
            kwargs = {k: obj[k] for k in known if k in obj}
            for required in ("name", "architecture", "components"):
                if required not in kwargs:
                    raise KeyError(required)
            card = cls(**kwargs, extra={k: v for k, v in obj.items() if k not in known and k != "format"})
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{source}: the model card lacks or garbles {exc}") from None
        card.inference = {**DEFAULT_INFERENCE, **(card.inference or {})}
        card.validate(source)
        return card

    def validate(self, source: str = "model card") -> None:
        """Raise ModelError unless the card is sound: known components and builders, an architecture that
        matches the pose network (none without one), our skeleton, sane sizes, a valid name."""
        from posefinder.models.nets import ARCHITECTURES

        if not isinstance(self.components, dict) or not self.components:
            raise ModelError(f"{source}: the model card names no network component")
        for comp, spec in self.components.items():
            if comp not in COMPONENT_BUILDERS:
                raise ModelError(f"{source}: unknown component {comp!r}; known: {', '.join(COMPONENT_BUILDERS)}")
            if not isinstance(spec, dict) or not isinstance(spec.get("kwargs", {}), dict):
                raise ModelError(f"{source}: component {comp!r} needs a builder and its kwargs")
            if spec.get("builder") not in COMPONENT_BUILDERS[comp]:
                raise ModelError(f"{source}: component {comp!r} cannot be built by {spec.get('builder')!r}")
        if "pose" in self.components:
            if self.architecture not in ARCHITECTURES:
                raise ModelError(
                    f"{source}: unknown architecture {self.architecture!r}; this PoseFinder knows "
                    + ", ".join(ARCHITECTURES)
                )
            if self.components["pose"]["builder"] != ARCHITECTURES[self.architecture]:
                raise ModelError(
                    f"{source}: architecture {self.architecture!r} does not match its pose builder "
                    f"{self.components['pose']['builder']!r}"
                )
        elif self.architecture:
            raise ModelError(f"{source}: architecture {self.architecture!r} but no pose network component")
        if list(self.keypoints) != list(skeleton.KEYPOINT_NAMES):
            raise ModelError(
                f"{source}: the model predicts a different skeleton ({len(self.keypoints)} keypoints) from "
                f"PoseFinder's {skeleton.NUM_KEYPOINTS}; export it with posefinder.models.skeleton's names"
            )
        for key in ("input_size", "heatmap_size", "segmenter_input_size"):
            value = getattr(self, key)
            if value is None and (key == "segmenter_input_size" or "pose" not in self.components):
                continue  # a pose model's input and heatmap sizes are required; the rest may be unknown
            if not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= 4096:
                raise ModelError(f"{source}: {key} must be a whole number of pixels, got {value!r}")
        for key in ("metrics", "inference", "normalisation"):
            if not isinstance(getattr(self, key), dict):
                raise ModelError(f"{source}: {key} must be a JSON object, got {type(getattr(self, key)).__name__}")
        if not _NAME_RE.match(str(self.name)):
            raise ModelError(f"{source}: model name {self.name!r} must be letters, digits, '.', '_' or '-'")

    @property
    def has_segmenter(self) -> bool:
        return "segmenter" in self.components

    @property
    def has_pose(self) -> bool:
        """Whether the file holds a pose network (only such files install as models)."""
        return "pose" in self.components


def _from_component_card(obj: dict) -> dict:
    """A card of the former component format as a model card without a pose network."""
    known = ("format", "format_version", "component", "builder", "kwargs")
    if not all(k in obj for k in known):
        missing = next(k for k in known if k not in obj)
        raise ModelError(f"component card: the card lacks or garbles {missing!r}")
    rest = {k: v for k, v in obj.items() if k not in known}
    return {
        **rest,
        "format": FORMAT,
        "format_version": 1,
        "architecture": "",
        "components": {obj["component"]: {"builder": obj["builder"], "kwargs": obj["kwargs"]}},
        "heatmap_size": rest.get("heatmap_size"),
        "input_size": rest.get("input_size"),
    }


def __getattr__(name: str):
    # ModelBundle is an nn.Module: imported on first use so that this module does not import torch.
    if name == "ModelBundle":
        from posefinder.models.nets.bundle import ModelBundle

        return ModelBundle
    raise AttributeError(name)


def make_card(
    bundle,
    *,
    name: str,
    training_data: Any = None,
    metrics: dict[str, Any] | None = None,
    description: str = "",
    segmenter_input_size: int | None = None,
    inference: dict[str, Any] | None = None,
    input_size: int | None = None,
    **extra: Any,
) -> ModelCard:
    """The card of a bundle whose components were built by posefinder.models.nets builders.

    input_size: the network's input size for a bundle without a pose network (a pose model's is its pose
    network's; giving another one is a ValueError).
    """
    from posefinder import __version__

    components = {}
    for comp, module in bundle.components().items():
        spec = getattr(module, "build_spec", None)
        if spec is None:
            raise ValueError(f"component {comp!r} was not built by a posefinder.models.nets builder (no build_spec)")
        components[comp] = spec
    pose = bundle.pose
    heatmap_size = None
    if pose is not None:
        if input_size is not None and input_size != int(pose.input_size):
            raise ValueError(f"input_size {input_size} contradicts the pose network's {int(pose.input_size)}")
        input_size, heatmap_size = int(pose.input_size), int(pose.heatmap_size)
        if segmenter_input_size is None and bundle.segmenter is not None:
            segmenter_input_size = 256  # the longer side; 320 costs 1.6x the time (benchmarks/estimators.py)
    card = ModelCard(
        name=name,
        architecture=pose.architecture if pose is not None else "",
        components=components,
        input_size=input_size,
        heatmap_size=heatmap_size,
        segmenter_input_size=segmenter_input_size,
        inference={**DEFAULT_INFERENCE, **(inference or {})},
        training_data=training_data,
        metrics=dict(metrics or {}),
        description=description,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        posefinder_version=__version__,
        extra=extra,
    )
    card.validate(f"model {name!r}")
    return card


def card_path(weights_path: str | Path) -> Path:
    return Path(weights_path).with_suffix(CARD_SUFFIX)


def save_model(path: str | Path, bundle, card: ModelCard | dict) -> Path:
    """Write bundle's weights to path (.safetensors) and its card beside it (.json), atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        raise ValueError(f"a model file ends with {WEIGHTS_SUFFIX}: {path}")
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    card.validate(str(path))
    state = {k: v.detach().cpu().contiguous().clone() for k, v in bundle.state_dict().items()}
    text = _card_json(card)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT, METADATA_KEY: text})
    write_text(card_path(path), text + "\n")
    return path


def _card_json(card: ModelCard) -> str:
    return json.dumps(card.to_dict(), indent=1, sort_keys=False, default=_json_default)


def _json_default(value):
    """numpy scalars and arrays, and paths, as JSON (what training code puts into cards)."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalars and arrays, without importing numpy
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_arrays(path: str | Path, state: dict, card: ModelCard) -> Path:
    """save_model for weights already in numpy (converted checkpoints): no torch needed."""
    from safetensors.numpy import save_file

    path = Path(path)
    card.validate(str(path))
    text = _card_json(card)
    with atomic_path(path) as tmp:
        save_file({k: np.require(v, requirements="C") for k, v in state.items()}, str(tmp),
                  metadata={"format": FORMAT, METADATA_KEY: text})  # fmt: skip
    write_text(card_path(path), text + "\n")
    return path


def write_card(weights_path: str | Path, card: ModelCard) -> None:
    """Rewrite the JSON card beside an installed model file."""
    write_text(card_path(weights_path), _card_json(card) + "\n")


def read_card(path: str | Path) -> ModelCard:
    """The card of a model file: the JSON beside it, else the copy embedded in the safetensors header."""
    path = Path(path)
    if path.suffix == CARD_SUFFIX:
        path = path.with_suffix(WEIGHTS_SUFFIX)
    cpath = card_path(path)
    if cpath.is_file():
        try:
            obj = json.loads(cpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{cpath}: unreadable model card ({exc})") from None
        return ModelCard.from_dict(obj, str(cpath))
    meta = _metadata(path)
    key = next((k for k in (METADATA_KEY, LEGACY_COMPONENT_KEY) if k in meta), None)
    if key is None:
        raise ModelError(f"{path}: no model card (expected {cpath.name} beside it); export it with save_model")
    try:
        obj = json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the embedded model card is not JSON ({exc})") from None
    return ModelCard.from_dict(obj, str(path))


def _check_weights_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.suffix != WEIGHTS_SUFFIX:
        raise ModelError(
            f"{path}: a PoseFinder model is a {WEIGHTS_SUFFIX} file (pickled .pt/.ckpt files are refused; "
            "the paper authors' .ckpt files are converted by `posefinder models import`)"
        )
    if not path.is_file():
        raise ModelError(f"{path}: is not a file")


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    _check_weights_file(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for broken headers
        raise ModelError(f"{path}: not a readable safetensors file ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__


def stored_values(path: str | Path) -> int:
    """How many values (parameters and buffers) a model file stores, from its header (nothing loaded)."""
    from safetensors import safe_open

    path = Path(path)
    _check_weights_file(path)
    total = 0
    try:
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    except Exception as exc:  # safetensors raises its own error types for broken headers
        raise ModelError(f"{path}: not a readable safetensors file ({_short(exc)})") from None
    return total


def load_model(path: str | Path) -> tuple[dict, ModelCard]:
    """(state dict, card) of a model file, read with safetensors only; ModelError when either is broken."""
    from safetensors.torch import load_file

    path = Path(path)
    card = read_card(path)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({_short(exc)})") from None
    return state, card


def _build_component(card: ModelCard, comp: str):
    from posefinder.models import nets

    spec = card.components[comp]
    kwargs = {k: v for k, v in spec.get("kwargs", {}).items() if k not in nets.NOT_ARCHITECTURE}
    try:
        return nets.create_model(spec["builder"], **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"model {card.name!r}: cannot build its {comp} network ({_short(exc)}); "
            "it was probably made by another PoseFinder version"
        ) from None


def build_bundle(card: ModelCard):
    """The card's networks with random weights (exactly the saved architecture; nothing downloaded)."""
    modules = {comp: _build_component(card, comp) for comp in card.components}
    pose = modules.get("pose")
    if pose is not None and (pose.input_size, pose.heatmap_size) != (card.input_size, card.heatmap_size):
        raise ModelError(f"model {card.name!r}: its card's input/heatmap sizes contradict its pose network's")
    from posefinder.models.nets.bundle import ModelBundle

    return ModelBundle(pose, modules.get("segmenter"), modules.get("tagger"))


def load_component(path: str | Path, component: str):
    """(network, card) of one component of a network file ("tagger", "segmenter" or "pose"): built from the
    card, only that component's tensors read and loaded strictly; ModelError when the file has none."""
    from safetensors import safe_open

    path = Path(path)
    card = read_card(path)
    if component not in card.components:
        held = " and ".join(card.components)
        raise ModelError(f"{path}: holds a {held}, not a {component}")
    module = _build_component(card, component)
    prefix = component + "."
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    except Exception as exc:  # safetensors raises its own error types for broken files
        raise ModelError(f"{path}: not a readable safetensors file ({_short(exc)})") from None
    load_state_strict(module, state, str(path))
    return module, card


def load_state_strict(module, state: dict, source: str) -> None:
    """Load state into module, refusing missing, unexpected or wrongly shaped tensors with one clear message."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        problems.append(
            f"{len(wrong)} with the wrong shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
            f"{tuple(own[k].shape)} in the network)"
        )
    if problems:
        raise ModelError(
            f"{source}: the weights do not fit the architecture its card names: "
            + "; ".join(problems)
            + "; re-export the model with save_model"
        )
    dtypes = [k for k in own if state[k].dtype != own[k].dtype and not state[k].is_floating_point()]
    if dtypes:
        raise ModelError(f"{source}: tensor {dtypes[0]} has type {state[dtypes[0]].dtype}, expected {own[dtypes[0]].dtype}")
    module.load_state_dict(state, strict=True)


def load_bundle(path: str | Path, device: str = "cpu"):
    """(bundle in eval mode on device, card) of a model file: build from the card, strict load."""
    path = Path(path)
    state, card = load_model(path)
    bundle = build_bundle(card)
    load_state_strict(bundle, state, str(path))
    bundle.eval()
    return bundle.to(device), card


# -- the store of installed models -----------------------------------------------------------------


@dataclass
class InstalledModel:
    """A model in the store. card is None (and error says why) when its files are broken."""

    name: str
    weights_path: Path
    card: ModelCard | None
    installed_at: str = ""
    error: str = ""

    @property
    def architecture(self) -> str:
        return self.card.architecture if self.card else ""


class ModelStore:
    """Installed models: NAME.safetensors + NAME.json pairs in the user's models folder (paths.models_dir()).

    The card copy in the store carries "installed_at"; when several models of one architecture are
    installed, the most recently installed one is the chain's choice, unless use(name) chose one
    (in-use.json: `posefinder models use NAME`, fine-tuning); installing a model clears that choice.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.models_dir()

    def weights_path(self, name: str) -> Path:
        return self.root / f"{name}{WEIGHTS_SUFFIX}"

    def install(self, path: str | Path, name: str | None = None, progress=None) -> InstalledModel:
        """Validate a model file (card, skeleton, build, strict load) and copy it into the store, with the
        ONNX graphs of its networks (onnx_graphs.make_graphs: templates filled with its weights, checked).

        Without torch the graphs are the check (every weight a graph needs, with its shape and type), and a
        model without graphs is refused (it could not run). A file that fails any check is refused with a
        ModelError and nothing is written. Installing under an existing name replaces that model.
        """
        from posefinder.models import onnx_graphs
        from posefinder.models.estimators.base import torch_installed

        path = Path(path)
        _check_weights_file(path)
        card = read_card(path)
        if not card.has_pose:
            raise ModelError(
                f"{path}: holds only a {' and '.join(card.components)} network, not a pose model; it is a part for "
                "training (posefinder-train pose --tagger/--segmenter FILE)"
            )
        name = name or card.name or path.stem
        if not _NAME_RE.match(name):
            raise ModelError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (use --name)")
        if name in RESERVED_NAMES:
            raise ModelError(f"{name!r} names an estimator of the chain; install the model under another --name")
        if torch_installed():
            state, card = load_model(path)
            bundle = build_bundle(card)
            load_state_strict(bundle, state, str(path))
            del bundle, state
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.weights_path(name)
        staged = temporary_name(target)
        graphs = onnx_graphs.make_graphs(path, card, staged, source_graphs=path)  # ModelError: nothing kept
        if not graphs and not torch_installed():
            from posefinder.models.estimators.onnx_model import NEEDS_TORCH

            raise ModelError(f"{path}: cannot install without torch: {NEEDS_TORCH}")
        card.name = name
        stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        card.extra["installed_at"] = stamp
        card.extra["installed_from"] = str(path.resolve())
        try:
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
                for component in ("pose", "segmenter"):
                    old = onnx_graphs.graph_path(target, component)
                    if component in graphs:
                        move_into_place(graphs[component], old)
                    else:
                        old.unlink(missing_ok=True)  # a replaced model's graph that the new one lacks
        finally:
            for made in graphs.values():
                made.unlink(missing_ok=True)
        write_text(card_path(target), _card_json(card) + "\n")
        self.clear_use()  # the newly installed model is auto-pose's choice again (the newest rule)
        return InstalledModel(name, target, card, stamp)

    def list(self) -> list[InstalledModel]:
        """Installed models, most recently installed first (broken ones last, with their error)."""
        out: list[InstalledModel] = []
        if not self.root.is_dir():
            return out
        for wpath in sorted(self.root.glob(f"*{WEIGHTS_SUFFIX}")):
            if is_temporary(wpath):
                continue
            name = wpath.stem
            try:
                card = read_card(wpath)
                out.append(InstalledModel(name, wpath, card, str(card.extra.get("installed_at", ""))))
            except ModelError as exc:
                out.append(InstalledModel(name, wpath, None, "", str(exc)))
        good = sorted((m for m in out if m.card), key=lambda m: (m.installed_at, m.name), reverse=True)
        return good + [m for m in out if not m.card]

    def get(self, name: str) -> InstalledModel:
        for model in self.list():
            if model.name == name:
                if model.card is None:
                    raise ModelError(f"installed model {name!r} is broken: {model.error}")
                return model
        raise ModelError(f"no installed model named {name!r}; `posefinder models list` shows them")

    def newest(self, architecture: str) -> InstalledModel | None:
        """The model of an architecture that auto-pose uses: the one chosen with use() when it is of that
        architecture, else the most recently installed sound one, or None."""
        chosen = self.in_use()
        if chosen is not None and chosen.architecture == architecture:
            return chosen
        for model in self.list():
            if model.card is not None and model.architecture == architecture:
                return model
        return None

    # -- the model in use ---------------------------------------------------------------------------------
    @property
    def in_use_path(self) -> Path:
        return self.root / IN_USE_FILE

    def use(self, name: str) -> InstalledModel:
        """Make an installed model the one auto-pose uses (before the chain's order and the newest rule),
        e.g. to go back to the version a fine-tuned model came from; ModelError when it is absent or broken."""
        model = self.get(name)
        self.root.mkdir(parents=True, exist_ok=True)
        write_text(self.in_use_path, json.dumps({"name": model.name}) + "\n")
        return model

    def clear_use(self) -> None:
        """Back to the default choice (the chain's order, the newest installed model of an architecture)."""
        self.in_use_path.unlink(missing_ok=True)

    def in_use_name(self) -> str | None:
        """The name use() chose, whether or not that model is still installed and sound."""
        try:
            obj = json.loads(self.in_use_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        name = obj.get("name") if isinstance(obj, dict) else None
        return name if isinstance(name, str) and _NAME_RE.match(name) else None

    def in_use(self) -> InstalledModel | None:
        """The model use() chose, when it is still installed and sound; else None (the default choice)."""
        name = self.in_use_name()
        if name is None:
            return None
        for model in self.list():
            if model.name == name and model.card is not None:
                return model
        return None

    def info(self, name: str) -> ModelCard:
        return self.get(name).card  # type: ignore[return-value]

    def remove(self, name: str) -> None:
        wpath = self.weights_path(name)
        if not _NAME_RE.match(name) or not (wpath.exists() or card_path(wpath).exists()):
            raise ModelError(f"no installed model named {name!r}; `posefinder models list` shows them")
        from posefinder.models.onnx_graphs import graph_path

        if self.in_use_name() == name:
            self.clear_use()
        for p in (wpath, card_path(wpath), graph_path(wpath, "pose"), graph_path(wpath, "segmenter")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ModelError(f"cannot remove {p}: {exc.strerror}") from None
        from posefinder.models.estimators.onnx_runtime import forget

        forget(wpath)  # its cached graphs (torch's exports, templates filled for another segmenter stride)

