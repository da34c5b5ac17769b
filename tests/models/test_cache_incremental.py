"""The descriptor cache kept up to date from what changed: exact after any sequence of writes and reopenings,
no full rebuild on the search path, merges in the background with the projection basis kept, the deletion
log pruned once the saved cache has consumed it, and a streamed full build."""

import threading
import tracemalloc

import numpy as np
import pytest
from library_helpers import random_pose, random_poses

from posefinder.models import skeleton
from posefinder.models.descriptor import Query
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library, cache_keeper
from posefinder.models.library import cache as cache_mod
from posefinder.models.library import database as db
from posefinder.models.library.search import exact_knn

LEGS = np.isin(np.arange(skeleton.NUM_KEYPOINTS), skeleton.resolve_names("legs"))


def _pose(rng):
    """A random pose, now and then with a few joints absent (several presence patterns)."""
    p = random_pose(rng, jitter=0.3)
    if rng.random() < 0.3:
        keep = rng.random(skeleton.NUM_KEYPOINTS) > 0.15
        p = p.with_only(keep)
    return p


def _exhaustive(lib, query, k):
    """[(pose id, distance, mirrored)] by a fresh index of every pose row in SQLite (no cache involved)."""
    con = db.connect(lib.path / db.DB_FILE, readonly=True)
    try:
        rows = con.execute("SELECT id, image_id, keypoints FROM poses ORDER BY id").fetchall()
    finally:
        con.close()
    if not rows:
        return []
    ids = np.array([r[0] for r in rows])
    kp = np.stack([db.keypoints_from_blob(r[2]) for r in rows])
    min_rows, cache_mod.MIN_PROJECTION_ROWS = cache_mod.MIN_PROJECTION_ROWS, 10**9  # a plain scan
    try:
        index = cache_mod.build_index(ids, np.array([r[1] for r in rows]), -np.ones(len(rows), np.int64), kp)
    finally:
        cache_mod.MIN_PROJECTION_ROWS = min_rows
    assert index.proj is None
    knn = exact_knn(index, query, k)
    return [(int(index.pose_ids[r]), float(d), bool(m)) for r, d, m in zip(knn.rows, knn.distances, knn.mirrored)]


def _assert_exact(lib, rng, k=7):
    for query in (
        Query(_pose(rng)),
        Query(_pose(rng), mirror=True),
        Query(random_pose(rng), joints=~LEGS),
        Query(random_pose(rng), orientation_weight=0.7),
    ):
        got = [(r.pose_id, r.distance, r.mirrored) for r in lib.search(query, k=k)]
        want = _exhaustive(lib, query, k)
        assert [g[0] for g in got] == [w[0] for w in want]
        np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=0, atol=1e-12)
        assert [g[2] for g in got] == [w[2] for w in want]


def _random_write(lib, rng, step):
    """One of: add a batch, edit a pose, delete a pose, add a hand pose, delete an image's poses by re-import."""
    with lib._read() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM poses")]
        images = [r[0] for r in con.execute("SELECT id FROM images")]
    u = rng.random()
    if u < 0.35 or not ids:
        n = int(rng.integers(1, 60))
        lib.import_records([PoseRecord(_pose(rng), f"s{step}_{i}.png") for i in range(n)])
    elif u < 0.6:
        lib.set_pose(int(rng.choice(ids)), _pose(rng))
    elif u < 0.85:
        for pid in rng.choice(ids, size=min(len(ids), int(rng.integers(1, 6))), replace=False):
            lib.delete_pose(int(pid))
    else:
        lib.add_pose(int(rng.choice(images)), _pose(rng))


