"""The installed illustration tagger (paper section 3.2), found, loaded and run on library images.

A tagger comes from one of two places, newest first:
- a tagger file trained by `posefinder-train tagger` (a "posefinder-component" safetensors file whose card
  carries `classes`, and `input_size`), installed with `posefinder tags --install FILE` into the model
  store's taggers/ folder;
- an installed model file with a "tagger" component whose card names its classes (`tagger_classes`): the
  authors' tagger imported with `posefinder models import`.

ImageTagger runs it on CPU: the image letterboxed (aspect kept) onto a white input_size square in numpy
(as the tagger was trained), the network in ONNX Runtime where installed (exported once per file,
onnx_runtime.py), in PyTorch otherwise. tag(image) -> {class name: sigmoid score} of the scores at least
FLOOR: the library stores those, so the threshold can change later without re-running the tagger.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posefinder.models import paths
from posefinder.models.errors import ModelError

#: Scores below this are not stored (the threshold of a search can be changed above it).
FLOOR = 0.05

#: Default threshold of a tagger whose card names none (the paper's: sigmoid >= 0.5).
DEFAULT_THRESHOLD = 0.5

#: Input size of a tagger whose card names none (the paper's tagger runs at 256 px).
DEFAULT_INPUT_SIZE = 256

#: Where standalone taggers live, under the model store.
TAGGERS_FOLDER = "taggers"

COMPONENT_FORMAT = "posefinder-component"

#: What indexing says once when no tagger is installed.
NO_TAGGER_HINT = (
    "tags are off: no tagger is installed; train one with `posefinder-train tagger` and install it with "
    "`posefinder tags --install FILE`, or import the paper's with `posefinder models import`"
)


@dataclass(frozen=True)
class TaggerInfo:
    """An installed tagger: its name, version (when its file was made), file, classes and settings."""

    name: str
    version: str
    path: Path
    classes: tuple[str, ...]
    threshold: float
    input_size: int
    builder: str
    kwargs: dict
    prefix: str  # key prefix of its tensors in the file ("tagger.")
    stamp: str = ""  # when it was installed (newest wins)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def _read_meta(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return dict(f.metadata() or {})
    except Exception as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({str(exc).strip()[:200]})") from None


def read_tagger_file(path: str | Path, stamp: str = "") -> TaggerInfo:
    """The TaggerInfo of a tagger file or of a model file holding a tagger; ModelError when it is neither."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.suffix != ".safetensors":
        raise ModelError(f"{path}: a tagger is a .safetensors file (pickled files are refused)")
    meta = _read_meta(path)
    if "posefinder_component" in meta:
        card = json.loads(meta["posefinder_component"])
        if card.get("component") != "tagger":
            raise ModelError(f"{path}: holds a {card.get('component')}, not a tagger")
        spec, classes = card, card.get("classes")
        threshold = card.get("tag_threshold", DEFAULT_THRESHOLD)
    elif "posefinder_card" in meta:
        card = json.loads(meta["posefinder_card"])
        spec = card.get("components", {}).get("tagger")
        if spec is None:
            raise ModelError(f"{path}: the model file has no tagger")
        classes = card.get("tagger_classes") or card.get("extra", {}).get("tagger_classes")
        threshold = card.get("tag_threshold", DEFAULT_THRESHOLD)
    else:
        raise ModelError(f"{path}: not a PoseFinder tagger (no card in its metadata)")
    if spec.get("builder") != "tagger":
        raise ModelError(f"{path}: its tagger is built by {spec.get('builder')!r}, not 'tagger'")
    num = spec.get("kwargs", {}).get("num_classes")
    if not classes or not isinstance(classes, list) or (num is not None and len(classes) != int(num)):
        raise ModelError(f"{path}: the tagger's card does not name its {num or ''} classes")
    return TaggerInfo(
        name=str(card.get("name") or path.stem), version=str(card.get("created") or path.stat().st_mtime_ns),
        path=path, classes=tuple(str(c) for c in classes), threshold=float(threshold),
        input_size=int(card.get("input_size") if "posefinder_component" in meta and card.get("input_size") else DEFAULT_INPUT_SIZE),
        builder="tagger", kwargs=dict(spec.get("kwargs", {})), prefix="tagger.", stamp=stamp,
    )  # fmt: skip


