"""`posefinder models`: the estimator chain (what auto-pose uses, and why the others cannot run) and the
installed model files: list, install, import (the authors' released checkpoints), info, use (the model
auto-pose uses), remove, fetch keypoint-rcnn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HELP = "list, install, import, inspect, choose and remove pose models; fetch Keypoint R-CNN's weights"

FETCHABLE = ("keypoint-rcnn",)


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    p = sub.add_parser("list", help="the estimators in the order auto-pose tries them, and the installed models")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("install", help="install a model file (.safetensors with its .json card beside it)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--name", help="install under this name (default: the name in its card)")
    p = sub.add_parser("import", help="import the paper authors' released models (bizarre_pose_models.zip, "
                       "the folder it unpacks to, or .ckpt files): converted, nothing from the files runs")
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print what was installed and skipped as JSON")
    p = sub.add_parser("info", help="an installed model's card (architecture, sizes, training data, metrics)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p = sub.add_parser("use", help="make an installed model the one auto-pose uses (e.g. go back to the version a "
                       "fine-tuned model came from)")
    p.add_argument("name", metavar="NAME")
    p = sub.add_parser("remove", help="remove an installed model")
    p.add_argument("name", metavar="NAME")
    p = sub.add_parser("fetch", help="download pretrained weights with torchvision (keypoint-rcnn)")
    p.add_argument("what", choices=FETCHABLE, metavar="keypoint-rcnn")
    parser.set_defaults(models_command=None)


def run(args) -> int:
    action = args.models_command or "list"
    if action == "list":
        return _list(getattr(args, "json", False))
    if action == "install":
        return _install(args.file, args.name)
    if action == "import":
        return _import(args.paths, args.json)
    if action == "info":
        return _info(args.name, args.json)
    if action == "use":
        return _use(args.name)
    if action == "remove":
        return _remove(args.name)
    return _fetch(args.what)


def _chain_state():
    from posefinder.models.estimators import chain

    described = chain.describe_chain()
    chosen = next((a for a in described if a.available), None)
    return described, chosen, chain.NO_MODEL_MESSAGE


def _installed_rows(store):
    chosen = store.in_use_name()
    rows = []
    for m in store.list():
        row = {"name": m.name, "path": str(m.weights_path), "ok": m.card is not None, "in_use": m.name == chosen}
        if m.card is None:
            row["error"] = m.error
        else:
            row.update(
                architecture=m.card.architecture,
                segmenter=m.card.has_segmenter,
                installed_at=m.installed_at,
                metrics=m.card.metrics,
            )
            source = m.card.extra.get("source")
            if source:
                row["source"] = {"archive": source.get("archive"), "repository": source.get("repository"),
                                 "files": source.get("files", [])}  # fmt: skip
                row["reported_by_authors"] = m.card.extra.get("reported_by_authors", {})
                row["licence"] = m.card.extra.get("licence", {})
            if m.card.extra.get("tagger_classes"):
                row["tagger_classes"] = len(m.card.extra["tagger_classes"])
            if m.card.extra.get("lineage"):
                row["fine_tuned_from"] = m.card.extra["lineage"].get("base", {}).get("name")
        rows.append(row)
    return rows


def _list(as_json: bool) -> int:
    from posefinder.models.weights import ModelStore

    described, chosen, no_model = _chain_state()
    store = ModelStore()
    installed = _installed_rows(store)
    if as_json:
        doc = {
            "estimators": [
                {"name": a.name, "available": a.available, "reason": a.reason, "how_to_fix": a.how_to_fix}
                for a in described
            ],
            "auto_pose": None if chosen is None else chosen.name,
            "message": None if chosen else no_model,
            "models_dir": str(store.root),
            "installed": installed,
        }
        print(json.dumps(doc, indent=1))
        return 0
    print("Pose estimators, in the order auto-pose tries them:")
    width = max(len(a.name) for a in described)
    for i, a in enumerate(described, 1):
        state = "available  " if a.available else "unavailable"
        print(f"  {i}. {a.name:<{width}}  {state}  {a.reason}")
        if not a.available and a.how_to_fix:
            print(f"     {'':<{width}}               to fix: {a.how_to_fix}")
    if chosen is not None:
        print(f"Auto-pose uses {chosen.name}: {chosen.reason}")
    else:
        print(f"Auto-pose: none; {no_model}")
    print(f"\nInstalled models ({store.root}):")
    if not installed:
        print("  none")
    for row in installed:
        if not row["ok"]:
            print(f"  {row['name']}  BROKEN: {row['error']}")
            continue
        seg = "with segmenter" if row["segmenter"] else "no segmenter"
        metrics = ", ".join(f"{k} {v}" for k, v in row["metrics"].items()) or "no metrics measured"
        tags = f", tagger ({row['tagger_classes']} tags)" if row.get("tagger_classes") else ""
        chosen = "  [in use: chosen with `posefinder models use`]" if row["in_use"] else ""
        print(f"  {row['name']}  {row['architecture']}, {seg}{tags}, installed {row['installed_at'][:19]}, {metrics}"
              f"{chosen}")
        if row.get("fine_tuned_from"):
            print(f"      fine-tuned from {row['fine_tuned_from']!r} on the artist's corrections "
                  f"(`posefinder models use {row['fine_tuned_from']}` goes back to it)")
        for line in _provenance_lines(row):
            print(f"      {line}")
    return 0


def _install(path: Path, name: str | None) -> int:
    from posefinder.models.estimators.paper import prepare_runtime
    from posefinder.models.weights import ModelStore

    store = ModelStore()
    model = store.install(path, name=name)
    assert model.card is not None  # install() refuses a file without a sound card
    seg = "with its segmenter" if model.card.has_segmenter else "without a segmenter (whole-image crops)"
    print(f"installed {model.name!r}: {model.card.architecture}, {seg}, as {model.weights_path}")
    from posefinder.models.onnx_graphs import installed_graphs

    graphs = installed_graphs(model.weights_path, model.card)
    if graphs:
        print("with its ONNX graphs (it runs without torch): " + ", ".join(str(p.name) for p in graphs.values()))
    runtime = prepare_runtime(model.weights_path, log=lambda line: print(line, file=sys.stderr, flush=True))
    if runtime:
        print("runs in: " + ", ".join(f"{k} {v}" for k, v in runtime.items()))
    _, chosen, _ = _chain_state()
    if chosen is not None:
        print(f"auto-pose uses {chosen.name}: {chosen.reason}")
    return 0


def _provenance_lines(row_or_card: dict) -> list[str]:
    """Where an imported model came from, the authors' own figures and the licence terms, as text lines."""
    source = row_or_card.get("source")
    if not source:
        return []
    files = ", ".join(f"{f['file']} (sha256 {f['sha256'][:12]}...)" for f in source.get("files", []))
    lines = [f"from the authors' release {source.get('archive')} ({source.get('repository')}): {files}"]
    reported = row_or_card.get("reported_by_authors") or {}
    if reported:
        figures = ", ".join(f"{k} {reported[k]}" for k in ("oks50", "oks75", "pckh50", "pdj20", "pcpm50") if k in reported)
        lines.append(f"reported by the authors (paper Table 1, {reported.get('row', '')}): {figures}")
    licence = row_or_card.get("licence") or {}
    if licence:
        lines.append("licence: " + "; ".join(str(v) for v in licence.values()))
    return lines


