"""The pose pipeline: several characters per image, no character, batches, and installed tiny models."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from estimator_fakes import BlobPoseNet, RedSegmenter, blob_image, tiny_model_file  # noqa: E402
from posefinder.models.errors import ModelError  # noqa: E402
from posefinder.models.estimators.paper import PaperModelEstimator  # noqa: E402
from posefinder.models.estimators.pipeline import PipelineSettings, PosePipeline  # noqa: E402
from posefinder.models.estimators.regions import RegionRules, character_regions, mask_box  # noqa: E402


def pipeline(**kw) -> PosePipeline:
    settings = PipelineSettings(input_size=96, heatmap_size=48, segmenter_input_size=160, **kw)
    return PosePipeline(BlobPoseNet(48), RedSegmenter(), settings, name="fake")


def rect_mask(shape, *rects) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x, y, w, h in rects:
        mask[y : y + h, x : x + w] = True
    return mask


def _scores(pose) -> np.ndarray:
    """An estimated pose's per-joint scores (None fails the test)."""
    assert pose.scores is not None
    return pose.scores


def test_one_component_gives_the_papers_enclosing_box():
    mask = rect_mask((100, 120), (10, 20, 30, 50))
    (region,) = character_regions(mask)
    assert region.bbox_xywh == (10, 20, 30, 50) == mask_box(mask) and region.area == 1500
    assert character_regions(np.zeros((10, 10), bool)) == []


def test_separate_large_components_are_separate_characters_largest_first():
    mask = rect_mask((200, 300), (10, 10, 60, 150), (150, 30, 80, 160))
    regions = character_regions(mask)
    assert [r.bbox_xywh for r in regions] == [(150, 30, 80, 160), (10, 10, 60, 150)]


def test_detached_parts_join_their_character_and_far_specks_are_dropped():
    body = (100, 50, 60, 120)
    hand = (163, 100, 5, 5)  # 3 px from the body: a hand behind a thin gap
    _sword = (90, 40, 20, 60)  # overlaps the body's box: one character
    speck = (5, 5, 3, 3)  # far away: noise
    mask = rect_mask((250, 250), body, hand, speck)
    mask[40:100, 90:100] = True  # the part of the sword outside the body
    (region,) = character_regions(mask)
    assert region.bbox_xywh == (90, 40, 78, 130)
    assert region.area == 60 * 120 + 25 + 600
    many = rect_mask((100, 400), *[(10 + 60 * i, 10, 40, 80) for i in range(6)])
    assert len(character_regions(many, RegionRules(max_characters=3))) == 3


def test_pipeline_returns_one_pose_per_character_largest_first_with_its_keypoints():
    rects = [(20, 30, 120, 200), (200, 20, 170, 300)]
    centres = [(80.3, 120.6), (290.2, 170.4)]
    image = blob_image((400, 360), rects, centres, 8.0)
    poses = pipeline().estimate(image)
    assert len(poses) == 2
    for pose, rect, centre in zip(poses, rects[::-1], centres[::-1]):
        assert np.abs(pose.xy - centre).max() < 0.5
        assert pose.bbox_xywh is not None
        assert abs(pose.bbox_xywh[0] - rect[0]) < 3 and abs(pose.bbox_xywh[2] - rect[2]) < 5
    assert poses[0].meta["area"] > poses[1].meta["area"]


def test_given_boxes_give_the_poses_the_segmented_boxes_give():
    rects = [(20, 30, 120, 200), (200, 20, 170, 300)]
    image = blob_image((400, 360), rects, [(80.3, 120.6), (290.2, 170.4)], 8.0)
    segmented = pipeline().estimate(image)
    given = pipeline().estimate_in_boxes([image, image], [p.bbox_xywh for p in segmented])
    assert len(given) == 2
    for a, b in zip(segmented, given):
        np.testing.assert_allclose(b.keypoints, a.keypoints)
        assert b.bbox_xywh == a.bbox_xywh and b.image_size == a.image_size


def test_no_foreground_means_no_character():
    image = blob_image((200, 150), [], [(100.0, 70.0)], 8.0)
    assert pipeline().estimate(image) == []


def test_estimate_batch_equals_estimate_per_image():
    images = [
        blob_image((300, 200), [(50, 20, 100, 160)], [(90.5, 80.5)], 7.0),
        blob_image((160, 240), [(10, 10, 60, 100), (90, 20, 60, 200)], [(40.0, 50.0), (120.0, 90.0)], 6.0),
        blob_image((100, 100), [], [], 5.0),
    ]
    pipe = pipeline(batch_size=2)
    batch = pipe.estimate_batch(images)
    single = [pipe.estimate(im) for im in images]
    assert [len(b) for b in batch] == [1, 2, 0]
    for b, s in zip(batch, single):
        assert all(p.allclose(q, atol=1e-9) and np.allclose(_scores(p), _scores(q)) for p, q in zip(b, s))


def test_visibility_follows_scores_and_the_image_border():
    image = blob_image((200, 200), [(40, 40, 120, 120)], [(100.0, 100.0)], 8.0)
    (pose,) = pipeline(visible_score=0.99).estimate(image)
    assert (pose.keypoints[:, 2] == 1).all()  # present but below the visible score: guessed
    (pose,) = pipeline(absent_score=0.99).estimate(image)
    assert not pose.present.any()
    (pose,) = pipeline().estimate(image)
    assert (pose.keypoints[:, 2] == 2).all() and pose.score == pytest.approx(_scores(pose).mean())


