"""Synthetic figures: determinism, arrays, keypoints on the drawn joints, masks, joint limits, sides, variety."""

from __future__ import annotations

import numpy as np
import pytest

from posefinder.build.synthetic import (
    TEMPLATES,
    BodyPose,
    View,
    figure_rng,
    figures,
    render_figure,
    sample_pose,
)
from posefinder.build.synthetic.kinematics import ANGLE_NAMES, SIDES, elevation_max, forward_kinematics
from posefinder.build.synthetic.kinematics import Proportions
from posefinder.models import skeleton
from posefinder.models.pose import OCCLUDED, VISIBLE

pytestmark = pytest.mark.torchfree


I = skeleton.INDEX
BODY_JOINTS = [f"{s}_{j}" for s in SIDES for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]
SEEDS = range(60)


@pytest.fixture(scope="module")
def many():
    return [render_figure(s) for s in SEEDS]


def test_same_seed_same_figure_and_figures_is_reproducible():
    a, b = render_figure(11), render_figure(11)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.foreground, b.foreground)
    assert np.array_equal(a.pose.keypoints, b.pose.keypoints) and a.pose.bbox_xywh == b.pose.bbox_xywh
    run1 = list(figures(3, seed=5, size=(96, 128)))
    run2 = list(figures(3, seed=5, size=(96, 128)))
    for f1, f2 in zip(run1, run2):
        assert np.array_equal(f1.image, f2.image) and np.array_equal(f1.pose.keypoints, f2.pose.keypoints)
    again = render_figure(figure_rng(5, 2), (96, 128))
    assert np.array_equal(again.image, run1[2].image)
    assert not np.array_equal(run1[0].image, run1[1].image)


def test_arrays_have_the_contract_shapes_and_types():
    fig = render_figure(3, size=(200, 150))
    assert fig.image.shape == (150, 200, 3) and fig.image.dtype == np.uint8
    assert fig.foreground.shape == (150, 200, 4) and fig.foreground.dtype == np.uint8
    assert fig.mask.shape == (150, 200) and fig.mask.dtype == bool
    p = fig.pose
    assert p.keypoints.shape == (skeleton.NUM_KEYPOINTS, 3)
    assert p.image_size == (200, 150) and p.source == "synthetic"
    assert set(np.unique(p.keypoints[:, 2])) <= {OCCLUDED, VISIBLE}


def test_mask_is_alpha_over_half_bbox_is_its_box_and_the_figure_is_composited_over_the_background():
    bg = np.zeros((128, 160, 3), np.uint8)
    bg[:] = (10, 200, 30)
    for seed in range(8):
        fig = render_figure(seed, size=(160, 128), background=bg)
        alpha = fig.foreground[..., 3]
        assert np.array_equal(fig.mask, alpha > 127)
        ys, xs = np.nonzero(fig.mask)
        assert fig.pose.bbox_xywh is not None
        x, y, w, h = fig.pose.bbox_xywh
        assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        assert np.all(fig.image[alpha == 0] == (10, 200, 30))  # untouched background
        solid = alpha == 255
        assert np.array_equal(fig.image[solid], fig.foreground[solid, :3])  # opaque figure pixels
        assert np.array_equal(render_figure(seed, size=(160, 128), background=None).image[alpha == 0],
                              np.full(((alpha == 0).sum(), 3), 255, np.uint8))  # fmt: skip


def test_keypoints_are_inside_the_image_and_visible_ones_lie_on_the_figure(many):
    on_figure = total = 0
    for fig in many:
        kp = fig.pose.keypoints
        h, w = fig.mask.shape
        assert np.all((kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h))
        vis = kp[:, 2] == VISIBLE
        xs = np.round(kp[vis, 0]).astype(int)
        ys = np.round(kp[vis, 1]).astype(int)
        hits = fig.mask[ys, xs]
        names = [n for n, v in zip(skeleton.KEYPOINT_NAMES, vis) if v]
        # the body joints sit inside their limbs: every visible one is on a figure pixel
        for name, hit in zip(names, hits):
            if name in BODY_JOINTS or name in skeleton.MIDPOINTS:
                assert hit, f"visible {name} of figure {fig.pose.meta} is off the figure"
        on_figure += int(hits.sum())
        total += len(hits)
    assert on_figure == total  # face points too


def test_midpoints_are_the_means_of_their_endpoints(many):
    for fig in many[:10]:
        kp = fig.pose.keypoints
        for m, (a, b) in skeleton.MIDPOINT_ENDPOINTS.items():
            assert np.allclose(kp[m, :2], (kp[a, :2] + kp[b, :2]) / 2)


