"""Exact search: the same neighbours and distances as scikit-learn's brute force, and as the reference
query distance for partial queries, absent joints, mirror and orientation."""

import numpy as np
import pytest
from library_helpers import random_pose, random_poses
from sklearn.neighbors import NearestNeighbors

from posefinder.models import skeleton
from posefinder.models.descriptor import Query, pose_descriptor, query_distance
from posefinder.models.formats import read_poses
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library
from posefinder.models.library.cache import build_index
from posefinder.models.library.search import exact_knn

pytestmark = pytest.mark.torchfree


def _index_of(poses):
    kp = np.stack([p.keypoints for p in poses])
    n = len(poses)
    return build_index(np.arange(n), np.arange(n), -np.ones(n, np.int64), kp)


def _check_against_sklearn(poses, queries, k):
    index = _index_of(poses)
    matrix = np.stack([pose_descriptor(p) for p in poses])
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(matrix)
    for q in queries:
        dist, ind = nn.kneighbors(pose_descriptor(q)[None, :])
        got = exact_knn(index, Query(q), k)
        np.testing.assert_allclose(got.distances, dist[0], atol=1e-4)
        # same neighbours (pose ids are row numbers of `poses`); ties may swap places
        assert sorted(index.pose_ids[got.rows].tolist()) == sorted(ind[0].tolist()) or np.allclose(
            np.sort(got.distances), np.sort(dist[0]), atol=1e-6
        )
        assert index.pose_ids[got.rows].tolist()[:3] == ind[0].tolist()[:3]


def test_exact_like_sklearn_on_generated_poses():
    poses = random_poses(3000, seed=11)
    queries = random_poses(25, seed=12) + poses[:5]
    _check_against_sklearn(poses, queries, k=10)


def test_exact_like_sklearn_on_add_poses(add_train, add_val):
    poses = [r.pose for r in read_poses(add_train)]
    queries = [r.pose for r in read_poses(add_val)]
    _check_against_sklearn(poses, queries, k=10)


def test_library_search_like_sklearn_on_add_poses(tmp_path, add_train, add_val):
    records = read_poses(add_train)
    queries = [r.pose for r in read_poses(add_val)][:20]
    matrix = np.stack([pose_descriptor(r.pose) for r in records])
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(matrix)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(records)
        for q in queries:
            dist, ind = nn.kneighbors(pose_descriptor(q)[None, :])
            res = lib.search(Query(q), k=5)
            assert [r.image for r in res] == [records[i].image for i in ind[0]]
            np.testing.assert_allclose([r.distance for r in res], dist[0], atol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_search_equals_reference_distance_with_partial_poses(seed):
    """Entries with random absent joints, queries with random joints off, mirror and orientation on:
    the library's k nearest are exactly the k nearest by descriptor.query_distance, entry by entry."""
    rng = np.random.default_rng(seed)
    poses = random_poses(900, seed=100 + seed, drop=0.12)
    poses += random_poses(300, seed=200 + seed)  # some complete ones
    index = _index_of(poses)
    for trial in range(4):
        q = random_pose(rng, drop=0.1 if trial % 2 else 0.0)
        joints = rng.random(25) < (0.6 if trial >= 2 else 1.1)
        query = Query(q, joints=joints, mirror=bool(trial % 2), orientation_weight=(0.0, 0.7)[trial % 2])
        ref = []
        for i, p in enumerate(poses):
            r = query_distance(query, p)
            if r is not None:
                ref.append((r[0], i, r[1]))
        ref.sort()
        got = exact_knn(index, query, 15)
        assert len(got.rows) == min(15, len(ref))
        np.testing.assert_allclose(got.distances, [r[0] for r in ref[:15]], atol=1e-5)
        assert index.pose_ids[got.rows].tolist() == [r[1] for r in ref[:15]]
        assert got.mirrored.tolist() == [r[2] for r in ref[:15]]


def test_partial_query_finds_itself_and_the_full_figure_at_zero(tmp_path):
    poses = random_poses(400, seed=21)
    upper = np.zeros(25, bool)
    upper[skeleton.resolve_names("upper_body")] = True
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records([PoseRecord(p, f"full{i}.png") for i, p in enumerate(poses)])
        lib.import_records([PoseRecord(poses[7].with_only(upper), "portrait.png")])
        # legs switched off: the figure itself and its own upper body at 0
        res = lib.search(Query(poses[7], joints=upper), k=3)
        assert {r.image for r in res[:2]} == {"full7.png", "portrait.png"}
        assert res[0].distance < 1e-6 and res[1].distance < 1e-6 and res[2].distance > 1e-3
        # an upper-body pose (legs absent) drawn at another scale finds the full figure at 0
        kp = poses[7].keypoints.copy()
        kp[:, :2] = kp[:, :2] * 0.4 + 3
        from posefinder.models.pose import Pose

        res = lib.search(Query(Pose(kp).with_only(upper)), k=2)
        assert {r.image for r in res} == {"full7.png", "portrait.png"}
        assert all(r.distance < 1e-6 for r in res)


def test_mirror_search_finds_the_mirrored_pose_and_says_so(tmp_path):
    poses = random_poses(300, seed=31, jitter=0.3)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records([PoseRecord(p, f"p{i}.png") for i, p in enumerate(poses)])
        q = poses[42].mirrored()
        plain = lib.search(Query(q), k=1)[0]
        assert plain.image != "p42.png" or plain.distance > 1e-3
        best = lib.search(Query(q, mirror=True), k=1)[0]
        assert best.image == "p42.png" and best.distance < 1e-6 and best.mirrored


def test_orientation_weight_zero_is_the_paper_ranking_and_positive_separates_handstands(tmp_path):
    from test_descriptor import _rotated

    poses = random_poses(200, seed=41)
    stand = poses[0]
    handstand = _rotated(stand, np.pi)
    records = [PoseRecord(p, f"p{i}.png") for i, p in enumerate(poses)] + [PoseRecord(handstand, "handstand.png")]
    matrix = np.stack([pose_descriptor(r.pose) for r in records])
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(records)
        res0 = lib.search(Query(stand), k=20)
        d = np.linalg.norm(matrix.astype(np.float64) - pose_descriptor(stand), axis=1)
        order = np.lexsort((np.arange(len(d)), d))[:20]
        # weight 0: the paper's ranking (handstand and standing tie at 0)
        assert [r.image for r in res0] == [records[i].image for i in order]
        res1 = lib.search(Query(stand, orientation_weight=1.0), k=len(records))
        assert res1[0].image == "p0.png"
        assert next(r.distance for r in res1 if r.image == "handstand.png") == pytest.approx(2.0, abs=1e-6)
        res25 = lib.search(Query(stand, orientation_weight=25.0), k=10)
        assert res25[0].image == "p0.png" and "handstand.png" not in [r.image for r in res25]
        hs = lib.search(Query(handstand, orientation_weight=1.0), k=1)[0]
        assert hs.image == "handstand.png"
