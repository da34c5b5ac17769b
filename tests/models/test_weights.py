"""Model files (safetensors + JSON card) and the ModelStore: round trips, strict loading, clear refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from posefinder.models import nets, paths, skeleton, weights  # noqa: E402
from posefinder.models.errors import ModelError  # noqa: E402
from posefinder.models.nets.bundle import ModelBundle  # noqa: E402


def tiny_bundle(arch: str = "pose_matching", segmenter: bool = True, seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    pose = nets.create_model(arch, preset="tiny")
    seg = nets.create_model("segmenter", preset="tiny") if segmenter else None
    bundle = ModelBundle(pose, seg)
    # non-trivial batch-norm statistics, so that a load that forgot buffers would show
    for m in bundle.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None  # tracked statistics
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return bundle.eval()


def save_tiny(folder: Path, name: str = "tiny-match", arch: str = "pose_matching", **kw) -> Path:
    bundle = tiny_bundle(arch, **kw)
    card = weights.make_card(bundle, name=name, metrics={"oks50": 0.5}, training_data={"set": "unit test"})
    return weights.save_model(folder / f"{name}.safetensors", bundle, card)


def _name(model) -> str:
    """The name of the model store.newest() picked (None fails the test)."""
    assert model is not None
    return model.name


def test_paths_honour_posefinder_home(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFINDER_HOME", str(tmp_path / "root"))
    assert paths.user_data_dir() == tmp_path / "root" / "data"
    assert paths.models_dir() == tmp_path / "root" / "data" / "models"
    assert paths.cache_dir() == tmp_path / "root" / "cache"
    assert paths.config_dir() == tmp_path / "root" / "config"
    assert paths.models_dir(create=True).is_dir()


def test_torch_hub_dir_is_torchs_own():
    import torch.hub

    assert paths.torch_hub_dir() == Path(torch.hub.get_dir())


def test_save_writes_safetensors_and_a_card_beside_it(tmp_path):
    path = save_tiny(tmp_path)
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["format"] == "posefinder-model" and card["format_version"] == 1
    assert card["architecture"] == "feature-matching"
    assert card["keypoints"] == list(skeleton.KEYPOINT_NAMES)
    assert card["components"]["pose"]["builder"] == "pose_matching"
    assert card["components"]["segmenter"]["builder"] == "segmenter"
    assert (card["input_size"], card["heatmap_size"]) == (64, 32)
    assert card["metrics"] == {"oks50": 0.5} and card["training_data"] == {"set": "unit test"}
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    state, _ = weights.load_model(path)
    assert {k.split(".")[0] for k in state} == {"pose", "segmenter"}
    assert any(k.startswith("pose.tagger.") for k in state) and any(k.startswith("pose.matcher.") for k in state)


@pytest.mark.parametrize("arch", ["pose_matching", "pose_concat"])
def test_save_install_load_round_trip_gives_identical_outputs(tmp_path, arch):
    bundle = tiny_bundle(arch)
    card = weights.make_card(bundle, name="rt")
    path = weights.save_model(tmp_path / "rt.safetensors", bundle, card)
    store = weights.ModelStore()
    installed = store.install(path)
    assert installed.weights_path.parent == paths.models_dir()
    loaded, loaded_card = weights.load_bundle(installed.weights_path)
    assert bundle.pose is not None and loaded.pose is not None
    assert bundle.segmenter is not None and loaded.segmenter is not None
    assert loaded_card.architecture == bundle.pose.architecture
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(bundle.pose(x), loaded.pose(x))
        assert torch.equal(bundle.segmenter(x), loaded.segmenter(x))


def test_a_bundle_without_segmenter_round_trips(tmp_path):
    path = save_tiny(tmp_path, segmenter=False)
    bundle, card = weights.load_bundle(path)
    assert bundle.segmenter is None and not card.has_segmenter


def test_lone_safetensors_installs_from_its_embedded_card(tmp_path):
    path = save_tiny(tmp_path)
    path.with_suffix(".json").unlink()
    installed = weights.ModelStore().install(path)
    assert installed.card is not None and installed.card.architecture == "feature-matching"


def test_store_lists_newest_first_and_picks_the_newest_per_architecture(tmp_path):
    store = weights.ModelStore()
    store.install(save_tiny(tmp_path, name="older"))
    store.install(save_tiny(tmp_path, name="newer"))
    store.install(save_tiny(tmp_path, name="concat", arch="pose_concat", segmenter=False))
    names = [m.name for m in store.list()]
    assert names == ["concat", "newer", "older"]
    assert _name(store.newest("feature-matching")) == "newer"
    assert _name(store.newest("feature-concatenation")) == "concat"
    store.install(save_tiny(tmp_path, name="older"))  # reinstalling makes it the newest
    assert _name(store.newest("feature-matching")) == "older"
    assert store.info("concat").architecture == "feature-concatenation"
    store.remove("older")
    assert _name(store.newest("feature-matching")) == "newer"
    with pytest.raises(ModelError, match="no installed model named 'older'"):
        store.remove("older")
    with pytest.raises(ModelError, match="no installed model"):
        store.info("nothing")


def test_install_under_another_name_and_reserved_names(tmp_path):
    path = save_tiny(tmp_path)
    store = weights.ModelStore()
    assert store.install(path, name="mine").name == "mine"
    with pytest.raises(ModelError, match="names an estimator"):
        store.install(path, name="keypoint-rcnn")
    with pytest.raises(ModelError, match="must be letters"):
        store.install(path, name="../evil")


def _refused(path: Path, match: str) -> None:
    store = weights.ModelStore()
    with pytest.raises(ModelError, match=match):
        store.install(path)
    assert list(store.root.glob("*")) == [], "a refused model must leave nothing in the store"


def test_shape_mismatch_is_refused_at_install_with_a_clear_message(tmp_path):
    path = save_tiny(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["components"]["pose"]["kwargs"]["domain_channels"] = 24  # the card no longer fits the weights
    path.with_suffix(".json").write_text(json.dumps(card))
    _refused(path, r"do not fit the architecture.*wrong shape \(e\.g\. pose\.")


def test_missing_and_unexpected_tensors_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_tiny(tmp_path)
    state = load_file(str(path))
    key = next(k for k in state if k.startswith("pose.head."))
    del state[key]
    state["pose.extra.weight"] = torch.zeros(3)
    save_file(state, str(path))
    _refused(path, r"1 missing \(e\.g\. pose\.head\..*1 unexpected \(e\.g\. pose\.extra\.weight\)")


def test_architecture_mismatch_is_refused(tmp_path):
    path = save_tiny(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"] = "feature-concatenation"
    path.with_suffix(".json").write_text(json.dumps(card))
    _refused(path, "does not match its pose builder")
    card["architecture"] = "openpose"
    path.with_suffix(".json").write_text(json.dumps(card))
    _refused(path, "unknown architecture 'openpose'")


def test_other_skeletons_newer_formats_and_foreign_builders_are_refused(tmp_path):
    path = save_tiny(tmp_path)
    cpath = path.with_suffix(".json")
    good = json.loads(cpath.read_text())
    cpath.write_text(json.dumps({**good, "keypoints": good["keypoints"][:17]}))
    _refused(path, "different skeleton")
    cpath.write_text(json.dumps({**good, "format_version": 99}))
    _refused(path, "newer PoseFinder")
    bad = json.loads(json.dumps(good))
    bad["components"]["segmenter"]["builder"] = "os:system"
    cpath.write_text(json.dumps(bad))
    _refused(path, "cannot be built by 'os:system'")
    cpath.write_text("{not json")
    _refused(path, "unreadable model card")
    cpath.write_text(json.dumps({"hello": 1}))
    _refused(path, "not a PoseFinder model card")


def test_broken_and_pickled_weight_files_are_refused(tmp_path):
    path = save_tiny(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    _refused(path, "not a readable safetensors file")
    path.write_bytes(b"\x00" * 4)
    _refused(path, "not a readable safetensors file")
    pt = tmp_path / "model.pt"
    pt.write_bytes(pickle.dumps({"a": 1}))
    _refused(pt, r"pickled \.pt/\.ckpt files are refused")
    _refused(tmp_path / "absent.safetensors", "no such model file")


def test_load_model_never_unpickles(tmp_path, monkeypatch):
    path = save_tiny(tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("torch.load called on a user's file")

    monkeypatch.setattr(torch, "load", forbidden)
    weights.load_bundle(path)
    weights.ModelStore().install(path)


def test_broken_store_entries_are_listed_with_their_error_and_never_chosen(tmp_path):
    store = weights.ModelStore()
    store.install(save_tiny(tmp_path, name="good"))
    (store.root / "junk.safetensors").write_bytes(b"junk")
    listed = store.list()
    assert [m.name for m in listed] == ["good", "junk"]
    assert listed[1].card is None and "junk" in listed[1].error
    assert _name(store.newest("feature-matching")) == "good"
    with pytest.raises(ModelError, match="broken"):
        store.get("junk")


# -- one format for every network file: models without a pose network (training's parts) ------------------


def save_tagger(folder: Path, name: str = "tiny-tagger") -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(1)
    tagger = nets.create_model("tagger", preset="tiny").eval()
    bundle = ModelBundle(None, tagger=tagger)
    card = weights.make_card(bundle, name=name, metrics={"f1": 0.5}, input_size=32, classes=["a", "b"])
    return weights.save_model(folder / f"{name}.safetensors", bundle, card), tagger


def test_a_file_without_a_pose_network_is_a_model_file_read_by_the_same_reader(tmp_path):
    path, tagger = save_tagger(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["format"] == "posefinder-model" and card["architecture"] == ""
    assert list(card["components"]) == ["tagger"] and card["input_size"] == 32 and card["heatmap_size"] is None
    assert weights.read_card(path).to_dict() == weights.ModelCard.from_dict(card).to_dict()
    module, read = weights.load_component(path, "tagger")
    assert read.extra["classes"] == ["a", "b"]
    for k, v in tagger.state_dict().items():
        assert torch.equal(module.state_dict()[k], v), k
    bundle, _ = weights.load_bundle(path)
    assert bundle.pose is None and bundle.tagger is not None
    with pytest.raises(ModelError, match="holds a tagger, not a segmenter"):
        weights.load_component(path, "segmenter")


def test_a_component_of_a_pose_model_file_loads_alone(tmp_path):
    path = save_tiny(tmp_path)
    seg, _ = weights.load_component(path, "segmenter")
    bundle, _ = weights.load_bundle(path)
    assert bundle.segmenter is not None
    for k, v in bundle.segmenter.state_dict().items():
        assert torch.equal(seg.state_dict()[k], v), k


def test_a_file_without_a_pose_network_is_refused_by_install(tmp_path):
    path, _ = save_tagger(tmp_path)
    store = weights.ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="holds only a tagger network, not a pose model"):
        store.install(path)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").iterdir())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"architecture": "feature-matching"}, "no pose network component"),
        ({"input_size": "32"}, "input_size must be a whole number"),
        ({"components": {}}, "names no network component"),
        ({"components": {"tagger": {"builder": "segmenter", "kwargs": {}}}}, "cannot be built by"),
        ({"metrics": [1, 2]}, "metrics must be a JSON object"),
    ],
)
def test_the_one_validator_checks_cards_without_a_pose_network(tmp_path, change, message):
    path, _ = save_tagger(tmp_path)
    card = {**json.loads(path.with_suffix(".json").read_text()), **change}
    with pytest.raises(ModelError, match=message):
        weights.ModelCard.from_dict(card)


def test_component_files_of_the_former_format_still_read(tmp_path):
    """What build/trainer.py wrote before it used the model format: "posefinder-component" cards."""
    from safetensors.torch import save_file

    torch.manual_seed(2)
    tagger = nets.create_model("tagger", preset="tiny").eval()
    legacy = {
        "format": "posefinder-component", "format_version": 1, "name": "old-tagger", "component": "tagger",
        "builder": tagger.build_spec["builder"], "kwargs": tagger.build_spec["kwargs"], "metrics": {"f1": 0.1},
        "input_size": 32, "thresholds": [0.5],
    }  # fmt: skip
    path = tmp_path / "old-tagger.safetensors"
    state = {f"tagger.{k}": v.contiguous().clone() for k, v in tagger.state_dict().items()}
    save_file(state, str(path), metadata={"format": "posefinder-component", "posefinder_component": json.dumps(legacy)})
    for with_json in (False, True):  # the card embedded in the file, then the JSON beside it
        if with_json:
            path.with_suffix(".json").write_text(json.dumps(legacy))
        module, card = weights.load_component(path, "tagger")
        assert card.name == "old-tagger" and card.extra["thresholds"] == [0.5] and card.input_size == 32
        for k, v in tagger.state_dict().items():
            assert torch.equal(module.state_dict()[k], v), k
