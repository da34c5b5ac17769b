"""`posefinder models import`: the authors' released checkpoints -> installed PoseFinder model files.

    report = import_release([Path("bizarre_pose_models.zip")], ModelStore())

1. gather the files (sources.py) and read every checkpoint's pickle with the restricted reader (tensors
   stay unread): a file whose pickle would run anything stops the import before anything is written;
2. recognise each (recognise.py); every pose checkpoint becomes one model `architecture.tag`, with the
   release's segmenter and tagger (+ its rulebook's class names) beside it when they are among the inputs;
3. a model whose card already records the same source files (sha256) is "already installed" and left as is;
4. otherwise its checkpoints are converted one at a time (convert.py, numpy only), written as safetensors +
   card into a temporary file and installed by the ModelStore (which checks it like any model file).
Peak memory is one model's tensors plus their converted copy.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from posefinder.models.checkpoints import convert, provenance
from posefinder.models.checkpoints.reader import CheckpointError, CheckpointReader, LazyArray, lookup
from posefinder.models.checkpoints.recognise import (
    FEATURE_CONCATENATION,
    FEATURE_MATCHING,
    SEGMENTER,
    TAGGER,
    model_tag,
    recognise,
)
from posefinder.models.checkpoints.sources import RULEBOOK_SUFFIX, SourceFile, gather

#: Why feature concatenation is not imported (issue 11 point 5; paper-weights.md 3.3).
CONCAT_SKIPPED = (
    "feature concatenation runs detectron2's R101-FPN Keypoint R-CNN (stride in the 1x1 convs, FrozenBN "
    "eps 1e-5, BGR pixel means, aligned RoIAlign), which PoseFinder's task source does not reproduce yet; "
    "import feat_match+data.ckpt instead (OKS@50 0.8953 against 0.8982, 9.9M parameters)"
)


#: The builders' keywords of the imported networks (paper-weights.md sections 3.1, 3.5): the pose net
#: without antialiasing (sizes from the file's hyper_parameters, these where it has none), the segmenter
#: at depth 101 with the authors' head. `posefinder-train onnx-templates` exports these variants.
POSE_KWARGS = {"input_size": 256, "heatmap_size": 128, "tagger_input_size": 256, "antialias": False}
SEGMENTER_KWARGS = {"depth": 101, "head": "chen2022"}


@dataclass
class Checkpoint:
    source: SourceFile
    kind: str
    state: dict[str, LazyArray]
    hparams: Any
    reader: CheckpointReader
    handle: Any

    @property
    def stem(self) -> str:
        return PurePosixPath(self.source.relpath).stem

    def release(self) -> None:
        for storage in self.reader._storages.values():
            storage.release()


@dataclass
class ImportReport:
    installed: list[tuple[str, str]] = field(default_factory=list)  # (model name, what it holds)
    already: list[tuple[str, str]] = field(default_factory=list)  # (model name, path)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)


def _hp(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        obj = lookup(obj, name)
        if obj is None:
            return default
    return obj


def _read(source: SourceFile) -> Checkpoint | str:
    """A recognised checkpoint, or why it is skipped. CheckpointError for an unsafe or broken file."""
    handle = source.open()
    reader = CheckpointReader(handle, source.name)
    obj = reader.load()
    state = lookup(obj, "state_dict") if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, LazyArray) for v in state.values()):
        handle.close()
        return "no state_dict of tensors in it (not a Lightning checkpoint)"
    kind = recognise(state)
    if kind is None:
        handle.close()
        return "not one of the released models (its keys match none of them)"
    return Checkpoint(source, kind, state, lookup(obj, "hyper_parameters"), reader, handle)


def _target(builder: str, kwargs: dict, component: str, theirs: dict[str, LazyArray]):
    """(build spec, our key -> (shape, dtype)) of a component. With torch: the builder's own, built on the
    meta device (nothing allocated); without: every keyword as the template of resources/onnx built for
    these records it, and the shapes from the file through the key map (the store's install then checks
    every weight against the template's graph)."""
    try:
        import torch

        from posefinder.models import nets
    except ImportError:
        rename = convert.RENAME[component]
        shapes = {}
        for key, array in theirs.items():
            ours = rename(key)
            if ours is not None:
                shape = (1,) + array.shape[1:] if ours in ("refine.6.weight", "refine.6.bias") else array.shape
                shapes[ours] = (tuple(shape), array.dtype.str)
        return {"builder": builder, "kwargs": template_kwargs(builder, kwargs)}, shapes
    with torch.device("meta"):
        module = nets.create_model(builder, **kwargs)
    dtypes = {torch.float32: "<f4", torch.int64: "<i8", torch.float16: "<f2", torch.float64: "<f8"}
    shapes = {k: (tuple(v.shape), dtypes[v.dtype]) for k, v in module.state_dict().items()}
    return module.build_spec, shapes


def template_kwargs(builder: str, kwargs: dict, folder: Path | None = None) -> dict:
    """Every keyword of a builder called with kwargs, its defaults included (what its build_spec records),
    read without torch from the ONNX templates exported for such a network: the one set of keywords of the
    templates of that builder that agree with kwargs; kwargs as given where none (or several) do."""
    import onnx

    from posefinder.models import onnx_graphs

    found: dict[str, dict] = {}
    for path in sorted((folder or onnx_graphs.template_dir()).glob(f"{builder}-*.onnx")):
        meta = onnx_graphs.template_meta(onnx.load(str(path)), str(path))
        if meta["builder"] == builder and all(meta["kwargs"].get(k, object()) == v for k, v in kwargs.items()):
            found[json.dumps(meta["kwargs"], sort_keys=True)] = meta["kwargs"]
    return next(iter(found.values())) if len(found) == 1 else dict(kwargs)


def _pose_kwargs(ckpt: Checkpoint) -> dict:
    size = int(_hp(ckpt.hparams, "largs", "danbooru_coco", "size", default=256))
    heatmap = int(_hp(ckpt.hparams, "margs", "size", default=128))
    return {**POSE_KWARGS, "input_size": size, "heatmap_size": heatmap}


def _rulebook(tagger: Checkpoint, rulebooks: list[SourceFile]) -> tuple[SourceFile, list[str]] | str:
    rows = int(tagger.state["resnet.fc.weight"].shape[0])
    sfw = _hp(tagger.hparams, "largs", "danbooru_sfw")
    wanted = f"{_hp(sfw, 'filter_subset')}_{_hp(sfw, 'filter_rules')}{RULEBOOK_SUFFIX}" if sfw is not None else None
    ordered = sorted(rulebooks, key=lambda r: PurePosixPath(r.relpath).name != wanted)
    for book in ordered:
        try:
            with book.open() as f:
                rules = json.loads(f.read().decode("utf-8"))
            names = [str(r["name"]) for r in rules]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{book.name}: not a rulebook (a JSON list of rules with names: {exc})") from None
        if len(names) == rows:
            return book, names
    return f"no rulebook with its {rows} class names among the inputs (expected {wanted or '*_rules.json'})"


def import_release(paths: list[Path], store, progress: Callable[[float, str], None] | None = None) -> ImportReport:
    """Import the authors' models found in paths into store (a weights.ModelStore); see the module doc."""
    report = ImportReport()
    say = progress or (lambda fraction, message: None)
    found = gather(list(paths))
    report.skipped += found.skipped
    checkpoints: list[Checkpoint] = []
    try:
        for i, source in enumerate(found.checkpoints):
            say(0.05 * i / max(1, len(found.checkpoints)), f"reading {source.name}")
            result = _read(source)  # a CheckpointError here stops everything: nothing written yet
            if isinstance(result, str):
                report.skipped.append((source.name, result))
            else:
                checkpoints.append(result)
        _import(checkpoints, found.rulebooks, store, report, say)
    finally:
        for ckpt in checkpoints:
            ckpt.handle.close()
    if not found.checkpoints and not report.skipped:
        report.skipped.append((", ".join(map(str, paths)), "no checkpoint found"))
    return report


def _import(checkpoints, rulebooks, store, report: ImportReport, say) -> None:
    by_kind: dict[str, list[Checkpoint]] = {}
    for ckpt in checkpoints:
        by_kind.setdefault(ckpt.kind, []).append(ckpt)
    for ckpt in by_kind.get(FEATURE_CONCATENATION, []):
        report.skipped.append((ckpt.source.name, CONCAT_SKIPPED))
    poses = by_kind.get(FEATURE_MATCHING, [])
    segmenter = (by_kind.get(SEGMENTER) or [None])[0]
    tagger = (by_kind.get(TAGGER) or [None])[0]
    for extra in by_kind.get(SEGMENTER, [])[1:] + by_kind.get(TAGGER, [])[1:]:
        report.skipped.append((extra.source.name, "a second segmenter or tagger; the first one found is used"))
    tagger_names = None
    if tagger is not None:
        found = _rulebook(tagger, rulebooks)
        if isinstance(found, str):
            report.skipped.append((tagger.source.name, found))
            tagger = None
        else:
            tagger_names = found
    if not poses:
        for part in (segmenter, tagger):
            if part is not None:
                report.skipped.append((part.source.name, "a model needs a pose network: import it together with "
                                       "feat_match+data.ckpt (or the whole zip)"))  # fmt: skip
        return
    for n, pose in enumerate(poses):
        start, span = 0.05 + 0.95 * n / len(poses), 0.95 / len(poses)
        _import_one(pose, segmenter, tagger, tagger_names, store, report, lambda f, m: say(start + span * f, m))


def _import_one(pose, segmenter, tagger, tagger_names, store, report: ImportReport, say) -> None:
    from posefinder.models import weights

    name = f"{pose.kind}.{model_tag(pose.stem)}"
    parts = [("pose", pose)] + [(c, k) for c, k in (("segmenter", segmenter), ("tagger", tagger)) if k is not None]
    files = []
    for i, (role, ckpt) in enumerate(parts):
        say(0.3 * i / len(parts), f"{name}: checksum of {ckpt.source.name}")
        files.append({"role": role, "file": ckpt.source.relpath, "bytes": ckpt.source.size,
                      "sha256": ckpt.source.sha256()})  # fmt: skip
    if tagger_names is not None:
        book = tagger_names[0]
        files.append({"role": "rulebook", "file": book.relpath, "bytes": book.size, "sha256": book.sha256()})
    existing = next((m for m in store.list() if m.name == name and m.card is not None), None)
    if existing is not None and existing.card.extra.get("source", {}).get("files") == files:
        report.already.append((name, str(existing.weights_path)))
        return
    state: dict[str, np.ndarray] = {}
    components: dict[str, dict] = {}
    for i, (role, ckpt) in enumerate(parts):
        say(0.3 + 0.5 * i / len(parts), f"{name}: converting {ckpt.source.name}")
        if role == "pose":
            builder, kwargs = "pose_matching", _pose_kwargs(ckpt)
        elif role == "segmenter":
            builder, kwargs = "segmenter", dict(SEGMENTER_KWARGS)
        else:
            builder, kwargs = "tagger", {"num_classes": int(ckpt.state["resnet.fc.weight"].shape[0])}
        spec, target = _target(builder, kwargs, role, ckpt.state)
        converted = convert.convert(role, ckpt.state, target, ckpt.source.name)
        ckpt.release()
        state.update({f"{role}.{k}": v for k, v in converted.items()})
        del converted
        components[role] = spec
    card = _card(name, pose, segmenter if "segmenter" in components else None, components, files, tagger_names)
    say(0.85, f"{name}: installing")
    with tempfile.TemporaryDirectory(prefix=".import-", dir=_scratch(store)) as tmp:
        path = weights.save_arrays(Path(tmp) / f"{name}{weights.WEIGHTS_SUFFIX}", state, card)
        del state
        installed = store.install(path, name=name)
    installed.card.extra["installed_from"] = pose.source.name  # not the scratch file it was installed from
    weights.write_card(installed.weights_path, installed.card)
    say(1.0, f"{name}: installed")
    what = " + ".join(components) + (f" ({len(tagger_names[1])} tags)" if tagger_names else "")
    report.installed.append((installed.name, what))


def _scratch(store) -> str:
    root = Path(store.root)
    root.mkdir(parents=True, exist_ok=True)
    return str(root)


def _card(name, pose: Checkpoint, segmenter: Checkpoint | None, components, files, tagger_names):
    from posefinder.models import weights

    padding = float(_hp(pose.hparams, "largs", "danbooru_coco", "padding", default=0.1))
    inference = {
        "padding": padding / 2,  # theirs is the total of both sides
        "fill": [0, 0, 0],
        "midpoints": "endpoints",  # the 8 extra channels' order is undocumented: rebuilt from the endpoints
    }
    seg_size = None
    if segmenter is not None:
        seg_size = int(_hp(segmenter.hparams, "largs", "bg_seg", "size", default=256))
        inference.update({"segmenter_resize": "shorter", "segmenter_fill": [255, 255, 255]})
    tag = model_tag(pose.stem)
    extra: dict[str, Any] = {
        "source": {**provenance.RELEASE, "files": files},
        "reported_by_authors": provenance.REPORTED.get(pose.stem, {}),
        "licence": provenance.LICENCE,
        "verified": "function checked against a reference forward written from the authors' description",
    }
    if tagger_names is not None:
        extra["tagger_classes"] = tagger_names[1]
    card = weights.ModelCard(
        name=name,
        architecture=pose.kind,
        components=components,
        input_size=int(components["pose"]["kwargs"]["input_size"]),
        heatmap_size=int(components["pose"]["kwargs"]["heatmap_size"]),
        segmenter_input_size=seg_size,
        inference={**weights.DEFAULT_INFERENCE, **inference},
        training_data={"by": provenance.RELEASE["authors"], "data": provenance.TRAINING_DATA[tag]},
        metrics={},
        description=f"The authors' released {pose.stem} model, imported from {pose.source.name}",
        created=_now(),
        posefinder_version=_version(),
        extra=extra,
    )
    card.validate(f"model {name!r}")
    return card


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from posefinder import __version__

    return __version__
