"""The exact search's code paths: many presence patterns across block boundaries, partial queries, mirror,
orientation, filters, k larger than the library, exact ties beyond the candidate count, near-duplicates
closer than float32 resolves, and the pass's lower bound itself."""

import numpy as np
import pytest
from library_helpers import counting_block_reads, random_pose, random_poses

from posefinder.models import skeleton
from posefinder.models.descriptor import Query, query_distance
from posefinder.models.library import search
from posefinder.models.library.search import pruning, scan
from posefinder.models.library.cache import build_index
from posefinder.models.library.search import exact_knn, plan_query
from posefinder.models.pose import Pose

pytestmark = pytest.mark.torchfree


def _index_of(poses, pose_ids=None):
    kp = np.stack([p.keypoints for p in poses])
    n = len(poses)
    ids = np.arange(n) if pose_ids is None else np.asarray(pose_ids)
    return build_index(ids, ids, -np.ones(n, np.int64), kp)


def _reference(query, poses, rows=None):
    """[(distance, pose number, mirrored)] of every comparable pose, best first (ties by pose number)."""
    out = []
    for i, p in enumerate(poses):
        if rows is not None and i not in rows:
            continue
        r = query_distance(query, p)
        if r is not None:
            out.append((r[0], i, r[1]))
    return sorted(out)


