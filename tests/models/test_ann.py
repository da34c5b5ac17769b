"""The approximate index ([ann] extra): exact answers when it scans every cell, used only for the queries
it serves, saved beside the cache, rebuilt when stale or unreadable, and an exact fallback (with a log
line) when faiss is missing."""

import logging

import numpy as np
import pytest
from library_helpers import random_pose, random_poses

from posefinder.models import skeleton
from posefinder.models.descriptor import Query
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library, ann, cache_keeper
from posefinder.models.library.ann import ANN_FILE, AnnIndex
from posefinder.models.library.cache import build_index
from posefinder.models.library.search import exact_distances_sq, exact_knn, plan_query

pytest.importorskip("faiss")

pytestmark = pytest.mark.torchfree


def _records(n, seed, drop_every=5):
    """Complete poses, every drop_every-th with a wrist absent (a second, rarer pattern)."""
    poses = random_poses(n, seed=seed, jitter=0.3)
    out = []
    for i, p in enumerate(poses):
        if i % drop_every == 0:
            keep = np.ones(skeleton.NUM_KEYPOINTS, bool)
            keep[skeleton.INDEX["left_wrist"]] = False
            keep[skeleton.INDEX["left_forearm"]] = False
            p = p.with_only(keep)
        out.append(PoseRecord(p, f"p{seed}_{i}.png"))
    return out


def _exact(lib, query, k):
    return [(r.image, round(r.distance, 9)) for r in _search(lib, query, k, ann_threshold=10**12)]


def _search(lib, query, k, ann_threshold):
    lib.ann_threshold = ann_threshold
    try:
        return lib.search(query, k=k)
    finally:
        lib.ann_threshold = 0


@pytest.fixture
def lib(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "MIN_INDEXED_ROWS", 500)  # index the small library's common pattern
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(_records(1500, seed=1))
        lib.ann_threshold = 0  # forced: every search past the threshold
        yield lib


def test_forced_ann_on_a_small_library_gives_the_exact_answer(lib):
    rng = np.random.default_rng(0)
    assert lib._ann is None
    lib.search(Query(random_pose(np.random.default_rng(99), jitter=0.3)), k=10)  # exact; the index is built meanwhile
    lib.wait_for_cache()
    for trial in range(6):
        query = Query(random_pose(rng, jitter=0.3), mirror=bool(trial % 2))
        got = [(r.image, round(r.distance, 9)) for r in lib.search(query, k=10)]
        assert got == _exact(lib, query, 10)
    assert isinstance(lib._ann, AnnIndex)  # the approximate path ran
    assert (lib.path / ANN_FILE).is_file()
    # one common pattern with an index of several cells, the wrist-less rows scanned whole
    assert len(lib._ann.indexes) == 1 and lib._ann.indexes[0].nlist > 1
    assert len(lib._ann.orphan_patterns) == 1


def test_the_index_looks_at_few_rows_and_returns_exact_distances():
    poses = random_poses(3000, seed=4, jitter=0.3)
    kp = np.stack([p.keypoints for p in poses])
    index = build_index(np.arange(3000), np.arange(3000), -np.ones(3000, np.int64), kp)
    idx = AnnIndex.build(index, nprobe=4, candidates=40)
    assert idx.indexes[0].nlist >= 50
    rng = np.random.default_rng(1)
    recall = []
    for _ in range(10):
        query = Query(random_pose(rng, jitter=0.3), mirror=True)
        plans = plan_query(index, query)
        parts = idx.rows_to_scan(index, plans, 10)
        assert len(parts) == 1 and len(parts[0]) <= 80  # proposals only: 40 per side
        got, want = idx.knn(index, query, 10), exact_knn(index, query, 10)
        assert len(got.rows) == 10
        exact, _ = exact_distances_sq(index, plans, got.rows)
        np.testing.assert_allclose(got.distances, np.sqrt(exact), rtol=1e-12)  # exact distances of its rows
        assert got.distances[0] >= want.distances[0] - 1e-12
        recall.append(len(set(got.rows.tolist()) & set(want.rows.tolist())) / 10)
    assert np.mean(recall) >= 0.6  # 4 of ~55 cells: approximate, yet it finds most