def test_left_and_right_are_the_characters_own_sides():
    pose = BodyPose.neutral()
    pose["left_arm_elevation"] = 170.0  # the left arm raised
    pose["left_arm_azimuth"] = 90.0
    front = render_figure(0, pose=pose, view=View(yaw_deg=0.0, distance=8.0)).pose.keypoints
    for j in ("shoulder", "hip", "knee", "eye", "ear", "wrist"):
        assert front[I[f"left_{j}"], 0] > front[I[f"right_{j}"], 0], j  # facing us: left on the image's right
    assert front[I["left_wrist"], 1] < front[I["nose"], 1] < front[I["right_wrist"], 1]
    back = render_figure(0, pose=pose, view=View(yaw_deg=180.0, distance=8.0)).pose.keypoints
    for j in ("shoulder", "hip", "knee", "wrist"):
        assert back[I[f"left_{j}"], 0] < back[I[f"right_{j}"], 0], j


def test_front_profile_and_back_views_mark_what_the_body_hides():
    pose = BodyPose.neutral()
    front = render_figure(1, pose=pose, view=View(yaw_deg=0.0, distance=8.0)).pose.keypoints
    assert np.all(front[:, 2] == VISIBLE)
    back = render_figure(1, pose=pose, view=View(yaw_deg=180.0, distance=8.0)).pose.keypoints
    for name in ("nose", "left_eye", "right_eye"):
        assert back[I[name], 2] == OCCLUDED
    for name in BODY_JOINTS:
        assert back[I[name], 2] == VISIBLE
    # facing the image's left, the character shows us its left side; its right side is behind the body
    # (arms held forward, so that they do not hang in front of the hips)
    pose = BodyPose.from_dict({"*_arm_elevation": 90.0, "*_arm_azimuth": 0.0})
    side = render_figure(1, pose=pose, view=View(yaw_deg=-90.0, distance=8.0)).pose.keypoints
    for j in ("shoulder", "hip", "eye", "ear"):
        assert side[I[f"left_{j}"], 2] == VISIBLE and side[I[f"right_{j}"], 2] == OCCLUDED, j
    assert side[I["nose"], 2] == VISIBLE
    other = render_figure(1, pose=pose, view=View(yaw_deg=90.0, distance=8.0)).pose.keypoints
    for j in ("shoulder", "hip", "eye", "ear"):
        assert other[I[f"right_{j}"], 2] == VISIBLE and other[I[f"left_{j}"], 2] == OCCLUDED, j


def test_sampled_poses_respect_the_joint_limits_and_knees_never_bend_forward():
    rng = np.random.default_rng(0)
    prop = Proportions()
    kinds = [None, "random"] + list(TEMPLATES)
    for i in range(400):
        pose = sample_pose(rng, kind=kinds[i % len(kinds)])
        assert pose.limit_violations() == [], (pose.kind, pose.limit_violations())
        sk = forward_kinematics(pose, prop)
        for s in SIDES:
            (_, thigh_front), (shin, _) = sk.limb_axes[f"{s}_thigh"], sk.limb_axes[f"{s}_shin"]
            assert shin @ thigh_front <= 1e-9  # the shin folds towards the back of the thigh
            (_, arm_front), (forearm, _) = sk.limb_axes[f"{s}_upper_arm"], sk.limb_axes[f"{s}_forearm"]
            assert forearm @ arm_front >= -1e-9  # the forearm folds towards the front of the upper arm
            el, az = pose[f"{s}_leg_elevation"], pose[f"{s}_leg_azimuth"]
            assert el <= elevation_max("leg", az) + 1e-9


def test_out_of_limit_poses_are_clipped_and_a_bent_knee_shows_the_shin_behind_the_thigh():
    bad = BodyPose.neutral()
    bad["left_knee"] = -40.0  # a knee bent forward
    bad["right_leg_elevation"] = 170.0  # a leg lifted past what a hip allows forward
    fixed = bad.clipped()
    assert fixed["left_knee"] == 0.0 and fixed["right_leg_elevation"] == elevation_max("leg", 0.0)
    assert bad.limit_violations() and not fixed.limit_violations()
    # knees bent 90 degrees with the thighs hanging: seen from the side the shins point backwards
    kneel = BodyPose.from_dict({"*_knee": 90.0}, kind="test")
    right = render_figure(2, pose=kneel, view=View(yaw_deg=90.0, distance=8.0)).pose.keypoints  # faces right
    left = render_figure(2, pose=kneel, view=View(yaw_deg=-90.0, distance=8.0)).pose.keypoints  # faces left
    for s in SIDES:
        assert right[I[f"{s}_ankle"], 0] < right[I[f"{s}_knee"], 0]
        assert left[I[f"{s}_ankle"], 0] > left[I[f"{s}_knee"], 0]


