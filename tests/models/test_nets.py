"""The networks of posefinder.models.nets: forward passes at tiny sizes, names, sizes and parameter counts."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from posefinder.models import nets, skeleton  # noqa: E402


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_registry_builds_every_network_by_name_and_knows_the_architectures():
    assert set(nets.ARCHITECTURES) == {"feature-matching", "feature-concatenation"}
    for name in nets.list_models():
        assert callable(nets.get_builder(name))
    with pytest.raises(KeyError, match="unknown network"):
        nets.get_builder("resnet9000")
    with pytest.raises(KeyError, match="no preset"):
        nets.create_model("tagger", preset="huge")


def test_tagger_forward_gives_multilabel_logits_and_feature_maps():
    model = nets.create_model("tagger", preset="tiny", num_classes=7).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
    assert logits.shape == (2, 7) and logits.dtype == torch.float32 and _finite(logits)
    assert list(feats) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert feats["conv1"].shape[-1] == 32 and feats["layer4"].shape[-1] == 2  # strides 2 and 32
    for name, f in feats.items():
        assert f.shape[1] == model.channels[name] and _finite(f)


def test_tagger_at_paper_size_is_torchvision_resnet50_with_the_rulebook_head():
    import torchvision

    model = nets.create_model("tagger")
    reference = torchvision.models.resnet50().state_dict()
    own = model.resnet.state_dict()
    assert set(own) == set(reference)
    assert all(own[k].shape == reference[k].shape for k in own if not k.startswith("fc."))
    assert own["fc.weight"].shape == (1062, 2048)


def test_segmenter_gives_one_logit_per_input_pixel():
    model = nets.create_model("segmenter", preset="tiny").eval()
    x = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        logits = model(x)
        probs = model.probabilities(x)
    assert logits.shape == (2, 1, 48, 40) and _finite(logits)
    assert probs.shape == (2, 48, 40) and float(probs.min()) >= 0 and float(probs.max()) <= 1


def test_segmenter_at_output_stride_16_is_the_same_weights_in_a_stride_16_trunk():
    from posefinder.models.nets.resnet import ResNet

    model = nets.create_model("segmenter", preset="tiny").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        at_8 = model(x)
        assert model.output_stride == 8
        model.set_output_stride(16)
        assert model.output_stride == 16
        layer4 = model.deeplab.backbone(model.normalize(x))["out"]
        # a trunk built at output stride 16 (layer4 dilated only) with the same weights gives the same maps
        tiny = nets.PRESETS["segmenter"]["tiny"]
        trunk = ResNet(depth=50, width=tiny["width"], blocks=tiny["blocks"], dilate=(False, False, True))
        assert not trunk.load_state_dict(model.deeplab.backbone.state_dict(), strict=False).missing_keys
        assert layer4.shape[-1] == 64 // 16
        torch.testing.assert_close(layer4, trunk.eval().forward_features(model.normalize(x))["layer4"])
        assert [b[0].dilation for b in model.deeplab.classifier[0].convs[1:-1]] == [(6, 6), (12, 12), (18, 18)]
        at_16 = model(x)
        assert at_16.shape == at_8.shape and _finite(at_16) and not torch.allclose(at_16, at_8)
        model.set_output_stride(8)  # and back: the same network as before
        torch.testing.assert_close(model(x), at_8)
    with pytest.raises(ValueError, match="output stride 8 or 16"):
        model.set_output_stride(32)


def test_task_source_exposes_fpn_keypoint_features_and_logits():
    model = nets.create_model("task_source", preset="tiny").eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert set(out["fpn"]) == {"0", "1", "2", "3", "pool"}
    assert out["keypoint_features"].shape == (2, 16, 14, 14)
    assert out["keypoint_logits"].shape == (2, 17, 56, 56)
    assert _finite(out["keypoint_features"]) and _finite(out["keypoint_logits"])


@pytest.mark.parametrize("input_size", [96, 800])
def test_task_source_pools_the_whole_crop_exactly_as_torchvisions_multiscale_roi_align(input_size):
    model = nets.create_model("task_source", preset="tiny", input_size=input_size).eval()
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        s = input_size
        x_in = torch.nn.functional.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        box = torch.tensor([[0.0, 0.0, float(s), float(s)]])
        reference = model.keypoint_roi_pool(out["fpn"], [box] * 3, [(s, s)] * 3)
        assert torch.equal(model.pool_whole_image(out["fpn"], x_in), reference)


def test_keypoint_rcnn_detects_with_17_keypoints():
    model = nets.create_model("keypoint_rcnn", preset="tiny").eval()
    with torch.no_grad():
        (out,) = model([torch.rand(3, 64, 80)])
    assert out["keypoints"].shape[1:] == (17, 3)
    assert out["keypoints_scores"].shape[1:] == (17,)


@pytest.mark.parametrize("name", ["pose_matching", "pose_concat"])
def test_pose_networks_give_25_heatmaps_at_the_heatmap_size(name):
    model = nets.create_model(name, preset="tiny").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, skeleton.NUM_KEYPOINTS, 32, 32)
    assert out.dtype == torch.float32 and _finite(out)
    assert (model.input_size, model.heatmap_size) == (64, 32)


def test_feature_matching_predicts_task_features_of_the_task_sources_shape():
    pose = nets.create_model("pose_matching", preset="tiny").eval()
    task = nets.create_model("task_source", preset="tiny").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = pose.forward_train(x)
        target = task(x)["keypoint_features"]
    assert out["heatmaps"].shape == (2, 25, 32, 32)
    # the tiny preset predicts 7 x 7 x 16; the matching target is the task source's features resampled
    assert out["matched"].shape[:2] == target.shape[:2] == (2, 16)
    assert out["matched"].shape[1:] == pose.matched_shape


def test_pose_sources_are_frozen_and_stay_in_eval_mode_when_training():
    pose = nets.create_model("pose_concat", preset="tiny")
    pose.train()
    assert not pose.tagger.training and not pose.task.training and pose.head.training
    trainable = {id(p) for p in pose.trainable_parameters()}
    assert not any(id(p) in trainable for p in pose.tagger.parameters())
    assert not any(id(p) in trainable for p in pose.task.parameters())
    assert any(id(p) in trainable for p in pose.head.parameters())
    out = pose(torch.rand(2, 3, 64, 64))
    out.mean().backward()
    assert all(p.grad is None for p in pose.tagger.parameters())
    assert pose.head.net[0].weight.grad is not None


def test_feature_matching_trains_the_matcher_by_gradient():
    pose = nets.create_model("pose_matching", preset="tiny").train()
    out = pose.forward_train(torch.rand(2, 3, 64, 64))
    (out["heatmaps"].mean() + out["matched"].pow(2).mean()).backward()
    assert pose.matcher.conv.weight.grad is not None
    assert all(p.grad is None for p in pose.tagger.parameters())


def test_builders_record_every_architecture_argument():
    model = nets.create_model("pose_matching", preset="tiny")
    spec = model.build_spec
    assert spec["builder"] == "pose_matching"
    assert spec["kwargs"]["tagger_width"] == 8 and spec["kwargs"]["head_channels"] == [16, 16, 8]
    assert "weights" not in spec["kwargs"] and "progress" not in spec["kwargs"]
    rebuilt = nets.create_model("pose_matching", **spec["kwargs"])
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_unknown_pretrained_weights_are_refused_without_downloading():
    with pytest.raises(ValueError, match="unknown weights"):
        nets.create_model("pose_matching", preset="tiny", weights="imagenet1k")
    with pytest.raises(ValueError, match="standard"):
        nets.create_model("tagger", preset="tiny", weights="imagenet")


@pytest.mark.slow
def test_paper_size_parameter_counts():
    """Feature matching: 9.9M as in Table 1 (tagger trunk conv1..layer3 + trained parts)."""
    matching = nets.create_model("pose_matching")
    total = sum(p.numel() for p in matching.parameters())
    trained = sum(p.numel() for p in matching.trainable_parameters())
    assert round(total / 1e6, 1) == 9.9
    assert 1.3e6 < trained < 1.5e6
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        assert matching.eval()(x).shape == (1, 25, 128, 128)


@pytest.mark.slow
def test_paper_size_concatenation_counts_explain_tables_86_8m():
    """Table 1's 86.8M = tagger trunk + the whole R101-FPN Keypoint R-CNN + the trained parts; ours runs an
    R50-FPN backbone and keypoint branch only (models/nets/pose.py's docstring explains the counts)."""

    def millions(module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1e6

    concat = nets.create_model("pose_concat")
    trained = sum(p.numel() for p in concat.trainable_parameters()) / 1e6
    assert round(millions(concat), 2) == 53.98 and round(trained, 2) == 0.80
    assert round(millions(concat.tagger), 2) == 8.54 and round(millions(concat.task), 2) == 44.64
    assert concat.task_converter.reduce.in_channels == 17  # the R-CNN's heatmap logits, as the authors do
    whole_r50 = millions(nets.create_model("keypoint_rcnn"))
    whole_r101 = millions(nets.create_model("keypoint_rcnn", depth=101))
    assert round(whole_r50, 2) == 59.14  # torchvision's published count for COCO_V1
    assert abs(millions(concat.tagger) + whole_r101 + trained - 86.8) < 0.7
