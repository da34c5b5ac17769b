"""The demo library: built once from synthetic figures, searchable with thumbnails, resumable, and `posefinder demo`."""

from __future__ import annotations

import json
import sys
import types

import pytest

from posefinder.app import demo
from posefinder.app.cli import main
from posefinder.models.descriptor import Query
from posefinder.models.library import Library

pytestmark = pytest.mark.torchfree


def _files(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_small_demo_builds_and_a_figures_pose_finds_that_figure_first():
    calls = []
    library = demo.ensure_demo_library(20, progress=lambda d, t: calls.append((d, t)))
    root, images, lib_dir = demo.demo_paths()
    assert library == lib_dir and calls[-1] == (20, 20)
    assert sorted(p.name for p in images.glob("*.jpg")) == [demo.image_name(i) for i in range(20)]
    with Library.open(library, readonly=True) as lib:
        counts = lib.counts()
        assert (counts.images, counts.poses) == (20, 20)
        for i in (0, 5, 19):
            res = lib.search(Query(demo.demo_pose(i)), k=3)
            assert res[0].image == demo.image_name(i) and res[0].distance < 1e-6
            assert res[0].path == (images / demo.image_name(i)).resolve()
            assert res[0].pose.source == "synthetic" and res[0].pose.meta["kind"] == demo.demo_pose(i).meta["kind"]
            thumb = lib.thumbnail_path(res[0].image_id)
            assert thumb is not None and thumb.is_file()
    stamp = json.loads((root / demo.STAMP).read_text())
    assert stamp["complete"] and stamp["count"] == 20


def test_a_second_call_reuses_the_library_and_a_new_generator_rebuilds_it(monkeypatch):
    library = demo.ensure_demo_library(12)
    _, images, _ = demo.demo_paths()
    before, db_before = _files(images), (library / "library.sqlite").stat().st_mtime_ns
    calls = []
    assert demo.ensure_demo_library(12, progress=lambda d, t: calls.append(d)) == library
    assert demo.ensure_demo_library(5) == library  # fewer figures than built: still the same library
    assert calls == [] and _files(images) == before and (library / "library.sqlite").stat().st_mtime_ns == db_before
    (images / demo.image_name(11)).unlink()  # a user deleted images: drawn again, the library kept
    assert not demo.is_built(12)
    demo.ensure_demo_library(12)
    assert (images / demo.image_name(11)).is_file() and demo.is_built(12)

    import posefinder.build.synthetic as synthetic

    monkeypatch.setattr(synthetic, "generator_fingerprint", lambda: "another-generator")
    assert not demo.is_built(12)
    demo.ensure_demo_library(12, progress=lambda d, t: calls.append(d))
    assert calls and calls[-1] == 12
    assert json.loads((demo.demo_paths()[0] / demo.STAMP).read_text())["generator"] == "another-generator"
    with Library.open(library, readonly=True) as lib:
        assert (lib.counts().images, lib.counts().poses) == (12, 12)


def test_an_interrupted_build_resumes_without_duplicates_and_a_larger_n_extends(monkeypatch):
    monkeypatch.setattr(demo, "CHUNK", 4)

    def stop_after_first_chunk(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo_library(10, progress=stop_after_first_chunk)
    root, images, library = demo.demo_paths()
    stamp = json.loads((root / demo.STAMP).read_text())
    assert not stamp["complete"] and stamp["imported"] == 4 and not demo.is_built(10)
    (images / ".tmp-demo_00004.jpg").write_bytes(b"half a jpeg")  # a file cut off mid-write
    calls = []
    demo.ensure_demo_library(10, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 6) and calls[-1] == (6, 6)  # only the rest was done
    assert not list(images.glob(".tmp-*"))
    with Library.open(library, readonly=True) as lib:
        assert (lib.counts().images, lib.counts().poses) == (10, 10)
    demo.ensure_demo_library(13)
    with Library.open(library, readonly=True) as lib:
        assert (lib.counts().images, lib.counts().poses) == (13, 13)
        assert lib.search(Query(demo.demo_pose(12)), k=1)[0].image == demo.image_name(12)


def test_demo_cli_builds_and_prints_a_sample_search_and_its_query_file_works(capsys):
    assert main(["demo", "--cli", "-n", "12", "-k", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "12 images, 12 poses" in out
    table = lines.index(next(ln for ln in lines if ln.strip().startswith("rank")))
    first = lines[table + 1].split()
    assert first[0] == "1" and float(first[1]) < 1e-4 and first[-1] == demo.image_name(7)
    assert len([ln for ln in lines[table + 1 :] if ln.strip()[:1].isdigit()]) == 3
    _, _, library = demo.demo_paths()
    query = library.parent / "sample_query.json"
    assert main(["search", "--pose", str(query), "--library", str(library), "--json", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["image"] == demo.image_name(7)
    assert main(["demo", "--cli", "-n", "0"]) == 1
    assert "at least 1 figure" in capsys.readouterr().err


def test_demo_without_cli_opens_the_app_on_the_demo_library(monkeypatch):
    opened = {}
    fake = types.ModuleType("posefinder.app.gui")

    def launch(library=None, screenshot=None, estimator=None):
        opened.update(library=library, screenshot=screenshot)
        return 0

    setattr(fake, "launch", launch)
    monkeypatch.setitem(sys.modules, "posefinder.app.gui", fake)
    assert main(["demo", "-n", "6"]) == 0
    assert opened == {"library": demo.demo_paths()[2], "screenshot": None}
    assert main(["demo", "-n", "6", "--screenshot", "shot.png"]) == 0
    assert str(opened["screenshot"]) == "shot.png"


class _Terminal:
    """A stderr that says it is a terminal, so that tqdm draws its bar."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)
        return len(s)

    def flush(self):
        pass


def test_long_runs_show_a_progress_bar_in_a_terminal(tmp_path, monkeypatch, capsys):
    from library_helpers import write_pngs

    from posefinder.models.errors import ModelError
    from posefinder.models.estimators import chain

    def no_model(name=None, device="cpu"):
        raise ModelError(chain.NO_MODEL_MESSAGE)

    monkeypatch.setattr(chain, "select_estimator", no_model)  # indexing records the images only
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["demo", "--cli", "-n", "6"]) == 0
    assert "6/6" in "".join(term.text) and "img" in "".join(term.text)
    term.text.clear()
    write_pngs(tmp_path / "pics", 5)
    assert main(["index", str(tmp_path / "pics"), "--library", str(tmp_path / "lib")]) == 0
    assert "5/5" in "".join(term.text)
