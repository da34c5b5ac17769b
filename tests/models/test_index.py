"""Incremental indexing: new, unchanged, changed, moved, deleted, bad images, hand edits, no model, SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from library_helpers import random_pose, write_pngs

from posefinder.models.descriptor import Query
from posefinder.models.errors import ModelError
from posefinder.models.estimators import chain
from posefinder.models.library import Library
from posefinder.models.library.indexer import default_runner

pytestmark = pytest.mark.torchfree


class FakeEstimator:
    """Deterministic 'poses' from image content: one character, a second one for bright images."""

    name = "fake"

    def __init__(self):
        self.calls = 0

    def estimate(self, image):
        self.calls += 1
        seed = int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])
        pose = random_pose(np.random.default_rng(seed))
        pose.source = "model:fake"
        out = [pose]
        if image.mean() > 200:
            out.append(random_pose(np.random.default_rng(seed + 99999)))
        return out


@pytest.fixture
def no_model(monkeypatch):
    def refuse(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", refuse)


def _index(lib, folders=None, est=None, **kw):
    est = est or FakeEstimator()
    return lib.index(folders, runner=default_runner(est), **kw), est


def test_index_new_then_unchanged_skipped(tmp_path):
    imgs = write_pngs(tmp_path / "pics", 10)
    with Library.open(tmp_path / "lib", create=True) as lib:
        rep, est = _index(lib, [tmp_path / "pics"], batch_size=3)
        assert (rep.scanned, rep.added, rep.estimated, rep.poses) == (10, 10, 10, 10)
        assert est.calls == 10
        assert lib.folders() == [(tmp_path / "pics").resolve()]
        c = lib.counts()
        assert (c.images, c.poses) == (10, 10)
        # every image got its thumbnail
        hits = lib.search(Query(random_pose(np.random.default_rng(0))), k=10)
        thumbs = [lib.thumbnail_path(h.image_id) for h in hits]
        assert all(t is not None and t.is_file() for t in thumbs)
        assert {h.path for h in hits} == {p.resolve() for p in imgs}
        rep2, est2 = _index(lib)  # no folders: the library's
        assert (rep2.unchanged, rep2.added, est2.calls) == (10, 0, 0)


def test_moved_renamed_changed_and_deleted_files(tmp_path):
    pics = tmp_path / "pics"
    imgs = write_pngs(pics, 6)
    with Library.open(tmp_path / "lib", create=True) as lib:
        _index(lib, [pics])
        before = {h.image: h for h in lib.search(Query(random_pose(np.random.default_rng(0))), k=10)}
        # move one into a subfolder, rename another, delete one, change one
        (pics / "sub").mkdir()
        imgs[0].rename(pics / "sub" / imgs[0].name)
        imgs[1].rename(pics / "renamed.png")
        imgs[2].unlink()
        write_pngs(tmp_path / "other", 1, seed=77)[0].replace(imgs[3])
        rep, est = _index(lib)
        assert (rep.moved, rep.removed, rep.changed, rep.added) == (2, 1, 1, 0)
        assert est.calls == 1  # only the changed one is estimated again
        after = {h.image: h for h in lib.search(Query(random_pose(np.random.default_rng(0))), k=10)}
        assert len(after) == 5 and lib.counts().images == 5
        moved = after[str((pics / "sub" / imgs[0].name).resolve())]
        assert moved.pose_id == before[str(imgs[0].resolve())].pose_id  # same entry, poses kept
        assert str((pics / "renamed.png").resolve()) in after
        assert str(imgs[2].resolve()) not in after


def test_hand_edited_pose_is_never_overwritten(tmp_path):
    pics = tmp_path / "pics"
    imgs = write_pngs(pics, 3)
    with Library.open(tmp_path / "lib", create=True) as lib:
        _index(lib, [pics])
        hit = next(h for h in lib.search(Query(random_pose(np.random.default_rng(0))), k=3) if h.path == imgs[1].resolve())
        mine = random_pose(np.random.default_rng(1234))
        lib.set_pose(hit.pose_id, mine)
        write_pngs(tmp_path / "x", 1, seed=5)[0].replace(imgs[1])  # the file changes
        rep, est = _index(lib)
        assert rep.changed == 1 and est.calls == 0
        kept = lib.get_pose(hit.pose_id)
        assert kept.source == "hand" and kept.allclose(mine)


def test_bad_images_recorded_reported_and_skipped_until_changed(tmp_path):
    pics = tmp_path / "pics"
    write_pngs(pics, 3)
    (pics / "truncated.png").write_bytes((pics / "img00000.png").read_bytes()[:60])
    (pics / "text.jpg").write_text("not an image")
    from PIL import Image

    Image.new("L", (12000, 12000)).save(pics / "bomb.png")  # 144 Mpx: refused as too large
    with Library.open(tmp_path / "lib", create=True) as lib:
        rep, _ = _index(lib, [pics])
        assert len(rep.bad) == 3 and rep.estimated == 3
        assert {Path(b.split(":")[0]).name for b in rep.bad} == {"truncated.png", "text.jpg", "bomb.png"}
        c = lib.counts()
        assert (c.images, c.poses, c.images_bad) == (3, 3, 3)
        assert {Path(n).name for n, _ in lib.bad_images()} == {"truncated.png", "text.jpg", "bomb.png"}
        rep2, est2 = _index(lib)
        assert rep2.bad == [] and est2.calls == 0 and rep2.unchanged == 6
        write_pngs(tmp_path / "fix", 1, seed=3)[0].replace(pics / "truncated.png")
        rep3, est3 = _index(lib)
        assert rep3.bad == [] and est3.calls == 1 and lib.counts().images_bad == 2


def test_without_a_model_images_are_recorded_then_estimated_when_one_exists(tmp_path, no_model, monkeypatch):
    pics = tmp_path / "pics"
    write_pngs(pics, 4)
    with Library.open(tmp_path / "lib", create=True) as lib:
        rep = lib.index([pics])
        assert rep.not_estimated == 4 and rep.model_message == chain.NO_MODEL_MESSAGE
        c = lib.counts()
        assert (c.images, c.poses, c.images_not_estimated) == (4, 0, 4)
        # still no model: nothing to do
        rep2 = lib.index()
        assert rep2.not_estimated == 0 and rep2.unchanged == 4
        est = FakeEstimator()
        monkeypatch.setattr(chain, "select_estimator", lambda name=None, device="cpu": est)
        rep3 = lib.index()
        assert rep3.estimated == 4 and est.calls == 4
        c = lib.counts()
        assert (c.poses, c.images_not_estimated) == (4, 0)


def test_images_without_character_are_counted(tmp_path):
    class Nobody:
        name = "nobody"

        def estimate(self, image):
            return []

    write_pngs(tmp_path / "pics", 3)
    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.index([tmp_path / "pics"], runner=default_runner(Nobody()))
        c = lib.counts()
        assert (c.images, c.poses, c.images_without_character) == (3, 0, 3)


def test_missing_folder_prunes_nothing_and_cancel_stops_between_batches(tmp_path):
    pics = tmp_path / "pics"
    write_pngs(pics, 9)
    with Library.open(tmp_path / "lib", create=True) as lib:
        cancel = threading.Event()
        seen = []

        def progress(done, total):
            seen.append((done, total))
            if done >= 3:
                cancel.set()

        rep, _ = _index(lib, [pics], batch_size=3, progress=progress, cancel=cancel)
        assert rep.cancelled and lib.counts().images == 3 and seen[-1] == (3, 9)
        rep, _ = _index(lib)
        assert rep.added == 6 and lib.counts().images == 9
        pics.rename(tmp_path / "unplugged")
        rep, _ = _index(lib)
        assert rep.missing_folders == [str(pics.resolve())] and rep.removed == 0
        assert lib.counts().images == 9


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{tests!r}, {helpers!r}]
    from test_index import FakeEstimator
    from posefinder.models.library import Library
    from posefinder.models.library.indexer import default_runner

    class Slow(FakeEstimator):
        def estimate(self, image):
            time.sleep(0.05)
            return super().estimate(image)

    with Library.open({lib!r}, create=True) as lib:
        lib.index([{pics!r}], runner=default_runner(Slow()), batch_size=4)
    print("finished")
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_index_loses_nothing_and_next_run_finishes(tmp_path):
    pics = tmp_path / "pics"
    write_pngs(pics, 60)
    libdir = tmp_path / "lib"
    script = tmp_path / "run_index.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent), helpers=str(Path(__file__).parents[1]), lib=str(libdir), pics=str(pics)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    committed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with Library.open(libdir, readonly=True) as reader:  # readers work during the run
                committed = reader.counts().images
        except Exception:
            continue
        if committed >= 8:
            break
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 8 <= committed < 60
    with Library.open(libdir) as lib:  # opens (the lock died with the process), nothing half-written
        c = lib.counts()
        assert c.images % 4 == 0 and c.images == c.poses and c.images >= committed
        assert lib._con().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rep, est = _index(lib)
        assert rep.added == 60 - c.images and est.calls == 60 - c.images
        c2 = lib.counts()
        assert (c2.images, c2.poses) == (60, 60)
        rows = lib._con().execute("SELECT count(DISTINCT path), count(*) FROM images").fetchone()
        assert rows == (60, 60)
        # every image has the poses its content gives
        for path in pics.iterdir():
            iid = lib._con().execute("SELECT id FROM images WHERE path = ?", (str(path.resolve()),)).fetchone()[0]
            assert len(lib.poses_of_image(iid)) == 1
