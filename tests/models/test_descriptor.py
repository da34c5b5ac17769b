"""The descriptor and query distance: the paper's descriptor, partial queries, mirror, orientation."""

import numpy as np
import pytest
from library_helpers import random_pose, standing_keypoints

from posefinder.models import skeleton
from posefinder.models.descriptor import (
    PAIRS,
    Query,
    QueryError,
    pose_descriptor,
    query_distance,
)
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree


def _comparable(query: Query, entry) -> tuple[float, bool]:
    """query_distance of a pair that shares enough joints (None fails the test)."""
    got = query_distance(query, entry)
    assert got is not None, "the pair shares too few joints"
    return got


def test_pairs_are_the_300_index_pairs():
    assert PAIRS.shape == (300, 2)
    assert np.all(PAIRS[:, 0] < PAIRS[:, 1])
    assert len({tuple(p) for p in PAIRS}) == 300


def test_descriptor_is_pairwise_distances_over_the_bbox_longest_side():
    kp = np.zeros((25, 3))
    kp[:, 2] = 2
    kp[:, 0] = np.arange(25) * 4.0  # a horizontal line 96 px long
    kp[:, 1] = 10.0
    d = pose_descriptor(Pose(kp))
    assert d.dtype == np.float32 and d.shape == (300,)
    i = int(np.flatnonzero((PAIRS[:, 0] == 0) & (PAIRS[:, 1] == 24))[0])
    assert d[i] == pytest.approx(1.0)
    j = int(np.flatnonzero((PAIRS[:, 0] == 3) & (PAIRS[:, 1] == 5))[0])
    assert d[j] == pytest.approx(8.0 / 96.0)


def test_descriptor_invariant_to_translation_rotation_and_scale():
    rng = np.random.default_rng(1)
    p = random_pose(rng)
    c, s = np.cos(1.1), np.sin(1.1)
    kp = p.keypoints.copy()
    # rotation by 90 degrees keeps the bbox's longest side of a rotated box only for square boxes, so
    # check translation + scale + a rotation by 180 degrees (box unchanged) exactly, and any rotation
    # up to the bbox scale factor
    kp[:, :2] = -kp[:, :2] * 3.0 + 17.0
    np.testing.assert_allclose(pose_descriptor(Pose(kp)), pose_descriptor(p), atol=1e-6)
    kp2 = p.keypoints.copy()
    kp2[:, :2] = kp2[:, :2] @ np.array([[c, s], [-s, c]])
    a, b = pose_descriptor(Pose(kp2)), pose_descriptor(p)
    ratio = a[b > 0.05] / b[b > 0.05]
    assert np.allclose(ratio, ratio[0], rtol=1e-5)


def test_absent_joints_give_zero_pairs_and_are_never_compared():
    rng = np.random.default_rng(2)
    p = random_pose(rng)
    legs = np.zeros(25, bool)
    legs[skeleton.resolve_names("legs")] = True
    no_legs = p.with_only(~legs)
    d = pose_descriptor(no_legs)
    touching = legs[PAIRS[:, 0]] | legs[PAIRS[:, 1]]
    assert np.all(d[touching] == 0) and np.all(d[~touching] > 0)
    # the legless pose compared with the full one: only shared joints count, scaled on them -> 0
    dist, mirrored = _comparable(Query(no_legs), p)
    assert dist == pytest.approx(0.0, abs=1e-9) and not mirrored
    # and the full query compared with the legless entry: the same
    assert _comparable(Query(p), no_legs)[0] == pytest.approx(0.0, abs=1e-9)


