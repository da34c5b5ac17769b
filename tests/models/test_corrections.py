"""The artist's corrections in a library: which poses count, the held-out split by image, the COCO export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from library_helpers import random_poses, write_pngs
from posefinder.app import cli
from posefinder.models.formats import read_poses
from posefinder.models.formats.record import PoseRecord
from posefinder.models.library import Library
from posefinder.models.library.corrections import split_by_image, with_images

pytestmark = pytest.mark.torchfree


def _library(tmp_path, n_images=12, per_image=1, corrected=None, link=True):
    """A library of n_images PNGs with per_image poses each; the first `corrected` poses corrected by hand."""
    paths = write_pngs(tmp_path / "images", n_images, size=(40, 60))
    poses = random_poses(n_images * per_image, seed=3, size_px=(40, 60))
    records = [PoseRecord(p, paths[i // per_image].name) for i, p in enumerate(poses)]
    lib = Library.open(tmp_path / "lib", create=True)
    lib.import_records(records, images_dir=tmp_path / "images" if link else None)
    ids = [r[0] for r in lib._con().execute("SELECT id FROM poses ORDER BY id").fetchall()]
    for pid in ids[: len(ids) if corrected is None else corrected]:
        lib.set_pose(pid, lib.get_pose(pid))
    return lib, paths


def test_only_hand_edited_poses_with_their_images_are_corrections(tmp_path):
    lib, paths = _library(tmp_path, corrected=5)
    with lib:
        got = lib.corrections()
        assert len(got) == 5 and all(c.pose.is_hand_edited for c in got)
        first = got[0].path
        assert first is not None
        paths[int(first.name[3:8])].unlink()  # an image deleted from disk since
        usable, skipped = with_images(lib.corrections())
    assert len(usable) == 4 and len(skipped) == 1 and "gone" in skipped[0][1]


def test_the_split_keeps_each_image_whole_holds_out_a_fifth_and_is_fixed_by_the_seed(tmp_path):
    lib, _ = _library(tmp_path, n_images=15, per_image=2)
    with lib:
        corrections = lib.corrections()
    assert len(corrections) == 30
    train, held = split_by_image(corrections, 0.2, seed=0)
    assert len(held) >= 6 and len(train) + len(held) == 30
    assert not {c.image_id for c in train} & {c.image_id for c in held}
    again = split_by_image(list(reversed(corrections)), 0.2, seed=0)
    assert [c.pose_id for c in again[1]] == [c.pose_id for c in held]
    other = split_by_image(corrections, 0.2, seed=1)
    assert [c.pose_id for c in other[1]] != [c.pose_id for c in held]
    assert len(split_by_image(corrections, 0.5, seed=0)[1]) >= 15


def test_export_corrections_writes_coco_with_image_paths(tmp_path, capsys):
    lib, _ = _library(tmp_path, corrected=7)
    with lib:
        expected = {str(c.path): c.pose for c in lib.corrections()}
    out = tmp_path / "corrections.json"
    assert cli.main(["export-corrections", "--library", str(tmp_path / "lib"), str(out)]) == 0
    assert "wrote 7 corrected poses" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == 7 and doc["categories"][0]["keypoints"][0] == "nose"
    back = read_poses(out)
    assert {r.image for r in back} == set(expected)
    for r in back:
        assert r.image is not None and (tmp_path / r.image).is_file()  # absolute paths
        np.testing.assert_allclose(r.pose.keypoints[:17], expected[r.image].keypoints[:17])


def test_export_corrections_without_any_says_so_and_writes_nothing(tmp_path, capsys):
    lib, _ = _library(tmp_path, corrected=0)
    lib.close()
    out = tmp_path / "corrections.json"
    assert cli.main(["export-corrections", "--library", str(tmp_path / "lib"), str(out)]) == 1
    assert "no corrected poses to export" in capsys.readouterr().err
    assert not out.exists()


def test_export_corrections_of_a_missing_library_fails_cleanly(tmp_path, capsys):
    assert cli.main(["export-corrections", "--library", str(tmp_path / "nope"), str(tmp_path / "x.json")]) == 1
    assert "no PoseFinder library" in capsys.readouterr().err
