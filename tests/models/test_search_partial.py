"""Partial queries (joints switched off) are pruned by the masked projections (search/partial.py) and give
the exhaustive scan's answer: on random libraries with many presence patterns, for the standard masks and
others, mirrored, with an orientation term, after updates and merges, and from a saved cache."""

import numpy as np
import pytest
from library_helpers import counting_block_reads, random_pose, random_poses

from posefinder.models import skeleton
from posefinder.models.descriptor import Query, query_distance
from posefinder.models.library import cache as cache_mod
from posefinder.models.library import search
from posefinder.models.library.live import Changes, LiveIndex
from posefinder.models.library.search import exact_knn, partial, plan_query, pruning, scan

pytestmark = pytest.mark.torchfree

K = skeleton.NUM_KEYPOINTS


def _group(name):
    out = np.zeros(K, bool)
    out[skeleton.resolve_names(name)] = True
    return out


MASKS = {
    "legs off": ~_group("legs"),
    "arms off": ~_group("arms"),
    "head off": ~_group("head"),
    "upper body": _group("upper_body"),
    "left arm off": ~_group("left_arm"),  # not a stored mask: scanned
    "torso and legs": _group("torso") | _group("legs"),  # neither
}


def _library_poses(n, seed):
    """Mostly complete poses, some with 1-5 random joints absent, some portraits (upper body only)."""
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(n):
        p = random_pose(rng, jitter=0.25)
        u = rng.random()
        if u < 0.25:
            keep = np.ones(K, bool)
            keep[rng.choice(K, size=int(rng.integers(1, 6)), replace=False)] = False
            p = p.with_only(keep)
        elif u < 0.3:
            p = p.with_only(_group("upper_body"))
        poses.append(p)
    return poses


def _index_of(poses):
    kp = np.stack([p.keypoints for p in poses])
    ids = np.arange(len(poses))
    return cache_mod.build_index(ids, ids, -np.ones(len(poses), np.int64), kp, generation=1)


def _without_projection(index):
    fields = ("descriptors", "coords", "norms2", "up", "patterns", "starts", "pose_ids", "image_ids", "folder_ids")
    return search.DescriptorIndex(**{f: getattr(index, f) for f in fields})


def _brute_force(query, poses, k):
    """[(pose number, distance, mirrored)] by the reference distance of every pose, best first."""
    ref = sorted((r[0], i, r[1]) for i, p in enumerate(poses) if (r := query_distance(query, p)) is not None)
    return [(i, d, m) for d, i, m in ref[:k]]