def test_partial_query_finds_its_own_pose_at_zero_and_upper_body_matches_full_figure_scale():
    rng = np.random.default_rng(3)
    full = random_pose(rng)
    upper = np.zeros(25, bool)
    upper[skeleton.resolve_names("upper_body")] = True
    q = Query(full, joints=upper)
    assert _comparable(q, full)[0] == pytest.approx(0.0, abs=1e-9)
    # the same upper body drawn at another scale and place (a half-length portrait) still matches at 0
    kp = full.keypoints.copy()
    kp[:, :2] = kp[:, :2] * 2.5 + 40
    portrait = Pose(kp).with_only(upper)
    assert _comparable(Query(portrait), full)[0] == pytest.approx(0.0, abs=1e-9)
    # but it does not match a figure with other arms
    other = random_pose(np.random.default_rng(99))
    assert _comparable(Query(portrait), other)[0] > 0.1


def test_mirror_finds_the_mirrored_pose_at_zero():
    rng = np.random.default_rng(4)
    p = random_pose(rng, jitter=0.3)
    m = p.mirrored()
    plain = _comparable(Query(p), m)
    assert plain[0] > 0.05
    dist, mirrored = _comparable(Query(p, mirror=True), m)
    assert dist == pytest.approx(0.0, abs=1e-9) and mirrored
    assert query_distance(Query(p, mirror=True), p) == (pytest.approx(0.0, abs=1e-9), False)


def _rotated(pose: Pose, angle: float) -> Pose:
    kp = pose.keypoints.copy()
    c, s = np.cos(angle), np.sin(angle)
    centre = kp[:, :2].mean(axis=0)
    kp[:, :2] = (kp[:, :2] - centre) @ np.array([[c, s], [-s, c]]) + centre
    return Pose(kp)


def test_orientation_weight_separates_a_handstand_from_standing():
    stand = Pose(standing_keypoints() * [100, 100, 1] + [200, 200, 0])
    handstand = _rotated(stand, np.pi)  # upside down: same pairwise distances
    assert _comparable(Query(stand), handstand)[0] == pytest.approx(0.0, abs=1e-9)
    d = _comparable(Query(stand, orientation_weight=1.0), handstand)[0]
    assert d == pytest.approx(2.0, abs=1e-6)  # |u - (-u)|^2 = 4
    assert _comparable(Query(stand, orientation_weight=1.0), stand)[0] == pytest.approx(0.0, abs=1e-9)


def test_weight_zero_is_the_paper_euclidean_distance_between_descriptors():
    rng = np.random.default_rng(5)
    poses = [random_pose(rng) for _ in range(30)]
    q = poses[0]
    for p in poses[1:]:
        paper = float(np.linalg.norm(pose_descriptor(q).astype(np.float64) - pose_descriptor(p)))
        assert _comparable(Query(q), p)[0] == pytest.approx(paper, abs=1e-6)


def test_entries_missing_query_joints_are_compared_on_shared_joints_with_pair_count_weight():
    rng = np.random.default_rng(6)
    q, e = random_pose(rng), random_pose(rng)
    arms_off = np.ones(25, bool)
    arms_off[skeleton.resolve_names("arms")] = False
    arms_off[skeleton.resolve_names("torso")] = True
    e_partial = e.with_only(arms_off)
    # equals the distance of the query restricted to the shared joints, times pairs(J) / pairs(S)
    restricted = _comparable(Query(q, joints=arms_off), e)[0]
    n_j, n_s = int(q.present.sum()), int((q.present & arms_off).sum())
    w = (n_j * (n_j - 1) / 2) / (n_s * (n_s - 1) / 2)
    assert _comparable(Query(q), e_partial)[0] == pytest.approx(restricted * np.sqrt(w), rel=1e-9)


def test_too_few_shared_joints_are_not_compared_and_too_small_queries_refused():
    rng = np.random.default_rng(7)
    q = random_pose(rng)
    face = np.zeros(25, bool)
    face[skeleton.resolve_names("head")] = True
    assert query_distance(Query(q), q.with_only(face)) is None  # 5 of 25 joints shared
    two = np.zeros(25, bool)
    two[[0, 5]] = True
    with pytest.raises(QueryError):
        query_distance(Query(q, joints=two), q)
    with pytest.raises(QueryError):
        Query(q, orientation_weight=-1.0)
