"""The imported authors' models on ONNX Runtime (issues 11 and 19): the templates of their variants equal
the torch networks on real illustrations (the segmenter on a non-square one, fed by its shorter side, at
output stride 8 and 16), a torch-free import names the same networks as one with torch, and the
torch-free tests' generated release has the real files' keys and shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posefinder.models import onnx_graphs
from posefinder.models.checkpoints import importer


@pytest.mark.torchfree
@pytest.mark.shared_data
def test_the_stdlib_release_has_the_real_files_keys_and_shapes(shared_data):
    import stdlib_checkpoints as sc

    for name, state in (("feat_match", sc.pose_state()), ("segmenter", sc.segmenter_state())):
        path = shared_data / "paper-checkpoints" / f"{name}.keys.json"
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        real = {k: v for k, v in json.loads(path.read_text())["state_dict"].items() if not k.startswith("rcnn.")}
        assert {k: list(v.shape) for k, v in state.items()} == real, name


def test_a_torch_free_import_records_the_builders_every_keyword():
    """Without torch the importer reads the builders' keywords from the templates: they must be what the
    torch builder records, or the card would name no template (and the model would not run)."""
    pytest.importorskip("torch")
    from posefinder.models import nets

    for builder, kwargs in (("pose_matching", importer.POSE_KWARGS), ("segmenter", importer.SEGMENTER_KWARGS)):
        built = nets.create_model(builder, **kwargs).build_spec["kwargs"]
        assert importer.template_kwargs(builder, kwargs) == built, builder
    assert importer.template_kwargs("segmenter", {"depth": 152}) == {"depth": 152}  # no template: as given


def _input(image: np.ndarray, shorter: int | None = None, square: int | None = None) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    size = (square, square) if square else (round(w * shorter / min(h, w)), round(h * shorter / min(h, w)))
    x = cv2.resize(image, size, interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(x, dtype=np.float32) / np.float32(255)


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_imported_variants_templates_equal_the_torch_networks(megumin, portrait_sample):
    """Random weights of trained-network statistics (tests/paper_checkpoints.randomise, batch norms measured
    on the image: activations of unit scale, logits of a few units), the segmenter on a 550x768 illustration
    at 256 x 357. At such scales float32 itself is off by some 1e-5 (torch float32 against float64: 5e-5 on
    the pose net's +-4.7 logits), so the check is that ONNX Runtime computes the network as exactly as torch
    does: its logits' largest difference from torch's float64 ones is at most twice torch float32's.
    (A wrong operator, such as an antialiased resample, is off by 1e-2.)"""
    torch = pytest.importorskip("torch")
    import onnx
    import onnxruntime as ort
    import paper_checkpoints as pc

    from posefinder.models import nets
    from posefinder.models.imageio import load_image
    from posefinder.models.onnx_export import prepared

    cases = [("pose_matching", importer.POSE_KWARGS, "", _input(load_image(megumin), square=256))]
    portrait = _input(load_image(portrait_sample), shorter=256)
    assert portrait.shape[2:] == (357, 256)
    cases += [("segmenter", importer.SEGMENTER_KWARGS, variant, portrait) for variant in ("os8", "os16")]
    for builder, kwargs, variant, x in cases:
        torch.manual_seed(0)
        module = nets.create_model(builder, **kwargs)
        spec = {"builder": builder, "kwargs": module.build_spec["kwargs"], "input_size": 256, "variant": variant}
        calibration = torch.from_numpy(np.concatenate([x, x[..., ::-1]]))  # statistics of the image itself
        module = pc.randomise(prepared(module, spec), 1, batch=calibration).eval()
        template = onnx_graphs.find_template(spec)
        assert template is not None, f"no template for the imported {builder} {variant}"
        filled = onnx_graphs.fill(onnx.load(str(template)), {k: v.numpy() for k, v in module.state_dict().items()},
                                  builder)  # fmt: skip
        with torch.inference_mode():
            ref = module(torch.from_numpy(x)).numpy()
            ref64 = module.double()(torch.from_numpy(x).double()).numpy()
        session = ort.InferenceSession(filled.SerializeToString(), providers=["CPUExecutionProvider"])
        out = np.asarray(session.run(None, {"x": x})[0])
        assert out.shape == ref.shape
        diff, ours, torchs = (float(np.abs(a - b).max()) for a, b in ((out, ref), (out, ref64), (ref, ref64)))
        print(f"{builder} {variant}: max |logit difference| from torch {diff:.2e}; from float64: ONNX Runtime "
              f"{ours:.2e}, torch float32 {torchs:.2e} (logits up to {np.abs(ref).max():.2f})")
        assert ours <= 2 * torchs + 1e-6, (builder, variant)