def test_every_pose_kind_renders_and_says_its_kind():
    for kind in list(TEMPLATES) + ["random"]:
        fig = render_figure(4, size=(96, 96), kind=kind)
        assert fig.pose.meta["kind"] == kind
        assert fig.mask.sum() > 200


def test_different_seeds_give_different_poses_looks_and_backgrounds(many):
    kinds = {f.pose.meta["kind"] for f in many}
    looks = {f.pose.meta["look"] for f in many}
    backgrounds = {f.pose.meta["background"] for f in many}
    heads = [f.pose.meta["heads"] for f in many]
    assert len(kinds) >= 10 and looks == {"mannequin", "clothed"} and len(backgrounds) >= 5
    assert min(heads) < 5.6 and max(heads) > 7.4  # child-like to tall
    mean_colours = np.array([f.foreground[f.mask, :3].mean(axis=0) for f in many])
    assert np.std(mean_colours, axis=0).min() > 15
    # poses: normalised keypoints of different seeds are far apart
    def norm(f):
        xy = f.pose.keypoints[:, :2]
        return (xy - xy.mean(axis=0)) / max(f.pose.bbox_xywh[2:])

    dists = [np.abs(norm(many[i]) - norm(many[i + 1])).mean() for i in range(len(many) - 1)]
    assert min(dists) > 0.01


def test_background_choices():
    from posefinder.build.synthetic.backgrounds import KINDS

    for kind in KINDS:
        fig = render_figure(9, size=(64, 80), background=kind)
        assert fig.pose.meta["background"] == kind and fig.image.shape == (80, 64, 3)
    img = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    assert render_figure(9, size=(64, 80), background=img).image.shape == (80, 64, 3)  # resized to fit
    with pytest.raises(ValueError, match="unknown background"):
        render_figure(9, background="plaid")
    with pytest.raises(ValueError, match="unknown pose kind"):
        render_figure(9, kind="moonwalk")


def test_a_generator_seed_is_advanced_and_margins_are_kept():
    rng = np.random.default_rng(3)
    a, b = render_figure(rng, size=(128, 128)), render_figure(rng, size=(128, 128))
    assert not np.array_equal(a.image, b.image)
    for f in (a, b):
        assert f.pose.bbox_xywh is not None
        x, y, w, h = f.pose.bbox_xywh
        assert x >= 1 and y >= 1 and x + w <= 127 and y + h <= 127
    assert len(ANGLE_NAMES) == len(set(ANGLE_NAMES))


def _limb_direction_errors(sources, rendered) -> np.ndarray:
    errs = []
    for src, fig in zip(sources, rendered):
        for s in SIDES:
            for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")):
                ia, ib = I[f"{s}_{a}"], I[f"{s}_{b}"]
                if src.present[ia] and src.present[ib]:
                    d1, d2 = src.xy[ib] - src.xy[ia], fig.pose.xy[ib] - fig.pose.xy[ia]
                    cos = d1 @ d2 / (np.linalg.norm(d1) * np.linalg.norm(d2) + 1e-9)
                    errs.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.array(errs)


def test_inverse_kinematics_recovers_the_limb_angles():
    from posefinder.build.synthetic.kinematics import limb_angles

    rng = np.random.default_rng(1)
    prop = Proportions()
    for _ in range(100):
        pose = sample_pose(rng)
        sk = forward_kinematics(pose, prop)
        again = pose.copy()
        for s, side in (("left", 1.0), ("right", -1.0)):
            for limb, frame, joints, hinge, fwd in (
                ("arm", "chest", ("shoulder", "elbow", "wrist"), "elbow", True),
                ("leg", "pelvis", ("hip", "knee", "ankle"), "knee", False),
            ):
                base, mid, end = (sk.points[f"{s}_{j}"] for j in joints)
                el, az, tw, bend = limb_angles(sk.frames[frame], base, mid, end, side, fwd)
                again[f"{s}_{limb}_elevation"], again[f"{s}_{limb}_azimuth"] = el, az
                again[f"{s}_{limb}_twist"], again[f"{s}_{hinge}"] = tw, bend
        sk2 = forward_kinematics(again, prop)
        for name in ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "left_elbow", "right_knee"):
            assert np.allclose(sk2.points[name], sk.points[name], atol=2e-3), name


