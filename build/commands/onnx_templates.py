"""`posefinder-train onnx-templates`: the weightless ONNX graphs of resources/onnx, exported from the torch networks.

One template per network a model file may carry at the sizes our training and the paper make (TEMPLATES:
builder, preset, input size, segmenter output strides); installing a model fills the template that fits its
card with the file's weights, without torch (models/onnx_graphs.py). Run it after changing a network's
definition: `--check` re-exports into a temporary folder and says which committed template differs (the
test suite does the same, tests/models/test_onnx_graphs.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HELP = "export the weightless ONNX templates of resources/onnx from the torch networks (or --check them)"

#: (builder, preset, keywords, input size, variants): the networks the templates cover. Segmenters at the
#: input size the cards default to (256), at output strides 8 and 16 (inference.segmenter_output_stride).
#: Preset "chen2022" is what `posefinder models import` builds for the authors' released models (their
#: pose net without antialiasing, their depth-101 segmenter head: models/checkpoints/importer.py).
TEMPLATES = (
    ("pose_matching", "paper", {}, None, ("",)),
    ("pose_concat", "paper", {}, None, ("",)),
    ("pose_matching", "small", {}, None, ("",)),
    ("segmenter", "paper", {}, 256, ("os8", "os16")),
    ("segmenter", "small", {}, 256, ("os8", "os16")),
    ("pose_matching", "chen2022", "POSE_KWARGS", None, ("",)),
    ("segmenter", "chen2022", "SEGMENTER_KWARGS", 256, ("os8", "os16")),
)


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=Path, metavar="DIR", help="folder to write into (default: resources/onnx)")
    parser.add_argument("--check", action="store_true",
                        help="export into a temporary folder and compare with the templates there; exit 1 on a difference")  # fmt: skip
    parser.add_argument("--only", metavar="BUILDER-PRESET", action="append", default=[],
                        help="only these templates (e.g. segmenter-small); repeatable")  # fmt: skip


def specs(only=()):
    """(label, network, spec) of every template (networks with random weights; nothing downloaded)."""
    from posefinder.models import nets
    from posefinder.models.checkpoints import importer
    from posefinder.models.onnx_export import prepared

    for builder, preset, kwargs, size, variants in TEMPLATES:
        label = f"{builder}-{preset}"
        if only and label not in only:
            continue
        if isinstance(kwargs, str):  # the importer's keywords, named so that both use the same
            kwargs = getattr(importer, kwargs)
        for variant in variants:
            known = preset in nets.PRESETS.get(builder, {})
            module = nets.create_model(builder, preset=preset if known else None, **kwargs)
            spec = {"builder": builder, "kwargs": module.build_spec["kwargs"],
                    "input_size": int(size or module.input_size), "variant": variant}  # fmt: skip
            yield f"{label}{'-' + variant if variant else ''}", prepared(module, spec), spec


def run(args) -> int:
    import onnx

    from posefinder.models import onnx_graphs
    from posefinder.models.errors import PoseFinderError
    from posefinder.models.onnx_export import template_of

    folder = args.out or onnx_graphs.template_dir()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) if args.check else folder
        out.mkdir(parents=True, exist_ok=True)
        differ = []
        for label, module, spec in specs(args.only):
            name = onnx_graphs.template_name(spec)
            template = template_of(module, spec)
            onnx.save_model(template, str(out / name))
            if args.check:
                committed = folder / name
                same = committed.is_file() and onnx_graphs.same_graph(onnx.load(str(committed)), template)
                print(f"{'same' if same else 'DIFFERS'}  {label}  {name}")
                if not same:
                    differ.append(name)
            else:
                print(f"wrote {out / name} ({(out / name).stat().st_size / 1e3:.0f} kB)")
        if differ:
            raise PoseFinderError(f"{len(differ)} template(s) no longer match their torch network "
                                  f"({', '.join(differ)}): run `posefinder-train onnx-templates`")  # fmt: skip
    if not args.check:
        print("commit them: installs fill these graphs with a model file's weights", file=sys.stderr)
    return 0
