"""Incremental indexing across folders (issue 3 point 6): a file moved to another library folder keeps its
entry and its hand-edited pose; a touched but unchanged file is not estimated again; a copy is a new entry."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from library_helpers import random_pose, write_pngs
from test_index import FakeEstimator

from posefinder.models.library import Library
from posefinder.models.library.indexer import default_runner

pytestmark = pytest.mark.torchfree


def _index(lib, folders=None):
    est = FakeEstimator()
    return lib.index(folders, runner=default_runner(est)), est


def _entry(lib, path):
    row = lib._con().execute("SELECT id FROM images WHERE path = ?", (str(path.resolve()),)).fetchone()
    return None if row is None else int(row[0])


def test_a_file_moved_to_another_library_folder_keeps_its_entry_and_hand_edit(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    imgs = write_pngs(a, 4)
    b.mkdir()
    with Library.open(tmp_path / "lib", create=True) as lib:
        _index(lib, [a, b])
        iid = _entry(lib, imgs[2])
        assert iid is not None
        ((pose_id, _),) = lib.poses_of_image(iid)
        mine = random_pose(np.random.default_rng(5))
        lib.set_pose(pose_id, mine)
        shutil.move(imgs[2], b / "moved.png")
        rep, est = _index(lib)
        assert (rep.moved, rep.removed, rep.added, est.calls) == (1, 0, 0, 0)
        assert _entry(lib, b / "moved.png") == iid and _entry(lib, imgs[2]) is None
        kept = lib.get_pose(pose_id)
        assert kept.source == "hand" and kept.allclose(mine)
        assert lib.image_info(iid).folder == b.resolve()


def test_a_touched_file_is_not_estimated_again_and_a_copy_is_a_new_entry(tmp_path):
    pics = tmp_path / "pics"
    imgs = write_pngs(pics, 3)
    with Library.open(tmp_path / "lib", create=True) as lib:
        _index(lib, [pics])
        first = _entry(lib, imgs[0])
        assert first is not None
        before = lib.poses_of_image(first)
        st = imgs[0].stat()
        os.utime(imgs[0], ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        shutil.copy(imgs[1], pics / "copy.png")
        rep, est = _index(lib)
        assert est.calls == 1 and rep.added == 1 and rep.moved == 0  # only the copy is new
        assert _entry(lib, imgs[0]) == first and lib.poses_of_image(first)[0][0] == before[0][0]  # same pose row
        assert lib.counts().images == 4
        rep, est = _index(lib)
        assert est.calls == 0 and rep.unchanged == 4