@pytest.mark.parametrize("seed", range(3))
def test_after_any_writes_and_reopenings_search_equals_an_exhaustive_scan(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(cache_mod, "MIN_PROJECTION_ROWS", 64)  # the base is pruned by its projection
    monkeypatch.setattr(cache_keeper, "MERGE_MIN_ROWS", 150)  # and merges happen now and then
    rng = np.random.default_rng(seed)
    path = tmp_path / "lib"
    lib = Library.open(path, create=True)
    reader = None
    try:
        lib.import_records([PoseRecord(_pose(rng), f"first{i}.png") for i in range(200)])
        for step in range(40):
            _random_write(lib, rng, step)
            u = rng.random()
            if u < 0.5:
                _assert_exact(lib, rng)
            elif u < 0.6:
                lib.wait_for_cache()
                lib.close()
                lib = Library.open(path)
            elif u < 0.7:  # a reader in the same process, opened at some point and searching later
                if reader is not None:
                    _assert_exact(reader, rng)
                    reader.close()
                reader = Library.open(path, readonly=True)
                reader.search(Query(_pose(rng)))
        lib.wait_for_cache()
        _assert_exact(lib, rng)
        if reader is not None:
            _assert_exact(reader, rng)
        assert lib._keeper.full_builds <= 1  # built once at most, when there was no cache at all
    finally:
        lib.close()
        if reader is not None:
            reader.close()


def test_a_search_after_a_write_reads_only_what_changed(tmp_path, monkeypatch):
    path = tmp_path / "lib"
    with Library.open(path, create=True) as lib:
        lib.import_records([PoseRecord(p, f"a{i}.png") for i, p in enumerate(random_poses(300, seed=1))])
        q = Query(random_poses(1, seed=2)[0])
        lib.search(q)
        assert lib._keeper.full_builds == 1
        base = lib.descriptor_index().base

        def no_full_build(*a, **k):
            raise AssertionError("a full rebuild on the search path")

        monkeypatch.setattr(cache_keeper, "row_chunks", no_full_build)
        monkeypatch.setattr(cache_keeper.CacheKeeper, "_full_build", no_full_build)
        lib.import_records([PoseRecord(q.pose, "the_query.png")])
        hit = lib.search(q, k=1)[0]
        assert hit.image == "the_query.png" and hit.distance < 1e-9
        lib.delete_pose(hit.pose_id)
        assert lib.search(q, k=1)[0].image != "the_query.png"
        live = lib.descriptor_index()
        assert live.base is base and live.generation == lib.generation() and len(live) == 300
    # reopened: the saved cache (an older generation) plus the changes since, still no full build
    with Library.open(path) as lib:
        assert lib.search(q, k=1)[0].image != "the_query.png"
        assert lib._keeper.full_builds == 0 and lib.descriptor_index().base.generation < lib.generation()


def test_merges_run_off_the_search_thread_keep_the_basis_and_prune_the_deletion_log(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "MIN_PROJECTION_ROWS", 64)
    monkeypatch.setattr(cache_keeper, "MERGE_MIN_ROWS", 50)
    rng = np.random.default_rng(4)
    path = tmp_path / "lib"
    with Library.open(path, create=True) as lib:
        lib.import_records([PoseRecord(_pose(rng), f"a{i}.png") for i in range(400)])
        q = Query(_pose(rng))
        lib.search(q)
        basis = lib.descriptor_index().base.basis
        assert basis is not None
        basis = basis.copy()
        # a merge that waits: searches meanwhile use the old base plus the changes
        release, started = threading.Event(), threading.Event()
        real_merge = cache_mod.merge_indexes

        def slow_merge(*a, **k):
            started.set()
            assert release.wait(30)
            return real_merge(*a, **k)

        monkeypatch.setattr(cache_mod, "merge_indexes", slow_merge)
        with lib._read() as con:
            victims = [r[0] for r in con.execute("SELECT id FROM poses ORDER BY id LIMIT 80")]
        for pid in victims:
            lib.delete_pose(pid)
        lib.import_records([PoseRecord(_pose(rng), f"b{i}.png") for i in range(100)])
        lib.search(q)
        assert started.wait(30)
        with lib._read() as con:
            assert con.execute("SELECT count(*) FROM deleted_poses").fetchone()[0] == 80
        lib.import_records([PoseRecord(q.pose, "the_query.png")])
        assert lib.search(q, k=1)[0].image == "the_query.png"  # while the merge waits
        assert lib._keeper.merges == 0
        _assert_exact(lib, rng)
        release.set()
        lib.wait_for_cache()
        assert lib._keeper.merges == 1
        live = lib.descriptor_index()
        assert len(live.parts) <= 2 and len(live) == 400 - 80 + 100 + 1
        np.testing.assert_array_equal(live.base.basis, basis)  # the principal components are kept
        with lib._read() as con:  # every deletion the saved cache has consumed is gone from the log
            assert con.execute("SELECT count(*) FROM deleted_poses").fetchone()[0] == 0
            assert cache_keeper.pruned_through(con) == live.base.generation
        saved = cache_mod.load_index(path)
        assert saved is not None and saved.generation == live.base.generation
        _assert_exact(lib, rng)


def test_a_reader_older_than_the_pruned_log_catches_up_from_the_saved_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_keeper, "MERGE_MIN_ROWS", 20)
    rng = np.random.default_rng(5)
    path = tmp_path / "lib"
    with Library.open(path, create=True) as lib:
        lib.import_records([PoseRecord(_pose(rng), f"a{i}.png") for i in range(100)])
        lib.search(Query(_pose(rng)))
        with Library.open(path, readonly=True) as reader:
            reader.search(Query(_pose(rng)))  # holds the arrays of this generation
            old = reader.descriptor_index().generation
            with lib._read() as con:
                victims = [r[0] for r in con.execute("SELECT id FROM poses ORDER BY id LIMIT 30")]
            for pid in victims:
                lib.delete_pose(pid)
            lib.search(Query(_pose(rng)))
            lib.wait_for_cache()
            with lib._read() as con:
                assert cache_keeper.pruned_through(con) > old  # the log the reader would need is gone
                assert con.execute("SELECT count(*) FROM deleted_poses").fetchone()[0] == 0
            got = {r.pose_id for r in reader.search(Query(_pose(rng)), k=100)}
            assert len(got) == 70 and not got & set(victims)
            _assert_exact(reader, rng)