def _import(paths: list[Path], as_json: bool) -> int:
    from posefinder.models.checkpoints.importer import import_release
    from posefinder.models.errors import ModelError
    from posefinder.models.weights import ModelStore

    interactive = sys.stderr.isatty() and not as_json
    last = [""]

    def progress(fraction: float, message: str) -> None:
        if interactive and message != last[0]:
            last[0] = message
            print(f"[{fraction * 100:3.0f}%] {message}", file=sys.stderr, flush=True)

    report = import_release(paths, ModelStore(), progress=progress)
    if as_json:
        print(json.dumps({
            "installed": [{"name": n, "holds": w} for n, w in report.installed],
            "already_installed": [{"name": n, "path": p} for n, p in report.already],
            "skipped": [{"file": f, "why": w} for f, w in report.skipped],
        }, indent=1))  # fmt: skip
    else:
        for name, what in report.installed:
            print(f"installed {name!r}: {what}")
        for name, path in report.already:
            print(f"{name!r} is already installed from the same files ({path}); nothing changed")
        for file, why in report.skipped:
            print(f"skipped {file}: {why}")
    if not report.installed and not report.already:
        raise ModelError("nothing was imported: " + "; ".join(f"{f}: {w}" for f, w in report.skipped[:3]))
    _, chosen, _ = _chain_state()
    if chosen is not None and not as_json:
        print(f"auto-pose uses {chosen.name}: {chosen.reason}")
    return 0


