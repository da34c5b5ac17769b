"""The app as a whole: `posefinder` opens it, `posefinder gui --screenshot`, settings, the welcome state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import SlowContentEstimator, make_library, open_window, varied_poses
from library_helpers import write_pngs

from posefinder.app import cli

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.torchfree]


def test_screenshot_command_renders_the_window_into_a_png(tmp_path):
    from PIL import Image

    lib = make_library(tmp_path / "lib", varied_poses(8))
    out = tmp_path / "shots" / "app.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "posefinder", "gui", "--library", str(lib), "--screenshot", str(out)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (1440, 880)
        colors = img.convert("RGB").getcolors(1 << 20)
    assert colors is not None and len(colors) > 50  # a rendered window, not a blank picture


def test_gui_on_a_missing_library_says_so_in_one_line(tmp_path, capsys):
    assert cli.main(["gui", "--library", str(tmp_path / "nope"), "--screenshot", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("posefinder: error:") and "no PoseFinder library" in err and "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_posefinder_without_arguments_opens_the_app_on_the_last_library(qtbot, tmp_path, monkeypatch):
    import posefinder.app.gui as gui

    calls = []
    monkeypatch.setattr(gui, "launch", lambda **kw: calls.append(kw) or 0)
    assert cli.main([]) == 0 and calls == [{"library": None, "screenshot": None, "pose": None}]
    monkeypatch.undo()

    lib = make_library(tmp_path / "lib", varied_poses(6))
    first = open_window(qtbot, lib)
    first.close()
    seen = {}

    def capture(window, path):
        seen["library"] = window.library.path
        seen["results"] = len(window.results.results())
        seen["tiles"] = sum(window.results.thumbnail(r) is not None for r in window.results.results())
        Path(path).write_bytes(b"")
        return Path(path)

    monkeypatch.setattr(gui, "save_screenshot", capture)
    assert gui.launch(screenshot=tmp_path / "x.png") == 0
    assert seen == {"library": lib.resolve(), "results": 6, "tiles": 6}  # the screenshot waits for the tiles


def test_settings_persist_across_windows(qtbot, tmp_path):
    from posefinder.app.gui.settings import Settings
    from posefinder.models import paths

    lib = make_library(tmp_path / "lib", varied_poses(6))
    first = open_window(qtbot, lib)
    first.filters.mirror_box.setChecked(False)
    first.filters.k_spin.setValue(7)
    first.filters.orientation_combo.setCurrentIndex(2)
    first.filters.tile_slider.setValue(210)
    first.resize(1010, 705)
    first.library_dock.hide()
    first.splitter.setSizes([300, 600])
    splitter_sizes = first.splitter.sizes()
    first.close()
    assert (paths.config_dir() / "posefinder.ini").is_file()  # under POSEFINDER_HOME

    settings = Settings()
    assert settings.last_library() == lib.resolve()
    second = open_window(qtbot, size=None)
    opts = second.filters.options()
    assert (opts.mirror, opts.k, opts.orientation_weight) == (False, 7, 2.0)
    assert second.results.tile_px == 210 and second.filters.tile_slider.value() == 210
    # geometry restored (the offscreen screen is 800 px wide, so Qt clamps the width to it)
    assert second.height() == 705 and second.width() < 1010 + 1
    assert not second.library_dock.isVisible()
    ratio = lambda sizes: sizes[0] / sum(sizes)  # noqa: E731
    assert abs(ratio(second.splitter.sizes()) - ratio(splitter_sizes)) < 0.05


def test_welcome_state_without_a_library_then_index_a_folder(qtbot, tmp_path):
    pics = tmp_path / "drawings"
    write_pngs(pics, 5)
    window = open_window(qtbot, estimator=SlowContentEstimator(0))
    assert window.results_stack.currentWidget() is window.welcome
    assert window.welcome.open_button.isVisible() and window.welcome.index_button.isVisible()
    assert not window.filters.isEnabled() and window.status_label.text() == "No library open"
    with qtbot.waitSignal(window.library_panel.indexFinished, timeout=10_000):
        assert window.index_folder(pics)
    assert window.library is not None and window.library.path.name == "drawings"
    assert window.results_stack.currentWidget() is window.results
    qtbot.waitUntil(lambda: len(window.results.results()) == 5 and window.search_idle(), timeout=10_000)


def test_a_broken_last_library_shows_a_banner_not_a_crash(qtbot, tmp_path):
    from posefinder.app.gui.settings import Settings

    Settings().set_last_library(tmp_path / "gone")
    window = open_window(qtbot)
    last = Settings().last_library()
    assert last is not None and not window.open_library(last)
    assert window.banner.isVisible() and "no PoseFinder library" in window.banner.text()
    assert window.results_stack.currentWidget() is window.welcome


def test_gui_starts_with_a_pose_file_as_the_query(qtbot, tmp_path, monkeypatch, capsys):
    import posefinder.app.gui as gui
    from posefinder.models.formats import write_poses
    from posefinder.models.formats.record import PoseRecord

    poses = varied_poses(8, seed=6)
    lib = make_library(tmp_path / "lib", poses)
    write_poses([PoseRecord(poses[3], "x.png")], tmp_path / "query.json", "openpose")
    seen = {}

    def capture(window, path):
        seen["top"] = window.results.results()[0]
        seen["pose"] = window.canvas.pose()
        return Path(path)

    monkeypatch.setattr(gui, "save_screenshot", capture)
    args = ["gui", "--library", str(lib), "--pose", str(tmp_path / "query.json"),
            "--screenshot", str(tmp_path / "s.png")]  # fmt: skip
    assert cli.main(args) == 0
    assert seen["top"].pose_id == 4 and seen["top"].distance < 0.02  # OpenPose keeps 18 points: near, not exact

    (tmp_path / "bad.json").write_text("{not json")
    args[4] = str(tmp_path / "bad.json")
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("posefinder: error:") and "bad.json" in err[0]


def test_try_the_demo_builds_it_off_the_gui_thread_and_opens_it(qtbot, monkeypatch):
    from PySide6.QtCore import Qt

    from posefinder.app import demo

    real = demo.ensure_demo_library
    reports = []

    def small(n=demo.DEFAULT_COUNT, progress=None, rebuild=False):
        def report(done, total):
            reports.append((done, total))
            assert progress is not None  # the GUI follows the build
            progress(done, total)

        return real(n=6, progress=report, rebuild=rebuild)

    monkeypatch.setattr(demo, "ensure_demo_library", small)
    window = open_window(qtbot)
    assert window.welcome.demo_button.isVisible()
    qtbot.mouseClick(window.welcome.demo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.library is not None and window.searches_done() > 0, timeout=30_000)
    assert window.library is not None and window.library.path == demo.demo_paths()[2].resolve()
    assert len(window.results.results()) == 6 and reports and reports[-1][0] == reports[-1][1]
    assert window.results_stack.currentWidget() is window.results
