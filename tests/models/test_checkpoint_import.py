"""Importing the authors' released checkpoints: a generated release laid out like theirs (real key names
and shapes, random weights), converted, installed, and checked against reference forwards of their
networks (tests/paper_checkpoints.py, written from ../shared/paper-weights.md)."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import paper_checkpoints as pc  # noqa: E402
from posefinder.models import skeleton  # noqa: E402
from posefinder.models.checkpoints.importer import CONCAT_SKIPPED, import_release  # noqa: E402
from posefinder.models.checkpoints.reader import CheckpointError  # noqa: E402
from posefinder.models.nets.segmenter import Segmenter  # noqa: E402
from posefinder.models.weights import ModelStore, load_bundle  # noqa: E402

pytestmark = pytest.mark.slow  # paper-size networks on CPU (about a minute in all)

POSE_FILE = "_train/character_pose_estim/runs/feat_match+data.ckpt"
SEG_FILE = "_train/character_bg_seg/runs/eyeless_alaska_vulcan0000/checkpoints/epoch=0096-val_f1=0.9508-val_loss=0.0483.ckpt"
TAGGER_FILE = "_train/danbooru_tagger/runs/waning_kate_vulcan0001/checkpoints/epoch=0022-val_f2=0.4461-val_loss=0.0766.ckpt"
RULES_FILE = "_data/danbooru/_filters/sfw_x_rules.json"
CONCAT_FILE = "_train/character_pose_estim/runs/feat_concat.ckpt"
TAGS = 20


@pytest.fixture(scope="module")
def refs():
    torch.manual_seed(0)
    tagger = torchvision.models.resnet50(weights=None, num_classes=TAGS).eval()
    return {"pose": pc.scale_output(pc.randomise(pc.FeatMatchRef(), 1), pc.FeatMatchRef.output_conv, 0.05), "segmenter": pc.scale_output(pc.randomise(pc.SegmenterRef(), 2, (64, 96)), "final_head.6", 0.05),
            "tagger": tagger}  # fmt: skip


@pytest.fixture(scope="module")
def release(tmp_path_factory, refs) -> Path:
    """The folder bizarre_pose_models.zip unpacks to (the parts PoseFinder reads)."""
    root = tmp_path_factory.mktemp("release")
    pc.write_checkpoint(root / POSE_FILE, refs["pose"].state_dict(), pc.pose_hparams("namespace"), rcnn=True)
    pc.write_checkpoint(root / SEG_FILE, refs["segmenter"].state_dict(), pc.segmenter_hparams("easydict"))
    tagger_state = {f"resnet.{k}": v for k, v in refs["tagger"].state_dict().items()}
    pc.write_checkpoint(root / TAGGER_FILE, tagger_state, pc.tagger_hparams("sfw", "x"))
    pc.rulebook(root / RULES_FILE, TAGS)
    concat = {"keypoint_head.converter_rcnn.weight": torch.zeros(32, 17, 1, 1), "resnet.conv1.weight": torch.zeros(1)}
    pc.write_checkpoint(root / CONCAT_FILE, concat, pc.pose_hparams())
    return root


@pytest.fixture(scope="module")
def release_zip(release, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "bizarre_pose_models.zip"
    with zipfile.ZipFile(path, "w") as z:
        for file in sorted(release.rglob("*")):
            if file.is_file():  # the pose model deflated (read into memory), the rest stored (streamed)
                kind = zipfile.ZIP_DEFLATED if "pose_estim" in str(file) else zipfile.ZIP_STORED
                z.write(file, file.relative_to(release).as_posix(), compress_type=kind, compresslevel=1)
        z.writestr("README.txt", "not a model")
    return path


@pytest.fixture(scope="module")
def imported(release_zip, tmp_path_factory):
    store = ModelStore(tmp_path_factory.mktemp("store"))
    steps = []
    report = import_release([release_zip], store, progress=lambda f, m: steps.append((f, m)))
    return store, report, steps


def test_the_zip_installs_feature_matching_with_segmenter_and_tagger(imported):
    store, report, steps = imported
    assert report.installed == [("feature-matching.chen2022-data", f"pose + segmenter + tagger ({TAGS} tags)")]
    assert report.already == []
    assert report.skipped == [(f"bizarre_pose_models.zip:{CONCAT_FILE}", CONCAT_SKIPPED)]
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    (model,) = store.list()
    card = model.card
    assert card.architecture == "feature-matching" and card.metrics == {}
    assert card.components["pose"]["kwargs"]["antialias"] is False
    assert card.components["segmenter"]["kwargs"] == {**card.components["segmenter"]["kwargs"], "depth": 101,
                                                      "head": "chen2022"}  # fmt: skip
    assert card.inference["padding"] == 0.05 and card.inference["fill"] == [0, 0, 0]
    assert card.inference["segmenter_resize"] == "shorter" and card.inference["segmenter_fill"] == [255, 255, 255]
    assert card.inference["midpoints"] == "endpoints" and card.segmenter_input_size == 256
    assert card.extra["tagger_classes"] == [f"tag_{i}" for i in range(TAGS)]
    assert card.extra["reported_by_authors"]["oks50"] == 0.8953
    files = {f["role"]: f for f in card.extra["source"]["files"]}
    assert set(files) == {"pose", "segmenter", "tagger", "rulebook"} and files["pose"]["file"] == POSE_FILE
    assert all(len(f["sha256"]) == 64 for f in files.values())
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]  # no scratch files left


def test_importing_again_changes_nothing(imported, release_zip, release):
    store, _, _ = imported
    (model,) = store.list()
    before = (model.weights_path.stat().st_mtime_ns, model.weights_path.with_suffix(".json").read_text())
    for source in (release_zip, release):  # the zip again, then the folder it unpacks to: the same files
        report = import_release([source], store)
        assert report.installed == [] and [n for n, _ in report.already] == ["feature-matching.chen2022-data"]
    assert (model.weights_path.stat().st_mtime_ns, model.weights_path.with_suffix(".json").read_text()) == before


def test_the_tagger_matches_torchvisions_resnet(imported, refs):
    store, _, _ = imported
    bundle, _ = load_bundle(store.list()[0].weights_path)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = refs["tagger"]((x - pc.MEAN) / pc.STD)
        assert bundle.tagger is not None and (bundle.tagger(x) - want).abs().max().item() < 1e-5


def _megumin_input(megumin: Path):
    import cv2

    from posefinder.models.imageio import load_image

    image = load_image(megumin)
    crop = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    s = 256 / min(h, w)
    seg = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return image, as_tensor(crop), as_tensor(seg)


@pytest.mark.shared_data
def test_logits_and_probabilities_match_the_authors_networks_on_an_illustration(imported, refs, megumin):
    """The same function: within 1e-5 (max abs) in float64, where only the function can differ (measured
    1e-8: the folded weights' float32 rounding); in float32 the two orders of operations round apart by a
    few 1e-6 of the logits' range (measured 2e-6 relative on +-6 logits), checked as 1e-5 relative."""
    store, _, _ = imported
    bundle, _ = load_bundle(store.list()[0].weights_path)
    image, crop, seg_input = _megumin_input(megumin)
    pose_ref, seg_ref = refs["pose"], refs["segmenter"]
    segmenter = bundle.segmenter
    assert bundle.pose is not None and isinstance(segmenter, Segmenter)
    with torch.no_grad():
        ref_logits, logits = pose_ref(crop), bundle.pose(crop)
        assert logits.shape == ref_logits.shape == (1, 25, 128, 128)
        assert (logits - ref_logits).abs().max().item() < 1e-5 * ref_logits.abs().max().item()
        ref_p, p = seg_ref(seg_input), segmenter.probabilities(seg_input)
        assert p.shape == ref_p.shape and min(p.shape[1:]) == 256
        assert (p - ref_p).abs().max().item() < 1e-5
        try:
            pose_ref.double()
            assert (bundle.pose.double()(crop.double()) - pose_ref(crop.double())).abs().max().item() < 1e-5
        finally:
            pose_ref.float()


@pytest.mark.shared_data
def test_the_imported_model_runs_auto_pose_with_midpoints_from_endpoints(imported, megumin):
    from posefinder.models.estimators.paper import PaperModelEstimator

    store, _, _ = imported
    image, _, _ = _megumin_input(megumin)
    estimator = PaperModelEstimator.from_file(store.list()[0].weights_path, runtime="torch")
    assert estimator.pipeline.settings.segmenter_resize == "shorter"
    poses = estimator.estimate(image)
    for pose in poses:  # random weights: any number of characters, but every midpoint sits between its ends
        for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
            np.testing.assert_allclose(pose.xy[m], (pose.xy[a] + pose.xy[b]) / 2)


def _pose_checkpoint(tmp_path: Path, refs, edit) -> Path:
    state = dict(refs["pose"].state_dict())
    edit(state)
    return pc.write_checkpoint(tmp_path / "feat_match.ckpt", state, pc.pose_hparams(), rcnn=True)


@pytest.mark.parametrize(
    "edit,message",
    [(lambda s: s.pop("keypoint_head.head.3.net.conv1.weight"),
      r"feat_match\.ckpt: key missing: .* head\.net\.3\.body\.2\.weight"),
     (lambda s: s.__setitem__("keypoint_head.matcher_rcnn.1.bias", torch.zeros(7)),
      r"feat_match\.ckpt: key keypoint_head\.matcher_rcnn\.1\.bias has shape \[7\], expected \[512\]"),
     (lambda s: s.__setitem__("keypoint_head.extra.weight", torch.zeros(1)),
      r"feat_match\.ckpt: unexpected key keypoint_head\.extra\.weight")],
)  # fmt: skip
def test_a_missing_key_or_wrong_shape_names_file_and_key_and_installs_nothing(tmp_path, refs, edit, message):
    path = _pose_checkpoint(tmp_path, refs, edit)
    store = ModelStore(tmp_path / "store")
    with pytest.raises(CheckpointError, match=message) as err:
        import_release([path], store)
    assert "\n" not in str(err.value)
    assert store.list() == [] and (not store.root.exists() or not list(store.root.iterdir()))


def test_a_truncated_release_zip_installs_nothing(tmp_path, release_zip):
    cut = tmp_path / "bizarre_pose_models.zip"
    with open(release_zip, "rb") as f:
        cut.write_bytes(f.read(release_zip.stat().st_size - 5000))
    store = ModelStore(tmp_path / "store")
    with pytest.raises(CheckpointError, match=r"bizarre_pose_models\.zip: not a readable zip"):
        import_release([cut], store)
    assert store.list() == []


def test_a_lone_segmenter_is_skipped_with_the_reason(release, tmp_path):
    store = ModelStore(tmp_path / "store")
    report = import_release([release / SEG_FILE], store)
    assert report.installed == [] and "needs a pose network" in report.skipped[0][1]


@pytest.mark.shared_data
def test_a_non_square_image_gets_the_torch_mask_through_onnx_runtime(imported, portrait_sample):
    """The segmenter fed by the shorter side (256 x 357 for a 550x768 illustration) runs in ONNX Runtime as
    is, with no square-only fallback: the installed graph (torch-free path) and torch's own export (auto
    runtime) give torch's foreground probabilities. A random depth-101 segmenter's float32 rounding shows
    (torch float32 against float64: some 1e-4), so each is held to float64 torch as closely as torch float32
    is (at most twice its difference)."""
    from posefinder.models.estimators.onnx_model import OnnxModelEstimator
    from posefinder.models.estimators.paper import PaperModelEstimator
    from posefinder.models.estimators.pipeline import PosePipeline
    from posefinder.models.imageio import load_image

    store, _, _ = imported
    path = store.list()[0].weights_path
    image = load_image(portrait_sample)
    assert image.shape[:2] == (768, 550)
    reference = PaperModelEstimator.from_file(path, runtime="torch")
    installed = PaperModelEstimator.from_file(path, runtime="onnx")
    exported = PaperModelEstimator.from_file(path, runtime="auto")
    assert isinstance(installed, OnnxModelEstimator) and installed.runtime["segmenter"] == "onnxruntime"
    assert isinstance(exported, PaperModelEstimator) and exported.runtime["segmenter"] == "onnxruntime"
    (want,) = reference.pipeline.foreground([image])
    segmenter64 = copy.deepcopy(reference.bundle.segmenter).double()
    exact = PosePipeline(reference.pipeline.pose_net, lambda x: segmenter64(x.double()), reference.pipeline.settings)
    (want64,) = exact.foreground([image])
    rounding = float(np.abs(want - want64).max())
    for estimator in (installed, exported):
        (got,) = estimator.pipeline.foreground([image])
        assert got.shape == want.shape == (768, 550)
        diff, ours = float(np.abs(got - want).max()), float(np.abs(got - want64).max())
        print(f"{type(estimator).__name__}: max |probability difference| from torch {diff:.2e}; from float64: "
              f"ONNX Runtime {ours:.2e}, torch float32 {rounding:.2e}")
        assert ours <= 2 * rounding + 1e-6
