"""Batch indexing on a Ray cluster (build/cluster.py): a local Ray instance of 2 CPUs, a tiny random-weight
model on generated images; the same poses as the one-machine path, faults survived, nothing stored twice."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from estimator_fakes import tiny_model_file  # noqa: E402

from posefinder.build.cluster import RayRunner  # noqa: E402
from posefinder.build.indexing import BatchRunner, resolve_estimator  # noqa: E402
from posefinder.models.imageio import save_image  # noqa: E402
from posefinder.models.library import Library  # noqa: E402

# the test module's functions (the model factories) travel to the workers by value, not by import
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

BATCH = 4


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, object_store_memory=80 * 1024**2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)  # fmt: skip
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("model"), name="tiny-ray")


def _folder(root: Path, n: int, broken: bool = True) -> Path:
    folder = root / "pics"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        save_image(rng.integers(0, 255, size=(48 + 5 * (i % 4), 40 + 3 * (i % 5), 3), dtype=np.uint8),
                   folder / f"{i:03d}.png")  # fmt: skip
    if broken:
        (folder / "broken.png").write_bytes(b"not an image at all")
        (folder / "empty.jpg").write_bytes(b"")
    return folder


def _poses_by_name(lib) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    con = lib._con()
    rows = con.execute("SELECT i.name, p.keypoints FROM poses p JOIN images i ON i.id = p.image_id ORDER BY i.name, p.idx")
    for name, blob in rows:
        out.setdefault(Path(name).name, []).append(np.frombuffer(blob, np.float64).reshape(25, 3))
    return out


def _assert_each_image_once(lib, n_images: int, n_bad: int) -> None:
    con = lib._con()
    assert con.execute("SELECT count(*), count(DISTINCT path) FROM images").fetchone() == (n_images + n_bad,) * 2
    assert con.execute("SELECT count(*) FROM images WHERE status = 'bad'").fetchone()[0] == n_bad
    # every image estimated once: one pose row per (image, character rank), none left without its pose
    assert con.execute("SELECT count(*) FROM (SELECT image_id, idx FROM poses GROUP BY image_id, idx HAVING count(*) > 1)").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM images WHERE status = 'estimated'").fetchone()[0] == n_images


def test_index_command_errors_on_a_cluster_that_does_not_answer_or_without_ray(model_file, tmp_path, capsys, monkeypatch):
    from posefinder.build import cli

    assert not ray.is_initialized()
    folder = _folder(tmp_path, 1, broken=False)
    base = ["index", str(folder), "--library", str(tmp_path / "lib"), "--model", str(model_file), "--ray"]
    assert cli.main([*base, "127.0.0.1:1"]) == 1
    assert "cannot join the Ray cluster at 127.0.0.1:1: nothing answers there" in capsys.readouterr().err
    assert cli.main([*base, "no-port-here"]) == 1
    assert "HOST:PORT" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the cluster extra is not installed
    assert cli.main(base) == 1
    assert "pip install 'posefinder[cluster]'" in capsys.readouterr().err
    assert not (tmp_path / "lib").exists() and not ray.is_initialized()  # nothing created, no instance started


def test_ray_run_gives_the_one_machine_poses_and_records_unreadable_images(local_ray, model_file, tmp_path):
    import torch

    folder = _folder(tmp_path, 10)
    one = BatchRunner([resolve_estimator(str(model_file), "cpu")], batch_size=BATCH, workers=0)
    with Library.open(tmp_path / "one", create=True) as lib:
        lib.index([folder], runner=one, batch_size=2 * BATCH, tagger=None)
        want = _poses_by_name(lib)
    runner = RayRunner(str(model_file), batch_size=BATCH, device="cpu", threads=torch.get_num_threads())
    assert runner.actors == 1 and not runner._started  # joined the running instance, one CPU left for decoding
    with Library.open(tmp_path / "ray", create=True) as lib:
        report = lib.index([folder], runner=runner, batch_size=2 * BATCH, tagger=None)
        got = _poses_by_name(lib)
        assert report.estimated == 10 and report.added == 12
        assert sorted(Path(b.split(":")[0]).name for b in report.bad) == ["broken.png", "empty.jpg"]
        _assert_each_image_once(lib, 10, 2)
        info = {Path(i.name).name: i for i in (lib.image_info(k) for k in range(1, 13))}
        assert info["003.png"].width == 40 + 9 and info["003.png"].height == 48 + 15
        thumbs = sorted(p.name for p in (tmp_path / "ray" / "thumbs").iterdir())
        assert thumbs == sorted(f"{info[f'{i:03d}.png'].content_hash}.jpg" for i in range(10))
        again = lib.index([folder], runner=runner, batch_size=2 * BATCH, tagger=None)
        assert again.estimated == 0 and again.unchanged == 12 and runner.images_seen == 12
    assert sorted(got) == sorted(want) and len(got) == 10
    worst = max(float(np.abs(a - b).max()) for k in want for a, b in zip(want[k], got[k], strict=True))
    assert worst <= 1e-5, worst


class _Registry:
    """A named actor the estimation actors report their handles to, so that the test can kill one."""

    def __init__(self):
        self.handles = []

    def add(self, handle):
        self.handles.append(handle)

    def get(self):
        return self.handles


def _slow_registered_model(path: str, delay: float):
    def make(device: str):
        import time

        import ray as ray_

        est = resolve_estimator(path, device)
        ray_.get(ray_.get_actor("estimators").add.remote(ray_.get_runtime_context().current_actor))
        batch = est.estimate_batch

        def slow(images):
            time.sleep(delay * len(images))
            return batch(images)

        est.estimate_batch = slow
        return est

    return make


def test_an_actor_killed_mid_run_is_restarted_and_every_image_is_stored_once(local_ray, model_file, tmp_path):
    folder = _folder(tmp_path, 24, broken=False)
    registry = ray.remote(_Registry).options(name="estimators").remote()
    killed = []

    def progress(done, total):
        if 0 < done < total and not killed:
            handles = ray.get(registry.get.remote())
            ray.kill(handles[0], no_restart=False)
            killed.append(done)

    runner = RayRunner(_slow_registered_model(str(model_file), 0.1), batch_size=BATCH, device="cpu")
    with Library.open(tmp_path / "lib", create=True) as lib:
        report = lib.index([folder], runner=runner, batch_size=BATCH, tagger=None, progress=progress)
        assert killed and killed[0] < 24
        assert report.estimated == 24 and not report.bad
        _assert_each_image_once(lib, 24, 0)
    assert len(ray.get(registry.get.remote())) >= 2  # the killed actor was started again (the model loaded again)
    ray.kill(registry)


def test_a_driver_interrupted_mid_run_finishes_on_the_next_run_without_duplicates(local_ray, model_file, tmp_path):
    folder = _folder(tmp_path, 20)
    runner = RayRunner(str(model_file), batch_size=BATCH, device="cpu")

    def interrupt(done, total):
        if done >= 2 * BATCH:
            raise KeyboardInterrupt

    with Library.open(tmp_path / "lib", create=True) as lib:
        with pytest.raises(KeyboardInterrupt):
            lib.index([folder], runner=runner, batch_size=BATCH, tagger=None, progress=interrupt)
        stored = lib._con().execute("SELECT count(*) FROM images").fetchone()[0]
        assert 2 * BATCH <= stored < 22  # the committed batches are kept
        done = sorted(Path(r[0]).name for r in lib._con().execute("SELECT path FROM images WHERE status = 'estimated'"))
    # between the runs a stored image is moved and another deleted: the re-run hashes the new files on the
    # cluster first (hash_files) and recognises the move
    (folder / done[0]).rename(folder / "moved.png")
    (folder / done[1]).unlink()
    with Library.open(tmp_path / "lib") as lib:
        report = lib.index(runner=runner, batch_size=BATCH, tagger=None)
        assert report.moved == 1 and report.removed == 1
        assert report.added == 22 - stored and report.unchanged == stored - 2
        _assert_each_image_once(lib, 19, 2)


def test_index_command_with_ray(local_ray, model_file, tmp_path, capsys):
    from posefinder.build import cli

    folder = _folder(tmp_path, 6)
    argv = ["index", str(folder), "--library", str(tmp_path / "lib"), "--model", str(model_file), "--ray",
            "--device", "cpu", "--batch-size", "2"]  # fmt: skip
    assert cli.main(argv) == 1  # two unreadable images: exit 1, the others indexed
    captured = capsys.readouterr()
    assert "library: 6 images, 6 poses" in captured.out and "Ray: 1 node(s)" in captured.out
    assert "2 images could not be read" in captured.err
    assert ray.is_initialized()  # the command joined the running instance and leaves it running
    with Library.open(tmp_path / "lib") as lib:
        _assert_each_image_once(lib, 6, 2)