def _assert_equal(got, want_index, want):
    assert want_index.pose_ids[got.rows].tolist() == [w[0] for w in want]
    np.testing.assert_allclose(got.distances, [w[1] for w in want], rtol=0, atol=1e-6)
    assert got.mirrored.tolist() == [w[2] for w in want]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few hundred rows, so that patterns straddle blocks and thresholds run."""
    monkeypatch.setattr(scan, "BLOCK_ROWS", 211)
    monkeypatch.setattr(scan, "GATHER_ROWS", 97)


@pytest.mark.parametrize("seed", range(2))
def test_partial_queries_equal_brute_force_on_random_libraries(small_blocks, seed):
    poses = _library_poses(1500, seed=20 + seed)
    index = _index_of(poses)
    masked = index.masked()
    assert masked is not None and len(masked[0]) == len(partial.MASK_NAMES)
    rng = np.random.default_rng(seed)
    for name, joints in MASKS.items():
        for query in (
            Query(random_pose(rng), joints=joints, orientation_weight=0.5 * seed),
            Query(random_pose(rng, drop=0.1), joints=joints, mirror=True),
        ):
            got = exact_knn(index, query, 9)
            want = _brute_force(query, poses, 9)
            _assert_equal(got, index, want)
            plain = exact_knn(_without_projection(index), query, 9)  # the exhaustive scan, bit for bit
            assert got.rows.tolist() == plain.rows.tolist() and np.array_equal(got.distances, plain.distances), name


def test_the_masked_bound_never_exceeds_the_distance_and_prunes_most_rows(monkeypatch):
    poses = _library_poses(2500, seed=30) + random_poses(1000, seed=31, jitter=0.15)
    index = _index_of(poses)
    rng = np.random.default_rng(3)
    for name in partial.MASK_NAMES:
        for mirror in (False, True):
            query = Query(random_pose(rng, jitter=0.15), joints=MASKS[name], mirror=mirror)
            plans = plan_query(index, query)
            sources = np.stack([pruning._bounds(index, p).source for p in plans])
            # the rows of complete poses are rescaled on the shared joints and bounded by the mask
            full_pattern = int(np.flatnonzero(index.patterns.all(axis=1))[0])
            assert np.all(sources[:, full_pattern] >= 1), name
            lower = pruning._projection_lower(index, plans, slice(0, len(index)))
            exact, _ = scan.exact_distances_sq(index, plans, np.arange(len(index)))
            covered = np.all(sources[:, index.pattern_of_rows()] != pruning.UNBOUNDED, axis=0)
            fin = covered & np.isfinite(exact)
            assert fin.sum() > 0.6 * len(index) and np.all(lower[fin] <= exact[fin]), name
            with counting_block_reads(monkeypatch) as read:
                got = exact_knn(index, query, 10)
            want = exact_knn(_without_projection(index), query, 10)
            assert got.rows.tolist() == want.rows.tolist() and np.array_equal(got.distances, want.distances)
            # the matrix is read for the rows the bound cannot rule out and those no mask covers, only
            assert sum(read) < (len(index) - fin.sum()) + len(index) // 4, (name, sum(read))


def test_updates_merges_and_a_saved_cache_keep_the_masked_projections(tmp_path):
    """Rows added later are projected on the base's mask bases; a merge carries every row's projections
    over unchanged; the saved cache holds them; partial queries stay exact through all of it."""
    poses = _library_poses(1800, seed=40)
    more = _library_poses(300, seed=41)
    index = _index_of(poses[:1500])
    kp = np.stack([p.keypoints for p in poses])
    live = LiveIndex.of(index)
    live = live.updated(Changes(np.arange(1500, 1800), np.arange(1500, 1800), -np.ones(300, np.int64), kp[1500:],
                                np.zeros(0, np.int64)), 2)  # fmt: skip
    edited = np.arange(0, 300, 2)  # edited poses: their old rows masked out, new rows in a segment
    kp_more = np.stack([p.keypoints for p in more])[: len(edited)]
    live = live.updated(Changes(edited, edited, -np.ones(len(edited), np.int64), kp_more, np.arange(1, 40, 2)), 3)
    current = list(poses)
    for i, pid in enumerate(edited):
        current[pid] = more[i]
    alive = [i for i in range(1800) if not (i % 2 == 1 and i < 40)]
    assert len(live.parts) == 2 and live.parts[1].index.proj is None  # one live segment, scanned whole
    merged = live.merged()
    np.testing.assert_array_equal(merged.mask_basis, index.mask_basis)
    bases = index.bases()
    assert bases is not None and merged.proj is not None and merged.mask_proj is not None
    for part in live.parts:  # the base's rows carried over as they were, the segment's projected on its bases
        source = cache_mod.projected(part.index, bases)
        assert source.proj is not None and source.mask_proj is not None
        rows = np.arange(len(part.index)) if part.alive is None else np.flatnonzero(part.alive)
        at = merged.rows_of(part.index.pose_ids[rows])
        np.testing.assert_array_equal(merged.mask_proj[:, :, at], source.mask_proj[:, :, rows])
        np.testing.assert_array_equal(merged.proj[:, at], source.proj[:, rows])
    assert cache_mod.projected(index, bases) is index
    cache_mod.save_index(merged, tmp_path)
    loaded = cache_mod.load_index(tmp_path)
    assert loaded is not None and loaded.mask_proj is not None
    np.testing.assert_array_equal(loaded.mask_proj, merged.mask_proj)
    rng = np.random.default_rng(5)
    ref_poses = [current[i] for i in alive]
    for name in partial.MASK_NAMES:
        query = Query(random_pose(rng), joints=MASKS[name], mirror=True)
        want = [(alive[i], d, m) for i, d, m in _brute_force(query, ref_poses, 8)]
        for ix in (merged, loaded):
            _assert_equal(exact_knn(ix, query, 8), ix, want)
        hits = live.search(query, 8)
        assert [h.pose_id for h in hits] == [w[0] for w in want]