def _many_pattern_poses(n, seed):
    """Poses with 0-6 random joints absent (hundreds of presence patterns) and some complete ones."""
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(n):
        p = random_pose(rng, jitter=0.3)
        gone = rng.choice(skeleton.NUM_KEYPOINTS, size=int(rng.integers(0, 7)), replace=False)
        keep = np.ones(skeleton.NUM_KEYPOINTS, bool)
        keep[gone] = False
        poses.append(p.with_only(keep))
    return poses


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that patterns straddle blocks and the running threshold is exercised."""
    monkeypatch.setattr(scan, "BLOCK_ROWS", 97)
    monkeypatch.setattr(scan, "GATHER_ROWS", 31)


def _assert_same(got, ref, k, poses_index):
    want = ref[:k]
    assert len(got.rows) == len(want)
    np.testing.assert_allclose(got.distances, [r[0] for r in want], atol=1e-5)
    assert poses_index.pose_ids[got.rows].tolist() == [r[1] for r in want]
    assert got.mirrored.tolist() == [r[2] for r in want]


@pytest.mark.parametrize("seed", range(3))
def test_many_patterns_partial_mirror_orientation_equal_the_reference(small_blocks, seed):
    poses = _many_pattern_poses(700, seed=300 + seed)
    index = _index_of(poses)
    assert len(index.patterns) > 100  # many presence patterns, each a slice of rows
    rng = np.random.default_rng(seed)
    legs = np.zeros(25, bool)
    legs[skeleton.resolve_names("legs")] = True
    queries = [
        Query(random_pose(rng)),  # all joints: every entry compared on its own joints
        Query(random_pose(rng), joints=~legs),  # legs off: entries rescaled on the shared joints
        Query(random_pose(rng, drop=0.15), mirror=True),
        Query(random_pose(rng), joints=rng.random(25) < 0.7, mirror=True, orientation_weight=0.8),
    ]
    for query in queries:
        _assert_same(exact_knn(index, query, 12), _reference(query, poses), 12, index)


def test_k_larger_than_the_library_returns_every_comparable_entry(small_blocks):
    poses = _many_pattern_poses(150, seed=7)
    poses.append(Pose(np.zeros((25, 3))))  # nothing to compare: never returned
    index = _index_of(poses)
    upper = np.zeros(25, bool)
    upper[skeleton.resolve_names("head,arms")] = True
    query = Query(random_pose(np.random.default_rng(1)), joints=upper, min_shared=0.9)
    ref = _reference(query, poses)
    got = exact_knn(index, query, 1000)
    assert 0 < len(ref) < 150  # some entries share too few of the query's joints
    _assert_same(got, ref, 1000, index)


def test_filter_mask_keeps_only_the_allowed_rows(small_blocks):
    poses = _many_pattern_poses(400, seed=8)
    index = _index_of(poses)
    allowed = set(range(0, 400, 3))
    mask = np.isin(index.pose_ids, sorted(allowed))
    query = Query(random_pose(np.random.default_rng(2)), mirror=True)
    _assert_same(exact_knn(index, query, 9, row_mask=mask), _reference(query, poses, allowed), 9, index)
    assert len(exact_knn(index, query, 9, row_mask=np.zeros(len(index), bool)).rows) == 0


def test_exact_ties_beyond_the_candidate_count_are_broken_by_pose_id(small_blocks):
    """200 copies of one pose (more than the candidate count) at distance 0: the k smallest pose ids win."""
    base = random_pose(np.random.default_rng(3))
    others = random_poses(300, seed=9)
    poses = others + [base.copy() for _ in range(200)]
    ids = np.random.default_rng(4).permutation(len(poses))  # copies get scattered pose ids
    index = _index_of(poses, ids)
    got = exact_knn(index, Query(base), 10)
    want = sorted(ids[300:].tolist())[:10]
    assert index.pose_ids[got.rows].tolist() == want
    assert np.all(got.distances < 1e-6)


def test_near_duplicates_closer_than_the_float32_pass_resolves_are_ranked_exactly(small_blocks):
    """120 entries within ~1e-3 px of the query (more than the candidate count): the float32 pass cannot
    order them (its error is far above their differences), the result must, exactly on the stored
    descriptors (float64 brute force over the float32 matrix, as sklearn computes it)."""
    rng = np.random.default_rng(5)
    base = random_pose(rng)
    poses = []
    for i in range(120):
        kp = base.keypoints.copy()
        kp[:, :2] += rng.normal(0, 1e-3 * (1 + i % 7), (25, 2))
        poses.append(Pose(kp))
    poses += random_poses(200, seed=10)
    index = _index_of(poses)
    got = exact_knn(index, Query(base), 15)
    q = plan_query(index, Query(base))[0].q
    d = np.sqrt(((index.descriptors.astype(np.float64) - q) ** 2).sum(axis=1))
    order = np.lexsort((index.pose_ids, d))[:15]
    assert np.all(index.pose_ids[order] < 120)
    assert got.rows.tolist() == order.tolist()
    np.testing.assert_allclose(got.distances, d[order], rtol=1e-12, atol=1e-15)


def test_the_pass_value_is_a_lower_bound_of_the_exact_distance():
    poses = _many_pattern_poses(600, seed=11)
    index = _index_of(poses)
    rng = np.random.default_rng(6)
    for joints, mirror, weight in [(None, False, 0.0), (rng.random(25) < 0.6, True, 0.0), (None, True, 1.5)]:
        query = Query(random_pose(rng, drop=0.1), joints=joints, mirror=mirror, orientation_weight=weight)
        plans = plan_query(index, query)
        lower = scan._block_lower(index, plans, slice(0, len(index)), None)
        exact, _ = scan.exact_distances_sq(index, plans, np.arange(len(index)))
        assert np.array_equal(np.isfinite(lower), np.isfinite(exact))
        fin = np.isfinite(exact)
        assert np.all(lower[fin] <= exact[fin])
        assert np.all(exact[fin] - lower[fin] <= 1e-3 * (1 + exact[fin]))  # and a tight one


def _without_projection(index):
    fields = ("descriptors", "coords", "norms2", "up", "patterns", "starts", "pose_ids", "image_ids", "folder_ids")
    return search.DescriptorIndex(**{f: getattr(index, f) for f in fields})


def test_the_projection_value_is_a_lower_bound_and_prunes_most_rows(monkeypatch):
    """The principal-component bound never exceeds the exact distance, and the search evaluates only the
    rows it cannot rule out with it (a small part of a library of similar poses), with the same result as
    the full scan, for full, mirror, orientation and partial queries."""
    upper = np.zeros(25, bool)
    upper[skeleton.resolve_names("upper_body")] = True
    portraits = [p.with_only(upper) for p in random_poses(300, seed=16, jitter=0.2)]  # compared as stored
    poses = _many_pattern_poses(300, seed=13) + random_poses(4000, seed=14, jitter=0.2) + portraits
    index = _index_of(poses)
    rng = np.random.default_rng(8)
    for mirror, joints, weight in [(False, None, 0.0), (True, None, 0.0), (True, None, 2.0), (False, upper, 0.0)]:
        query = Query(random_pose(rng, jitter=0.2), joints=joints, mirror=mirror, orientation_weight=weight)
        plans = plan_query(index, query)
        lower = pruning._projection_lower(index, plans, slice(0, len(index)))
        exact, _ = scan.exact_distances_sq(index, plans, np.arange(len(index)))
        fin = np.isfinite(lower)
        assert fin.sum() > (3000 if joints is None else 250) and np.all(lower[fin] <= exact[fin])
        with counting_block_reads(monkeypatch) as seen:
            got = exact_knn(index, query, 10)
        want = exact_knn(_without_projection(index), query, 10)
        assert got.rows.tolist() == want.rows.tolist() and np.array_equal(got.distances, want.distances)
        assert got.mirrored.tolist() == want.mirrored.tolist()
        if joints is None:  # (a partial query scans the rows it rescales)
            assert sum(seen) < len(index) // 4


def test_without_a_projection_the_search_scans_everything_and_agrees():
    poses = _many_pattern_poses(500, seed=15)
    index = _index_of(poses)
    query = Query(random_pose(np.random.default_rng(9)), mirror=True)
    a, b = exact_knn(index, query, 10), exact_knn(_without_projection(index), query, 10)
    assert a.rows.tolist() == b.rows.tolist() and np.array_equal(a.distances, b.distances)


def test_empty_index_and_k_zero():
    index = _index_of(random_poses(5, seed=12))
    q = Query(random_pose(np.random.default_rng(7)))
    assert len(exact_knn(index, q, 0).rows) == 0
    empty = build_index(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 25, 3)))
    assert len(exact_knn(empty, q, 5).rows) == 0
