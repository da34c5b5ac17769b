"""Indexing through a streaming runner (the protocol build/cluster.py's RayRunner speaks): every image to
estimate handed over at once, answers in any order and possibly twice, images decoded elsewhere (size, hash
and thumbnail sent instead of the pixels); the library comes out as the one-machine runner makes it."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from library_helpers import random_pose, write_pngs
from test_index import FakeEstimator

from posefinder.models.library import Library
from posefinder.models.library.indexer import DecodedElsewhere, default_runner, file_hash
from posefinder.models.library.thumbs import encode_thumbnail

pytestmark = pytest.mark.torchfree


class StreamingRunner:
    """Decodes and estimates in this process, but answers as a cluster does: shuffled, some twice, images as
    DecodedElsewhere; hash_files hashes what the indexer asks for. drop: paths it never answers."""

    def __init__(self, est, seed=0, drop=()):
        self.inner = default_runner(est)
        self.rng = np.random.default_rng(seed)
        self.streams, self.hashed, self.drop = [], [], {str(p) for p in drop}

    def hash_files(self, paths):
        self.hashed.append(sorted(str(p) for p in paths))
        return [(p, file_hash(p)) for p in paths]

    def stream(self, paths):
        self.streams.append(len(paths))
        items = []
        for path, result, *rest in self.inner(list(paths)):
            image = rest[0] if rest else None
            digest = file_hash(path)[0]
            if image is None:
                elsewhere = DecodedElsewhere(None, None, digest, None)
            else:
                elsewhere = DecodedElsewhere(image.shape[1], image.shape[0], digest, encode_thumbnail(image))
            items.append((path, result, elsewhere, rest[1] if len(rest) > 1 else None))
        items = [items[i] for i in self.rng.permutation(len(items))]
        items += items[: len(items) // 3]  # a retried task answers again
        for item in items:
            if str(item[0]) not in self.drop:
                yield item


def _library_facts(lib):
    con = lib._con()
    images = con.execute("SELECT path, hash, width, height, status FROM images ORDER BY path").fetchall()
    poses = con.execute("SELECT i.path, p.idx, p.keypoints FROM poses p JOIN images i ON i.id = p.image_id "
                        "ORDER BY i.path, p.idx").fetchall()  # fmt: skip
    return images, poses


def test_a_streaming_run_stores_what_the_one_machine_run_stores(tmp_path):
    write_pngs(tmp_path / "pics", 9, size=(40, 30))
    (tmp_path / "pics" / "bad.png").write_bytes(b"no image here")
    with Library.open(tmp_path / "one", create=True) as lib:
        one = lib.index([tmp_path / "pics"], runner=default_runner(FakeEstimator()), batch_size=4, tagger=None)
        want = _library_facts(lib)
    runner = StreamingRunner(FakeEstimator())
    done = []
    with Library.open(tmp_path / "stream", create=True) as lib:
        rep = lib.index([tmp_path / "pics"], runner=runner, batch_size=4, tagger=None,
                        progress=lambda d, t: done.append((d, t)))  # fmt: skip
        got = _library_facts(lib)
    assert runner.streams == [10] and runner.hashed == []  # one stream; nothing needed hashing beforehand
    assert (rep.added, rep.estimated, rep.poses, len(rep.bad)) == (one.added, one.estimated, one.poses, 1) == (10, 9, rep.poses, 1)
    assert got == want  # same rows: paths, hashes, sizes, statuses, keypoints
    assert done[-1] == (10, 10) and [d for d, _ in done] == sorted(d for d, _ in done)
    assert sorted(os.listdir(tmp_path / "stream" / "thumbs")) == sorted(os.listdir(tmp_path / "one" / "thumbs"))


def test_a_streaming_run_recognises_moves_keeps_hand_edits_and_prunes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    imgs = write_pngs(a, 5)
    b.mkdir()
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.index([a, b], runner=StreamingRunner(FakeEstimator()), batch_size=2, tagger=None)
        iid = lib._con().execute("SELECT id FROM images WHERE path = ?", (str(imgs[1].resolve()),)).fetchone()[0]
        ((pose_id, _),) = lib.poses_of_image(iid)
        mine = random_pose(np.random.default_rng(5))
        lib.set_pose(pose_id, mine)
        shutil.move(imgs[1], b / "moved.png")
        imgs[3].unlink()
        write_pngs(a, 1, seed=9, start=10)
        est = FakeEstimator()
        runner = StreamingRunner(est)
        rep = lib.index(runner=runner, batch_size=2, tagger=None)
        assert (rep.moved, rep.removed, rep.added, rep.estimated, est.calls) == (1, 1, 1, 1, 1)
        assert len(runner.hashed) == 1 and len(runner.hashed[0]) == 2  # files gone: the new ones hashed first
        assert lib.get_pose(pose_id).source == "hand" and lib.get_pose(pose_id).allclose(mine)
        assert lib.counts().images == 5


def test_an_image_the_runner_never_answers_is_recorded_bad_and_a_cancel_prunes_nothing(tmp_path):
    imgs = write_pngs(tmp_path / "pics", 6)
    with Library.open(tmp_path / "lib", create=True) as lib:
        rep = lib.index([tmp_path / "pics"], runner=StreamingRunner(FakeEstimator(), drop=[imgs[2]]), batch_size=4,
                        tagger=None)  # fmt: skip
        assert rep.estimated == 5 and len(rep.bad) == 1 and "returned no result" in rep.bad[0]
        imgs[0].unlink()
        write_pngs(tmp_path / "pics", 8, seed=4, start=20)
        cancel = threading.Event()
        rep = lib.index(runner=StreamingRunner(FakeEstimator()), batch_size=2, tagger=None, cancel=cancel,
                        progress=lambda d, t: cancel.set() if d >= 2 else None)  # fmt: skip
        assert rep.cancelled and rep.removed == 0 and 2 <= rep.added < 8
        assert lib._con().execute("SELECT count(*) FROM images WHERE path = ?", (str(imgs[0].resolve()),)).fetchone()[0] == 1
        rep = lib.index(runner=StreamingRunner(FakeEstimator()), batch_size=2, tagger=None)
        assert not rep.cancelled and rep.removed == 1 and lib._con().execute("SELECT count(*) FROM images").fetchone()[0] == 13