def test_partial_orientation_and_filtered_queries_stay_exact(lib, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the approximate index served a query it must not")

    monkeypatch.setattr(AnnIndex, "knn", fail)
    legs = np.zeros(25, bool)
    legs[skeleton.resolve_names("legs")] = True
    q = random_pose(np.random.default_rng(3), jitter=0.3)
    assert lib.search(Query(q, joints=~legs), k=5)
    assert lib.search(Query(q, orientation_weight=1.0), k=5)
    assert lib.search(Query(q), k=5, tags=["none"]) == []


def test_changes_reach_the_approximate_search_without_a_rebuild_and_a_merge_rebuilds_it(lib, monkeypatch):
    query = Query(random_pose(np.random.default_rng(5), jitter=0.3))
    lib.search(query, k=5)
    lib.wait_for_cache()
    first = lib._ann
    assert first.generation == lib.generation()
    new = _records(300, seed=9)
    new.append(PoseRecord(query.pose.copy(), "the_query.png"))
    lib.import_records(new)
    gone = lib.search(Query(new[0].pose), k=1)[0]
    lib.delete_pose(gone.pose_id)
    res = lib.search(query, k=5)
    lib.wait_for_cache()
    assert res[0].image == "the_query.png" and res[0].distance < 1e-6  # added rows: searched in their segment
    assert lib._ann is first  # not rebuilt after a change
    assert [(r.image, round(r.distance, 9)) for r in res] == _exact(lib, query, 5)
    assert gone.pose_id not in [r.pose_id for r in lib.search(Query(new[0].pose), k=3)]  # deleted: masked out
    # a merge (here forced by a small threshold) builds the new base's index in the background
    monkeypatch.setattr(cache_keeper, "MERGE_MIN_ROWS", 100)
    lib.search(query, k=5)
    lib.wait_for_cache()
    assert lib._ann is not first and lib._ann.generation == lib.generation()
    saved = AnnIndex.load(lib.path)
    assert saved is not None and saved.generation == lib.generation()  # saved again
    assert [(r.image, round(r.distance, 9)) for r in lib.search(query, k=5)] == _exact(lib, query, 5)


def test_saved_index_is_reused_by_a_reader_and_a_broken_one_rebuilt(lib, tmp_path, monkeypatch):
    query = Query(random_pose(np.random.default_rng(6), jitter=0.3))
    want = [(r.image, r.distance) for r in lib.search(query, k=5)]
    lib.wait_for_cache()
    builds = []
    real_build = AnnIndex.build.__func__

    def counting_build(cls, *a, **k):
        builds.append(1)
        return real_build(cls, *a, **k)

    monkeypatch.setattr(AnnIndex, "build", classmethod(counting_build))
    with Library.open(lib.path, readonly=True) as reader:
        reader.ann_threshold = 0
        assert [(r.image, r.distance) for r in reader.search(query, k=5)] == want
    assert builds == []  # loaded from descriptors.ann.npz
    (lib.path / ANN_FILE).write_bytes(b"not an index")
    with Library.open(lib.path, readonly=True) as reader:
        reader.ann_threshold = 0
        assert [(r.image, r.distance) for r in reader.search(query, k=5)] == want
        reader.wait_for_cache()
        assert builds == [1] and isinstance(reader._ann, AnnIndex)  # rebuilt in the background


def test_without_faiss_the_search_is_exact_and_says_so_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ann, "available", lambda: False)
    monkeypatch.setattr(ann, "_missing_logged", set())
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(_records(300, seed=2))
        lib.ann_threshold = 0
        query = Query(random_pose(np.random.default_rng(7), jitter=0.3))
        with caplog.at_level(logging.WARNING, logger="posefinder.library.ann"):
            first = lib.search(query, k=5)
            second = lib.search(query, k=5)
        assert [(r.image, r.distance) for r in first] == [(r.image, r.distance) for r in second]
        assert [(r.image, round(r.distance, 9)) for r in first] == _exact(lib, query, 5)
        lines = [r.getMessage() for r in caplog.records if r.name == "posefinder.library.ann"]
        assert len(lines) == 1 and "[ann]" in lines[0] and "exactly" in lines[0]
        assert not (lib.path / ANN_FILE).exists()
