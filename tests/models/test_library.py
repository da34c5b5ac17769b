"""The library folder: opening, versions, locking, imports, the descriptor cache, pose edits, threads."""

import sqlite3
import threading

import numpy as np
import pytest
from library_helpers import random_poses, write_pngs

from posefinder.models.descriptor import Query
from posefinder.models.errors import LibraryError
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library, LibraryCounts
from posefinder.models.library import cache as cache_mod
from posefinder.models.library import database as db

pytestmark = pytest.mark.torchfree


def _records(n=50, seed=0, prefix="img"):
    return [PoseRecord(p, f"{prefix}{i}.png") for i, p in enumerate(random_poses(n, seed=seed))]


def test_create_open_and_layout(tmp_path):
    path = tmp_path / "lib"
    with pytest.raises(LibraryError, match="no PoseFinder library"):
        Library.open(path)
    with Library.open(path, create=True) as lib:
        assert lib.path == path
        assert lib.counts() == LibraryCounts(0, 0, 0, 0, 0)
        assert lib.search(Query(random_poses(1)[0])) == []
    assert (path / "library.sqlite").is_file()
    with Library.open(path) as lib:
        assert lib.folders() == []


def test_refuses_a_non_library_folder_with_files_and_a_file(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("x")
    with pytest.raises(LibraryError, match="no library.sqlite"):
        Library.open(tmp_path / "photos", create=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LibraryError, match="is a file"):
        Library.open(tmp_path / "file", create=True)


def test_newer_library_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "lib"
    with Library.open(path, create=True) as lib:
        lib.import_records(_records(5))
    con = sqlite3.connect(path / "library.sqlite")
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(db.SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    before = (path / "library.sqlite").read_bytes()
    for readonly in (False, True):
        with pytest.raises(LibraryError, match="newer PoseFinder|update PoseFinder"):
            Library.open(path, readonly=readonly)
    assert (path / "library.sqlite").read_bytes() == before


def test_corrupt_library_is_refused(tmp_path):
    path = tmp_path / "lib"
    path.mkdir()
    (path / "library.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="corrupt|not a PoseFinder library"):
        Library.open(path)
    assert (path / "library.sqlite").read_bytes() == b"this is not sqlite" * 100


def test_second_writer_is_locked_out_while_readers_work(tmp_path):
    path = tmp_path / "lib"
    writer = Library.open(path, create=True)
    writer.import_records(_records(20))
    with pytest.raises(LibraryError, match="locked by another PoseFinder process"):
        Library.open(path)
    with Library.open(path, readonly=True) as reader:
        assert reader.counts().poses == 20
        assert len(reader.search(Query(random_poses(1, seed=5)[0]), k=3)) == 3
        with pytest.raises(LibraryError, match="read-only"):
            reader.import_records(_records(2, seed=9, prefix="new"))
    writer.close()
    with Library.open(path) as again:
        assert again.counts().poses == 20


def test_import_is_idempotent_updates_changed_and_keeps_hand_edits(tmp_path):
    recs = _records(30)
    with Library.open(tmp_path / "lib", create=True) as lib:
        r1 = lib.import_records(recs)
        assert (r1.added, r1.updated, r1.unchanged) == (30, 0, 0)
        r2 = lib.import_records(recs)
        assert (r2.added, r2.updated, r2.unchanged) == (0, 0, 30)
        assert lib.counts().poses == 30 and lib.counts().images == 30
        # a corrected file updates; a hand-edited pose is kept as edited
        hit = lib.search(Query(recs[3].pose), k=1)[0]
        edited = recs[3].pose.copy()
        edited.keypoints[0, :2] += 5
        lib.set_pose(hit.pose_id, edited)
        moved = [PoseRecord(r.pose.copy(), r.image) for r in recs]
        for r in moved:
            r.pose.keypoints[9, :2] += 3
        r3 = lib.import_records(moved)
        assert (r3.updated, r3.kept_hand_edited, r3.added) == (29, 1, 0)
        kept = lib.get_pose(hit.pose_id)
        assert kept.source == "hand" and kept.allclose(edited)
        # two poses of one image, and records without an image name
        lib.import_records([PoseRecord(recs[0].pose, "group.png"), PoseRecord(recs[1].pose, "group.png")])
        lib.import_records([PoseRecord(recs[2].pose, None)])
        lib.import_records([PoseRecord(recs[2].pose, None)])
        assert lib.counts().poses == 33 and lib.counts().images == 32


def test_import_links_images_and_makes_thumbnails(tmp_path):
    images = tmp_path / "images"
    paths = write_pngs(images, 3)
    recs = _records(4)
    recs[0].image = "some/where/" + paths[0].name  # found by file name
    recs[1].image = paths[1].name
    recs[2].image = "missing.png"
    recs[3].image = paths[2].name
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with Library.open(tmp_path / "lib", create=True) as lib:
        rep = lib.import_records(recs, images_dir=images)
        assert rep.images_linked == 2 and rep.images_missing == 1 and len(rep.problems) == 1
        assert "img00002.png" in rep.problems[0]
        res = {r.image: r for r in lib.search(Query(recs[0].pose), k=10)}
        assert res[recs[0].image].path == paths[0].resolve()
        assert res["missing.png"].path is None
        thumb = lib.thumbnail_path(res[recs[0].image].image_id)
        assert thumb is not None and thumb.is_file()
        assert lib.thumbnail_path(res["missing.png"].image_id) is None
        assert lib.counts().poses == 4


def test_descriptor_cache_rebuilt_when_missing_stale_or_corrupt(tmp_path):
    path = tmp_path / "lib"
    recs = _records(40)
    with Library.open(path, create=True) as lib:
        lib.import_records(recs)
        q = Query(recs[5].pose)
        first = [(r.pose_id, r.distance) for r in lib.search(q, k=5)]
        assert (path / "descriptors.npy").is_file() and (path / "descriptors.index.npz").is_file()
    # deleted
    (path / "descriptors.npy").unlink()
    with Library.open(path, readonly=True) as lib:
        assert [(r.pose_id, r.distance) for r in lib.search(q, k=5)] == first
    # corrupt
    (path / "descriptors.npy").write_bytes(b"garbage")
    with Library.open(path) as lib:
        assert [(r.pose_id, r.distance) for r in lib.search(q, k=5)] == first
        assert np.load(path / "descriptors.npy").shape == (40, 300)
        # stale: a pose changes; the cache of the old generation is not used
        gen = lib.generation()
        lib.set_pose(first[0][0], recs[6].pose)
        assert lib.generation() > gen
        assert cache_mod.load_index(path, lib.generation()) is None
        hits = lib.search(Query(recs[6].pose), k=2)
        assert {h.image for h in hits} == {"img5.png", "img6.png"}
        assert all(h.distance < 1e-6 for h in hits)


def test_cache_of_another_process_generation_is_stale(tmp_path):
    """A cache whose descriptors.npy was swapped under it does not pass."""
    path = tmp_path / "lib"
    with Library.open(path, create=True) as lib:
        lib.import_records(_records(10))
        lib.search(Query(random_poses(1)[0]))
        gen = lib.generation()
    assert cache_mod.load_index(path, gen) is not None
    arr = np.load(path / "descriptors.npy")
    np.save(path / "descriptors.npy", arr * 2)
    assert cache_mod.load_index(path, gen) is None


def test_set_add_delete_pose_and_counts(tmp_path):
    recs = _records(10)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(recs)
        hit = lib.search(Query(recs[0].pose), k=1)[0]
        new_id = lib.add_pose(hit.image_id, recs[1].pose)
        assert lib.get_pose(new_id).source == "hand"
        assert len(lib.poses_of_image(hit.image_id)) == 2
        lib.delete_pose(new_id)
        with pytest.raises(LibraryError):
            lib.get_pose(new_id)
        with pytest.raises(LibraryError):
            lib.set_pose(987654, recs[0].pose)
        assert lib.counts().poses == 10


def test_tags_filter(tmp_path):
    recs = _records(20)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(recs)
        all_hits = lib.search(Query(recs[0].pose), k=20)
        ids = {r.image: r.image_id for r in all_hits}
        lib.set_tags(ids["img3.png"], {"sitting": 0.9, "solo": 0.8})
        lib.set_tags(ids["img4.png"], ["solo"])
        assert {r.image for r in lib.search(Query(recs[0].pose), tags=["solo"])} == {"img3.png", "img4.png"}
        assert [r.image for r in lib.search(Query(recs[0].pose), tags=["solo", "sitting"])] == ["img3.png"]
        assert lib.tags(ids["img3.png"]) == {"sitting": pytest.approx(0.9), "solo": pytest.approx(0.8)}


def test_search_is_thread_safe_while_another_thread_writes(tmp_path):
    recs = _records(200)
    errors = []
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(recs[:100])

        def searcher(seed):
            try:
                for i in range(15):
                    q = recs[(seed * 7 + i) % 100].pose
                    res = lib.search(Query(q), k=3)
                    assert res and res[0].distance < 1e-6
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=searcher, args=(s,)) for s in range(3)]
        for t in threads:
            t.start()
        for i in range(100, 200, 10):
            lib.import_records(recs[i : i + 10])
        for t in threads:
            t.join()
        assert not errors, errors
        assert lib.counts().poses == 200


def test_search_by_character_count_keeps_solo_or_group_images_in_the_same_order(tmp_path):
    poses = random_poses(9, seed=4)
    # solo0..solo2 hold one character each; duo0, duo1 two; trio three (poses 7, 8 and a copy of 0)
    names = ["solo0.png", "solo1.png", "solo2.png", "duo0.png", "duo0.png", "duo1.png", "duo1.png", "trio.png", "trio.png"]
    records = [PoseRecord(p, n) for p, n in zip(poses, names)] + [PoseRecord(poses[0], "trio.png")]
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(records)
        query = Query(poses[0])
        everything = lib.search(query, k=20)
        solo = lib.search(query, k=20, characters="one")
        group = lib.search(query, k=20, characters="several")
        assert {r.image for r in solo} == {"solo0.png", "solo1.png", "solo2.png"}
        assert {r.image for r in group} == {"duo0.png", "duo1.png", "trio.png"} and len(group) == 7
        # the filter drops entries, it never reorders them
        assert [r.pose_id for r in solo] == [r.pose_id for r in everything if r.image.startswith("solo")]
        assert [r.pose_id for r in group] == [r.pose_id for r in everything if not r.image.startswith("solo")]
        # with a folder filter too, and after a write (the counts follow the library's generation)
        assert lib.search(query, k=20, folder=tmp_path / "elsewhere", characters="one") == []
        solo0 = next(r.image_id for r in solo if r.image == "solo0.png")
        lib.add_pose(solo0, poses[1])  # solo0 gets a second character
        assert {r.image for r in lib.search(query, k=20, characters="one")} == {"solo1.png", "solo2.png"}
        with pytest.raises(ValueError, match="characters: one of one, several"):
            lib.search(query, characters="two")
