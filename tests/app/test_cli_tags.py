"""Tagging indexed images with an installed tagger (a tiny random one with a made-up rulebook), searching by
the stored tags through the CLI, re-tagging with another tagger, and a library whose tagger was removed."""

import json

import numpy as np
import pytest
from library_helpers import random_poses, write_pngs

from posefinder.app.cli import main
from posefinder.models import paths, tagging
from posefinder.models.library import Library
from posefinder.models.library.library_tags import TagFilter

CLASSES = ["sword", "skirt", "from_behind", "sitting", "hat"]


def _tiny_tagger(path, name, seed, bias=None):
    import torch

    from posefinder.build.trainer import export_bundle
    from posefinder.models import nets

    torch.manual_seed(seed)
    net = nets.create_model("tagger", depth=18, width=8, blocks=(1, 1, 1, 1), num_classes=len(CLASSES))
    if bias is not None:  # known scores: the logits are the bias (weights zero)
        with torch.no_grad():
            net.resnet.fc.weight.zero_()
            net.resnet.fc.bias.copy_(torch.tensor(bias))
    return export_bundle(path, tagger=net, name=name, classes=CLASSES, input_size=64)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def store(tmp_path, monkeypatch):
    root = tmp_path / "models"
    monkeypatch.setattr(paths, "models_dir", lambda create=False: root)
    monkeypatch.setenv("POSEFINDER_RUNTIME", "torch")
    return root


def test_index_tags_search_retag_and_removed_tagger(tmp_path, capsys, store):
    images = tmp_path / "art"
    write_pngs(images, 4, size=(48, 40))
    lib = tmp_path / "lib"
    # no tagger: indexing works and says once how to get tags
    code, out, err = _run(capsys, "index", images, "--library", lib)
    assert err.count("tags are off") == 1 and "posefinder models import" in err
    # logit +2 -> 0.88 (sword, skirt), -2 -> 0.12 (stored above the floor, below 0.5), -5 -> 0.007 (not stored)
    first = _tiny_tagger(tmp_path / "t1.safetensors", "tiny-a", 0, bias=[2.0, 2.0, -2.0, -5.0, -5.0])
    code, out, err = _run(capsys, "tags", "--install", first)
    assert code == 0 and "installed tagger 'tiny-a'" in out
    code, out, err = _run(capsys, "index", "--library", lib)
    assert code == 0 and "4 tagged" in out and "tags are off" not in err
    with Library.open(lib, readonly=True) as r:
        ids = [i for (i,) in r._con().execute("SELECT id FROM images ORDER BY id")]
        stored = r.tags(ids[0])
        assert set(stored) == {"sword", "skirt", "from_behind"}
        assert stored["sword"] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-4)
        row = r._con().execute("SELECT t.name, t.version FROM images i JOIN taggers t ON t.id = i.tagger_id").fetchall()
        assert {n for n, _ in row} == {"tiny-a"} and all(v for _, v in row)
    # unchanged files are not re-tagged
    code, out, err = _run(capsys, "index", "--library", lib)
    assert code == 0 and "tagged" not in out
    # tags listed with counts, above the threshold only
    code, out, err = _run(capsys, "tags", "--library", lib, "--json")
    got = json.loads(out)
    assert got["threshold"] == 0.5 and got["tags"] == [{"tag": "skirt", "images": 4}, {"tag": "sword", "images": 4}]
    code, out, err = _run(capsys, "tags", "--library", lib, "--min-score", "0.1")
    assert out.split()[::2] == ["from_behind", "skirt", "sword"]
    # give the images poses, then search through the CLI
    with Library.open(lib) as w:
        for iid, pose in zip(ids, random_poses(4, seed=1)):
            w.add_pose(iid, pose)
        w.set_tags(ids[1], {"sword": 0.9, "hat": 0.7})  # as another tagger would leave them
    query = tmp_path / "q.json"
    from library_helpers import write_coco

    write_coco(query, [("q.png", random_poses(1, seed=3)[0])])
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--json")
    unfiltered = [x["image_id"] for x in json.loads(out)]
    assert sorted(unfiltered) == ids
    code, out, err = _run(
        capsys, "search", "--pose", query, "--library", lib, "--tag", "sword", "--not-tag", "hat", "--json"
    )
    got = json.loads(out)
    assert [x["image_id"] for x in got] == [i for i in unfiltered if i != ids[1]]  # ranking unchanged, filtered
    assert list(got[0]["tags"]) == ["skirt", "sword"] and got[0]["tags"]["sword"] == pytest.approx(0.8808, abs=1e-3)
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--tag", "hat", "--json")
    assert [x["image_id"] for x in json.loads(out)] == [ids[1]]
    code, out, err = _run(
        capsys, "search", "--pose", query, "--library", lib, "--tag", "hat", "--min-score", "0.8", "--json"
    )
    assert json.loads(out) == []
    code, out, err = _run(capsys, "search", "--pose", query, "--library", lib, "--tag", "swrod")
    assert code == 1 and "'swrod'" in err and err.count("\n") == 1
    with Library.open(lib) as w:
        w.set_tags(ids[1], {"sword": 0.88, "skirt": 0.88, "from_behind": 0.12})
    with Library.open(lib, readonly=True) as r:
        assert [t for t, _ in r.image_tags([ids[0]])[ids[0]]] == ["skirt", "sword"]
        assert [t for t, _ in r.image_tags([ids[0]], min_score=0.1)[ids[0]]][-1] == "from_behind"
        from posefinder.models.library.library_tags import allowed_image_ids

        con = r._con()
        assert list(allowed_image_ids(con, TagFilter(("sword",)))) == ids
        assert list(allowed_image_ids(con, TagFilter((), ("sword",)))) == []
        assert list(allowed_image_ids(con, TagFilter(("from_behind",)))) == []
        assert list(allowed_image_ids(con, TagFilter(("from_behind",), min_score=0.1))) == ids
    # another tagger: kept until --retag
    second = _tiny_tagger(tmp_path / "t2.safetensors", "tiny-b", 1, bias=[-2.0, 2.0, -5.0, 3.0, -5.0])
    _run(capsys, "tags", "--install", second)
    code, out, err = _run(capsys, "index", "--library", lib)
    assert "tagged" not in out
    code, out, err = _run(capsys, "index", "--library", lib, "--retag")
    assert code == 0 and "4 tagged" in out
    with Library.open(lib, readonly=True) as r:
        assert set(r.tags(ids[0])) == {"sword", "skirt", "sitting"}
        assert r.tag_counts() == [("sitting", 4), ("skirt", 4)]
    # the tagger removed: the stored tags still serve
    code, out, err = _run(capsys, "tags", "--remove", "t2")
    assert code == 0
    code, out, err = _run(capsys, "tags", "--library", lib)
    assert out.split()[::2] == ["sitting", "skirt"]


