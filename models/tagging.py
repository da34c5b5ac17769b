"""The installed illustration tagger (paper section 3.2), found, loaded and run on library images.

A tagger comes from one of two places, newest first:
- a tagger file trained by `posefinder-train tagger` (a model file with a tagger and no pose network whose
  card carries `classes` and the tagger's `input_size`), installed with `posefinder tags --install FILE` into the model
  store's taggers/ folder;
- an installed model file with a "tagger" component whose card names its classes (`tagger_classes`): the
  authors' tagger imported with `posefinder models import`.

ImageTagger runs it on CPU: the image letterboxed (aspect kept) onto a white input_size square in numpy
(as the tagger was trained), the network in ONNX Runtime where installed (exported once per file,
onnx_runtime.py), in PyTorch otherwise. tag(image) -> {class name: sigmoid score} of the scores at least
FLOOR: the library stores those, so the threshold can change later without re-running the tagger.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posefinder.models import paths
from posefinder.models.atomic import atomic_path
from posefinder.models.errors import ModelError

#: Scores below this are not stored (the threshold of a search can be changed above it).
FLOOR = 0.05

#: Default threshold of a tagger whose card names none (the paper's: sigmoid >= 0.5).
DEFAULT_THRESHOLD = 0.5

#: Input size of a tagger whose card names none (the paper's tagger runs at 256 px).
DEFAULT_INPUT_SIZE = 256

#: Where standalone taggers live, under the model store.
TAGGERS_FOLDER = "taggers"

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
    stamp: str = ""  # when it was installed (newest wins)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def read_tagger_file(path: str | Path, stamp: str = "") -> TaggerInfo:
    """The TaggerInfo of a tagger file (a model file with a tagger and no pose network, as
    `posefinder-train tagger` writes) or of a model file holding a tagger; ModelError when it is neither
    or its card does not name the tagger's classes."""
    from posefinder.models.weights import read_card

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    card = read_card(path)
    spec = card.components.get("tagger")
    if spec is None:
        raise ModelError(f"{path}: the model file has no tagger")
    classes = card.extra.get("classes") or card.extra.get("tagger_classes")
    num = spec.get("kwargs", {}).get("num_classes")
    if not classes or not isinstance(classes, list) or (num is not None and len(classes) != int(num)):
        raise ModelError(f"{path}: the tagger's card does not name its {num or ''} classes")
    size = card.input_size if not card.has_pose and card.input_size else card.extra.get("tagger_input_size")
    return TaggerInfo(
        name=str(card.name or path.stem), version=str(card.created or path.stat().st_mtime_ns), path=path,
        classes=tuple(str(c) for c in classes), threshold=float(card.extra.get("tag_threshold", DEFAULT_THRESHOLD)),
        input_size=int(size or DEFAULT_INPUT_SIZE), stamp=stamp,
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
            info = read_tagger_file(model.weights_path, stamp=str(model.weights_path.stat().st_mtime_ns).zfill(24))
        except ModelError:
            continue
        found.append(dataclasses.replace(info, name=model.name))
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
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return read_tagger_file(target, stamp=str(target.stat().st_mtime_ns).zfill(24))


def load_network(info: TaggerInfo):
    """The tagger's network (eval mode, CPU), built from its card and loaded strictly."""
    from posefinder.models.weights import load_component

    module, _ = load_component(info.path, "tagger")
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
        from posefinder.models.estimators.onnx_runtime import OrtNetwork

        x = letterbox(image, self.info.input_size)
        if isinstance(self._run, OrtNetwork):  # numpy in and out
            logits = np.asarray(self._run(x), dtype=np.float64)
        else:
            import torch

            with torch.inference_mode():
                logits = self._run(torch.from_numpy(x)).float().numpy().astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits[0]))

    def tag(self, image: np.ndarray) -> dict[str, float]:
        s = self.scores(image)
        keep = np.flatnonzero(s >= FLOOR)
        return {str(self._names[i]): float(s[i]) for i in keep}