def test_images_that_are_not_rgb_uint8_are_refused():
    pipe = pipeline()
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        pipe.estimate(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        pipe.estimate(np.zeros((10, 10, 3), np.float32))


@pytest.mark.parametrize("arch", ["pose_matching", "pose_concat"])
def test_an_exported_tiny_model_runs_with_and_without_its_segmenter(tmp_path, arch):
    image = blob_image((120, 90), [(30, 10, 50, 70)], [(50.0, 40.0)], 5.0)
    for seg in (True, False):
        path = tiny_model_file(tmp_path, segmenter=seg, arch=arch, name=f"m{int(seg)}")
        est = PaperModelEstimator.from_file(path)
        assert est.name == est.card.architecture and est.model_name == f"m{int(seg)}"
        poses = est.estimate(image)
        assert len(poses) <= 4
        for pose in poses:
            assert pose.keypoints.shape == (25, 3) and np.isfinite(pose.keypoints).all()
            assert pose.source == f"model:{est.name}" and pose.meta["model"] == est.model_name
            assert pose.score is not None and 0 <= pose.score <= 1 and pose.image_size == (120, 90)
        if not seg:
            assert len(poses) == 1 and poses[0].bbox_xywh is None


def test_card_inference_settings_reach_the_pipeline(tmp_path):
    path = tiny_model_file(tmp_path, inference={"padding": 0.25, "smoothing": 0.0, "max_characters": 2})
    est = PaperModelEstimator.from_file(path)
    s = est.pipeline.settings
    assert (s.padding, s.smoothing, s.regions.max_characters) == (0.25, 0.0, 2)
    assert (s.input_size, s.heatmap_size, s.segmenter_input_size) == (64, 32, 64)
    assert PaperModelEstimator.from_file(path, padding=0.5).pipeline.settings.padding == 0.5


def test_the_segmenters_output_stride_comes_from_the_card_or_the_caller(tmp_path):
    image = blob_image((120, 90), [(30, 10, 50, 70)], [(50.0, 40.0)], 5.0)
    default = PaperModelEstimator.from_file(tiny_model_file(tmp_path, name="os8"))
    assert default.pipeline.settings.segmenter_output_stride == 8 and default.bundle.segmenter.output_stride == 8
    fast = PaperModelEstimator.from_file(tiny_model_file(tmp_path, name="os16", inference={"segmenter_output_stride": 16}))
    assert fast.pipeline.settings.segmenter_output_stride == 16 and fast.bundle.segmenter.output_stride == 16
    for pose in fast.estimate(image):
        assert np.isfinite(pose.keypoints).all()
    path = tiny_model_file(tmp_path, name="m")
    assert PaperModelEstimator.from_file(path, segmenter_output_stride=16).bundle.segmenter.output_stride == 16
    bad = tiny_model_file(tmp_path, name="bad", inference={"segmenter_output_stride": 32})
    with pytest.raises(ModelError, match="output stride 8 or 16, not 32"):
        PaperModelEstimator.from_file(bad)


def test_installed_model_estimates_exactly_like_the_bundle_it_was_saved_from(tmp_path):
    from posefinder.models.estimators import chain
    from posefinder.models.weights import ModelStore, load_bundle

    path = tiny_model_file(tmp_path, name="rt")
    bundle, card = load_bundle(path)
    in_memory = PaperModelEstimator(bundle, card)  # what build/ can run before exporting
    ModelStore().install(path)
    installed = chain.select_estimator("rt")
    image = blob_image((150, 110), [(40, 20, 60, 80)], [(70.0, 60.0)], 6.0)
    a, b = in_memory.estimate(image), installed.estimate(image)
    assert len(a) == len(b) and all(p == q for p, q in zip(a, b))


def test_shorter_side_segmenter_input_keeps_the_aspect_and_has_no_letterbox():
    seen = []
    seg = RedSegmenter()

    def recording(x):
        seen.append(tuple(x.shape))
        return seg(x)

    image = np.full((300, 200, 3), 255, np.uint8)
    image[80:170, 60:110] = (60, 255, 255)
    settings = PipelineSettings(input_size=96, heatmap_size=48, segmenter_input_size=160, segmenter_resize="shorter")
    poses = PosePipeline(BlobPoseNet(48), recording, settings).estimate_batch([image, image[:, :150]])
    assert seen == [(1, 3, 240, 160), (1, 3, 320, 160)]  # one at a time, shorter side 160, no letterbox
    assert all(len(p) == 1 for p in poses)
    box = poses[0][0].bbox_xywh
    assert box is not None
    np.testing.assert_allclose(box, (60, 80, 50, 90), atol=2)


def test_midpoints_from_endpoints_replace_the_networks_own():
    image = np.full((300, 200, 3), 255, np.uint8)
    image[80:170, 60:110] = (60, 255, 255)
    from posefinder.models import skeleton

    own = pipeline().estimate(image)[0]
    rebuilt = pipeline(midpoints="endpoints").estimate(image)[0]
    for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
        np.testing.assert_allclose(rebuilt.xy[m], (own.xy[a] + own.xy[b]) / 2)
        assert _scores(rebuilt)[m] == pytest.approx(min(_scores(own)[a], _scores(own)[b]))
    np.testing.assert_allclose(rebuilt.xy[:17], own.xy[:17])
    with pytest.raises(ValueError, match="inference.midpoints"):
        PipelineSettings.from_card(type("Card", (), {"inference": {"midpoints": "guess"}, "input_size": 96,
                                                     "heatmap_size": 48, "segmenter_input_size": None})())  # fmt: skip
