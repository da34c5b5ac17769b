"""Re-importing replaces an image's poses from the same source; a pose's source is explicit in every
format (canvas poses are "hand", files that do not say are "annotation")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from library_helpers import random_poses

from posefinder.models.descriptor import Query
from posefinder.models.formats import PoseRecord, read_poses, write_poses
from posefinder.models.library import Library


def test_a_reimport_with_fewer_poses_removes_the_extras_and_keeps_hand_edits(tmp_path):
    a, b, c = random_poses(3, seed=1)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records([PoseRecord(p, "x.png") for p in (a, b, c)] + [PoseRecord(a, "y.png")])
        ids = {idx: pid for pid, idx in lib._con().execute("SELECT p.id, p.idx FROM poses p JOIN images i "
                                                           "ON i.id = p.image_id WHERE i.name = 'x.png'")}  # fmt: skip
        report = lib.import_records([PoseRecord(b, "x.png")])  # the file now holds one pose for x.png
        assert (report.updated, report.removed) == (1, 2) and "2 removed" in report.summary()
        (iid,) = lib._con().execute("SELECT id FROM images WHERE name = 'x.png'").fetchone()
        assert [p for _, p in lib.poses_of_image(iid)] == [b]
        assert lib.counts().poses == 2  # y.png untouched
        assert len(lib.search(Query(b), k=10)) == 2  # the cache forgot the removed poses

        lib.import_records([PoseRecord(p, "z.png") for p in (a, b)])
        (zid,) = lib._con().execute("SELECT id FROM images WHERE name = 'z.png'").fetchone()
        hand_id = lib.poses_of_image(zid)[1][0]
        lib.set_pose(hand_id, c)
        report = lib.import_records([PoseRecord(a, "z.png")])
        assert report.removed == 0 and report.kept_hand_edited == 1
        assert [pid for pid, _ in lib.poses_of_image(zid)][1] == hand_id
    assert ids  # the first import stored three poses for x.png


@pytest.mark.parametrize("fmt", ["posefinder", "openpose", "coco"])
def test_files_without_a_source_are_annotations_and_a_written_source_reads_back(tmp_path, fmt):
    (pose,) = random_poses(1, seed=2)
    path = tmp_path / f"p.{fmt}.json"
    write_poses([PoseRecord(pose.copy(source="hand"), "a.png")], path, fmt)
    assert read_poses(path)[0].pose.source == "hand"
    doc = json.loads(path.read_text())
    items = {"posefinder": lambda d: d["poses"], "openpose": lambda d: d["people"],
             "coco": lambda d: d["annotations"]}[fmt](doc)  # fmt: skip
    for item in items:
        item.pop("source")
    path.write_text(json.dumps(doc))
    assert read_poses(path)[0].pose.source == "annotation"


def _write_without_source(path, pose, image):
    write_poses([PoseRecord(pose, image)], path, "posefinder")
    doc = json.loads(path.read_text())
    del doc["poses"][0]["source"]  # as a script or another tool writes it
    path.write_text(json.dumps(doc))


def test_a_corrected_file_reimported_updates_the_pose(tmp_path):
    (pose,) = random_poses(1, seed=3)
    src = tmp_path / "poses.json"
    _write_without_source(src, pose, "a.png")
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.import_records(read_poses(src))
        corrected = pose.copy()
        corrected.keypoints[0, :2] += 25.0
        _write_without_source(src, corrected, "a.png")
        report = lib.import_records(read_poses(src))
        assert report.updated == 1 and report.kept_hand_edited == 0
        (pid,) = lib._con().execute("SELECT id FROM poses").fetchone()
        assert np.allclose(lib.get_pose(pid).xy[0], corrected.xy[0])