def taggers_dir(root: str | Path | None = None) -> Path:
    return Path(root if root is not None else paths.models_dir()) / TAGGERS_FOLDER


def installed_taggers(root: str | Path | None = None) -> list[TaggerInfo]:
    """Installed taggers, most recently installed first (files that are not sound taggers are left out)."""
    from posefinder.models.weights import ModelStore

    found: list[TaggerInfo] = []
    folder = taggers_dir(root)
    for p in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        if p.name.startswith(".tmp-"):
            continue
        try:
            found.append(read_tagger_file(p, stamp=str(p.stat().st_mtime_ns).zfill(24)))
        except ModelError:
            continue
    for model in ModelStore(root).list():
        if model.card is None or "tagger" not in model.card.components:
            continue
        try:
            info = read_tagger_file(model.weights_path)
        except ModelError:
            continue
        found.append(TaggerInfo(**{**info.__dict__, "name": model.name, "stamp": str(model.weights_path.stat().st_mtime_ns).zfill(24)}))
    return sorted(found, key=lambda t: (t.stamp, t.name), reverse=True)


def newest_tagger(root: str | Path | None = None) -> TaggerInfo | None:
    found = installed_taggers(root)
    return found[0] if found else None


def install_tagger(path: str | Path, root: str | Path | None = None) -> TaggerInfo:
    """Check a tagger file (card, classes, a strict load) and copy it into the store; nothing is written
    when it fails a check. Installing under an existing name replaces that tagger."""
    info = read_tagger_file(path)
    load_network(info)
    folder = taggers_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(path).stem}.safetensors"
    tmp = target.with_name(".tmp-" + target.name)
    shutil.copyfile(path, tmp)
    tmp.replace(target)
    return read_tagger_file(target, stamp=str(target.stat().st_mtime_ns).zfill(24))


def load_network(info: TaggerInfo):
    """The tagger's network (eval mode, CPU), built from its card and loaded strictly."""
    from safetensors.torch import load_file

    from posefinder.models import nets
    from posefinder.models.weights import load_state_strict

    state = load_file(str(info.path), device="cpu")
    own = {k[len(info.prefix):]: v for k, v in state.items() if k.startswith(info.prefix)}
    kwargs = {k: v for k, v in info.kwargs.items() if k not in nets.NOT_ARCHITECTURE}
    module = nets.create_model(info.builder, **kwargs)
    load_state_strict(module, own, str(info.path))
    return module.eval()


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """(1, 3, size, size) float32 in [0, 1]: the RGB image scaled to fit (aspect kept) onto white."""
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(np.ascontiguousarray(image[..., :3]), (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    y, x = (size - nh) // 2, (size - nw) // 2
    canvas[y : y + nh, x : x + nw] = resized
    return (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


class ImageTagger:
    """An installed tagger ready to run: tag(image) -> {class: score >= FLOOR}. runtime: which runs the
    network: "onnxruntime" or "torch"."""

    def __init__(self, info: TaggerInfo, runtime: str | None = None) -> None:
        from posefinder.models.estimators import onnx_runtime

        self.info = info
        self._module = load_network(info)
        self._run = self._module
        self.runtime = "torch"
        if onnx_runtime.wanted(self._module, "cpu", runtime):
            network = onnx_runtime.onnx_network(self._module, info.path, "tagger", info.input_size)
            if network is not None:
                self._run, self.runtime = network, "onnxruntime"
        self._names = np.array(info.classes, dtype=object)

    def scores(self, image: np.ndarray) -> np.ndarray:
        """Sigmoid scores of every class for one (H, W, 3) uint8 image."""
        import torch

        x = torch.from_numpy(letterbox(image, self.info.input_size))
        with torch.inference_mode():
            logits = self._run(x)
        return 1.0 / (1.0 + np.exp(-logits.float().numpy()[0].astype(np.float64)))

    def tag(self, image: np.ndarray) -> dict[str, float]:
        s = self.scores(image)
        keep = np.flatnonzero(s >= FLOOR)
        return {str(self._names[i]): float(s[i]) for i in keep}