def test_bad_tagger_files_are_refused_and_install_nothing(tmp_path, capsys, store):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a tensor file")
    code, out, err = _run(capsys, "tags", "--install", bad)
    assert code == 1 and err.count("\n") == 1 and "not a readable safetensors file" in err
    assert tagging.installed_taggers() == []
    code, out, err = _run(capsys, "tags", "--install", tmp_path / "t.pt")
    assert code == 1 and "no such file" in err


def test_a_library_of_format_1_is_searched_by_tag_read_only_and_upgraded_by_a_writer(tmp_path):
    import sqlite3

    from posefinder.models.library import database as db

    path = tmp_path / "lib"
    with Library.open(path, create=True) as w:
        iid = (
            w._con()
            .execute("INSERT INTO images (name, origin, status, added) VALUES ('a.png', 'import', 'imported', 0)")
            .lastrowid
        )
        assert iid is not None
        w.add_pose(iid, random_poses(1, seed=0)[0])
        w.set_tags(iid, {"sword": 0.7, "hat": 0.3})
    con = sqlite3.connect(str(path / db.DB_FILE), isolation_level=None)
    con.executescript("DROP INDEX tags_tag_score; ALTER TABLE images DROP COLUMN tagger_id; DROP TABLE taggers;"
                      "UPDATE meta SET value = '1' WHERE key = 'schema_version';")  # fmt: skip
    con.close()
    from posefinder.models.descriptor import Query

    q = Query(random_poses(1, seed=0)[0])
    with Library.open(path, readonly=True) as r:
        assert r.tag_threshold() == 0.5 and r.tag_counts() == [("sword", 1)]
        assert len(r.search(q, k=5, tags=TagFilter(("sword",)))) == 1
        assert r.search(q, k=5, tags=TagFilter(("hat",))) == []
    with Library.open(path) as w:
        assert db.get_meta(w._con(), "schema_version") == str(db.SCHEMA_VERSION)
        assert w._con().execute("SELECT count(*) FROM taggers").fetchone()[0] == 0
        assert len(w.search(q, k=5, tags=TagFilter(("hat",), min_score=0.2))) == 1


def test_a_reader_sees_tags_written_after_its_first_filtered_search(tmp_path):
    from posefinder.models.descriptor import Query

    path = tmp_path / "lib"
    poses = random_poses(3, seed=4)
    with Library.open(path, create=True) as w:
        ids = []
        for n, pose in enumerate(poses):
            iid = w._con().execute(
                "INSERT INTO images (name, origin, status, added) VALUES (?, 'import', 'imported', 0)", (f"{n}.png",)
            ).lastrowid
            assert iid is not None
            w.add_pose(iid, pose)
            ids.append(iid)
        w.set_tags(ids[0], {"sword": 0.9})
        q = Query(poses[0])
        with Library.open(path, readonly=True) as r:
            assert [x.image_id for x in r.search(q, k=5, tags=TagFilter(("sword",)))] == [ids[0]]
            w.set_tags(ids[1], {"sword": 0.8})  # the cached ids of 'sword' are stale now
            assert sorted(x.image_id for x in r.search(q, k=5, tags=TagFilter(("sword",)))) == ids[:2]


def test_indexing_without_torch_for_the_tagger_says_tags_are_off(tmp_path, capsys, store, monkeypatch):
    from posefinder.models import tagging as tagging_mod

    _run(capsys, "tags", "--install", _tiny_tagger(tmp_path / "t.safetensors", "tiny", 0))

    def no_torch(*a, **k):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(tagging_mod.ImageTagger, "__init__", no_torch)
    images = tmp_path / "art"
    write_pngs(images, 2)
    code, out, err = _run(capsys, "index", images, "--library", tmp_path / "lib")
    assert code == 0 and err.count("tags are off") == 1 and "needs PyTorch" in err