def _info(name: str, as_json: bool) -> int:
    from posefinder.models.estimators import chain
    from posefinder.models.weights import ModelStore, stored_values

    described = {a.name: a for a in chain.describe_chain()}
    store = ModelStore()
    if name in described and not any(m.name == name for m in store.list()):
        a = described[name]
        doc = {"name": a.name, "available": a.available, "reason": a.reason, "how_to_fix": a.how_to_fix}
        if as_json:
            print(json.dumps(doc, indent=1))
        else:
            print(f"{a.name}: {'available' if a.available else 'unavailable'}: {a.reason}")
            if a.how_to_fix and not a.available:
                print(f"to fix: {a.how_to_fix}")
        return 0
    model = store.get(name)  # ModelError when absent or broken
    card = model.card
    assert card is not None  # get() refuses a broken model
    doc = card.to_dict()
    doc["file"] = str(model.weights_path)
    doc["file_bytes"] = model.weights_path.stat().st_size
    doc["stored_values"] = stored_values(model.weights_path)
    if as_json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{card.name}: {card.architecture}")
    print(f"  file:           {model.weights_path} ({doc['file_bytes'] / 1e6:.1f} MB, "
          f"{doc['stored_values'] / 1e6:.2f}M stored values)")  # fmt: skip
    for comp, spec in card.components.items():
        print(f"  {comp + ':':<15} {spec['builder']}")
    seg = card.segmenter_input_size if card.has_segmenter else "none (whole-image crops)"
    print(f"  input size:     {card.input_size} px crops, {card.heatmap_size} px heatmaps, segmenter {seg}")
    print(f"  inference:      {json.dumps(card.inference)}")
    print(f"  training data:  {json.dumps(card.training_data)}")
    print(f"  metrics:        {json.dumps(card.metrics) if card.metrics else 'none measured'}")
    if card.extra.get("tagger_classes"):
        classes = card.extra["tagger_classes"]
        print(f"  tagger:         {len(classes)} tags ({', '.join(classes[:5])}, ...)")
    for i, line in enumerate(_provenance_lines(card.extra)):
        print(f"  {'provenance:' if i == 0 else '':<15} {line}")
    lineage = card.extra.get("lineage")
    if lineage:
        held = lineage.get("held_out_metrics", {})
        figures = ", ".join(f"{k} {held.get('before', {}).get(k)} -> {held.get('after', {}).get(k)}"
                            for k in ("oks50", "oks75", "pckh50"))  # fmt: skip
        print(f"  lineage:        fine-tuned from {' -> '.join(lineage.get('ancestors', []))} on {lineage.get('train')} "
              f"corrections of {lineage.get('library')} ({lineage.get('held_out')} held out: {figures})")
    if card.description:
        print(f"  description:    {card.description}")
    print(f"  created:        {card.created} (PoseFinder {card.posefinder_version})")
    print(f"  installed:      {card.extra.get('installed_at', '')} from {card.extra.get('installed_from', '')}")
    return 0


def _use(name: str) -> int:
    from posefinder.models.weights import ModelStore

    model = ModelStore().use(name)  # ModelError when absent or broken: nothing changes
    print(f"auto-pose now uses {model.name!r} ({model.architecture})")
    return 0


def _remove(name: str) -> int:
    from posefinder.models.weights import ModelStore

    from posefinder.models.estimators import onnx_runtime

    store = ModelStore()
    store.remove(name)
    onnx_runtime.forget(store.weights_path(name))
    print(f"removed {name!r}")
    return 0


def _fetch(what: str) -> int:
    from posefinder.models.estimators import rcnn

    interactive = sys.stderr.isatty()
    if interactive:
        print(f"downloading torchvision's COCO Keypoint R-CNN weights to {rcnn.weights_path()}", file=sys.stderr)
    path = rcnn.fetch(progress=interactive)
    print(f"fetched {path}")
    return 0