def test_a_pose_prior_lifts_2d_poses_into_figures_that_reproduce_them():
    from posefinder.build.synthetic.prior import PosePrior, lift_pose
    from posefinder.models.pose import Pose

    # 2D "annotations": drawn figures' keypoints, without eyes and ears (as ADD's)
    sources = []
    for seed in range(40):
        kp = render_figure(seed, kind=str(list(TEMPLATES)[seed % len(TEMPLATES)])).pose.keypoints.copy()
        kp[[I["left_eye"], I["right_eye"], I["left_ear"], I["right_ear"]]] = 0
        sources.append(Pose(kp))
    prior = PosePrior(sources)
    rendered = []
    for i, src in enumerate(sources):
        lifted = lift_pose(src, np.random.default_rng(i))
        assert lifted is not None and lifted.pose.limit_violations() == []
        lifted.pose.extra["view"] = lifted.view
        rendered.append(render_figure(i, pose=lifted.pose))
    errs = _limb_direction_errors(sources, rendered)
    assert np.median(errs) < 10 and np.mean(errs) < 25
    # render_figure takes a 2D pose directly
    direct = [render_figure(100 + i, pose=src) for i, src in enumerate(sources[:10])]
    assert np.median(_limb_direction_errors(sources[:10], direct)) < 10
    with pytest.raises(ValueError, match="shoulders and both hips"):
        render_figure(0, pose=sources[0].with_only(np.arange(25) < 5))
    rng = np.random.default_rng(0)
    kinds = [sample_pose(rng, prior=prior).kind for _ in range(60)]
    assert 15 < kinds.count("prior") < 45  # half of the time
    fig = render_figure(3, kind="prior", prior=prior)
    assert fig.pose.meta["kind"] == "prior"


def test_the_add_pose_prior_reproduces_add_poses(add_train, add_val):
    from posefinder.build.synthetic.prior import PosePrior, lift_pose

    prior = PosePrior.from_file(add_train)
    assert len(prior) == 1400
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert prior.sample(rng).limit_violations() == []
    val = PosePrior.from_file(add_val).poses[:50]
    rendered = []
    for i, src in enumerate(val):
        lifted = lift_pose(src, np.random.default_rng(i))
        assert lifted is not None
        lifted.pose.extra["view"] = lifted.view
        rendered.append(render_figure(i, pose=lifted.pose))
    errs = _limb_direction_errors(val, rendered)
    assert np.median(errs) < 5 and np.mean(errs) < 15


def _facing(keypoints: np.ndarray) -> float:
    """How far a 2D pose's shoulders and hips lie in front-view order (the character's left on the image's
    right) across its torso axis, in torso lengths: > 0 facing the viewer, 0 in profile, < 0 from behind."""
    i = skeleton.INDEX
    ls, rs, lh, rh = (keypoints[i[k], :2] for k in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    up = (ls + rs) / 2 - (lh + rh) / 2
    length = float(np.linalg.norm(up))
    across = np.array([-up[1], up[0]]) / length
    return float(((ls - rs) @ across + (lh - rh) @ across) / 2 / length)


def _facing_fractions(values) -> np.ndarray:
    v = np.asarray(values)
    return np.array([(v > 0.1).mean(), (np.abs(v) <= 0.1).mean(), (v < -0.1).mean()])  # front, profile, back


def test_figures_face_the_viewer_about_as_often_as_illustrated_characters(add_train):
    """The view prior (camera.VIEW_WEIGHTS) is fitted to ADD: the fractions of front-view, profile and
    back-view torsos of synthetic figures are within 5 points of those of hand-labelled illustrations."""
    from posefinder.models.formats import read_poses

    drawn = _facing_fractions([_facing(render_figure(i, size=(96, 96)).pose.keypoints) for i in range(300)])
    real = _facing_fractions([_facing(r.pose.keypoints) for r in read_poses(add_train)])
    assert real[0] > 0.9  # illustrations: nearly all face the viewer
    assert np.abs(drawn - real).max() < 0.05, (drawn, real)


def test_a_render_style_changes_proportions_lines_palette_and_costume_and_the_default_changes_nothing():
    import numpy as np

    from posefinder.build.synthetic import STYLES, RenderStyle, render_figure

    plain = render_figure(41, size=(128, 128))
    assert np.array_equal(render_figure(41, size=(128, 128), style="default").image, plain.image)
    assert np.array_equal(render_figure(41, size=(128, 128), style=RenderStyle()).image, plain.image)
    styled = [render_figure(s, size=(128, 128), style="chibi-ink") for s in range(8)]
    lo, hi = STYLES["chibi-ink"].heads
    assert all(lo - 0.01 <= f.pose.meta["heads"] <= hi + 0.01 for f in styled)  # chibi proportions
    for f in styled:  # ink: the figure's pixels are paper white or near-black lines
        pixels = f.foreground[f.mask][:, :3].astype(int)
        light, dark = (pixels.min(axis=1) > 200).mean(), (pixels.max(axis=1) < 70).mean()
        assert light + dark > 0.7 and dark > 0.1, (light, dark)  # the rest: grey hair, anti-aliased edges
        assert f.pose.present.all()
    with pytest.raises(ValueError, match="unknown style"):
        render_figure(1, style="nope")
    with pytest.raises(ValueError, match="palette"):
        RenderStyle(palette="neon")