def test_the_full_build_streams_rows_within_1_5x_of_the_final_arrays(tmp_path, monkeypatch):
    """Peak memory of a full build from SQLite (tracemalloc: numpy arrays and SQLite rows alike) against the
    arrays it makes; chunks scaled down with the library so that they stay a small part, as at 1M rows."""
    monkeypatch.setattr(cache_mod, "_CHUNK", 512)
    monkeypatch.setattr(cache_mod, "_PCA_SAMPLE", 500)
    n = 12000
    path = tmp_path / "lib"
    kp = np.stack([p.keypoints for p in random_poses(n, seed=8, jitter=0.3)])
    with Library.open(path, create=True) as lib:
        with lib._write() as con:
            gen = db.bump_generation(con)
            con.execute("INSERT INTO images (id, name, origin, status, added) VALUES (1, 'x', 'import', 'imported', 0)")
            con.executemany(
                "INSERT INTO poses (image_id, idx, keypoints, source, gen, updated) VALUES (1, ?, ?, 'synthetic', ?, 0)",
                [(i, np.ascontiguousarray(kp[i], "<f8").tobytes(), gen) for i in range(n)],
            )
        del kp
        with lib._read() as con:
            tracemalloc.start()
            try:
                index = cache_mod.build_streamed(cache_keeper.row_chunks(con, chunk=512), generation=gen)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    arrays = sum(
        getattr(index, f).nbytes
        for f in ("descriptors", "coords", "norms2", "up", "proj", "proj_norms2", "pose_ids", "image_ids", "folder_ids")
    )
    assert len(index) == n and peak <= 1.5 * arrays, (peak, arrays)


def test_a_writer_prunes_the_log_up_to_a_cache_that_a_reader_saved(tmp_path):
    """The app searches through a read-only library while its indexing task writes: the reader saves the
    cache, the writer prunes what that cache consumed when it closes."""
    rng = np.random.default_rng(6)
    path = tmp_path / "lib"
    writer = Library.open(path, create=True)
    writer.import_records([PoseRecord(_pose(rng), f"a{i}.png") for i in range(50)])
    with writer._read() as con:
        victims = [r[0] for r in con.execute("SELECT id FROM poses ORDER BY id LIMIT 10")]
    for pid in victims:
        writer.delete_pose(pid)
    with Library.open(path, readonly=True) as reader:
        assert len(reader.search(Query(_pose(rng)), k=100)) == 40  # (no cache yet: built and saved)
    assert cache_mod.saved_generation(path) == writer.generation()
    with writer._read() as con:
        assert con.execute("SELECT count(*) FROM deleted_poses").fetchone()[0] == 10
    writer.close()
    with Library.open(path) as lib:
        with lib._read() as con:
            assert con.execute("SELECT count(*) FROM deleted_poses").fetchone()[0] == 0
        _assert_exact(lib, rng)


def test_reading_the_changes_searches_the_generation_index():
    """The changes since a generation are found through poses_gen, not by scanning every pose."""
    import sqlite3

    con = sqlite3.connect(":memory:")
    for stmt in db._statements(db.SCHEMA_V1):
        con.execute(stmt)
    plan = " ".join(str(r) for r in con.execute(f"EXPLAIN QUERY PLAN {cache_keeper.CHANGED_SQL}", (0,)))
    assert "poses_gen" in plan and "SCAN p" not in plan
