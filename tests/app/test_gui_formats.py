"""The app and the files artists keep: open dialog filters, the library panel's types and missing-plugin line,
tiles naming a working file's application, "Open in Krita", and working files dropped on the canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from format_files import clip_container, clip_database, picture, png_bytes, write_kra, write_plugin_image
from gui_helpers import FakeEstimator, drop_file, open_window, standing_pose

from posefinder.models.imageio import read_image, save_image
from posefinder.models.library import Library
from posefinder.models.library.indexer import default_runner

pytestmark = pytest.mark.usefixtures("qapp")

WORKING_TYPES = {"Photoshop": ("*.psb", "*.psd"), "Clip Studio": ("*.clip",), "Krita": ("*.kra",),
                 "OpenRaster": ("*.ora",), "Procreate": ("*.procreate",)}  # fmt: skip


def _psd(path: Path, image: np.ndarray) -> Path:
    from PIL import Image
    from psd_tools import PSDImage

    PSDImage.frompil(Image.fromarray(image)).save(path)
    return path


def _action(window, name):
    from PySide6.QtGui import QAction

    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def test_the_open_dialog_lists_every_readable_type_and_opens_a_psd(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from posefinder.models.imageio import plugins

    psd = _psd(tmp_path / "figure.psd", picture(60, 40, seed=2))
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a) or (str(psd), ""))
    est = FakeEstimator([standing_pose(size_px=(60, 40), scale=10)])
    window = open_window(qtbot, estimator=est)
    _action(window, "openImage").trigger()
    (filters,) = [a[3] for a in asked]
    groups = filters.split(";;")
    assert groups[0].startswith("Images and working files (")
    everything = groups[0][groups[0].index("(") + 1 : -1].split()
    for kind, patterns in WORKING_TYPES.items():
        assert f"{kind} ({' '.join(patterns)})" in groups
        assert set(patterns) <= set(everything)
    assert {"*.png", "*.jpg", "*.webp", "*.tif"} <= set(everything)
    installed = [k for k, ok in plugins.register().items() if ok]
    for kind in installed:  # AVIF, HEIC, JPEG XL where the [formats] extra is there
        assert any(g.startswith(f"{kind} (") for g in groups)
    qtbot.waitUntil(lambda: est.calls == 1, timeout=10_000)
    np.testing.assert_array_equal(window.canvas.guide_image(), read_image(psd).image)


def test_the_library_panel_names_the_readable_types_and_sums_up_a_missing_plugin_in_one_line(qtbot, tmp_path, monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    from posefinder.models.imageio import plugins

    folder = tmp_path / "art"
    folder.mkdir()
    for i in range(3):
        write_plugin_image(folder / f"p{i}.avif", picture(16, 16, i), "AVIF")
    save_image(picture(20, 20), folder / "good.png")
    monkeypatch.setattr(plugins, "_state", {**plugins.register(), "AVIF": False})  # as without the extra
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "AVIF"})
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != "AVIF"])
    titles = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda parent, title, *a: titles.append(title) or str(folder))
    window = open_window(qtbot, estimator=FakeEstimator([standing_pose()]))
    window.open_library(tmp_path / "lib", create=True)
    panel = window.library_panel
    tip = panel.add_button.toolTip()
    assert all(kind in tip for kind in WORKING_TYPES) and "PNG, JPEG" in tip
    with qtbot.waitSignal(panel.indexFinished, timeout=20_000) as sig:
        panel._ask_add_folder()
    assert len(titles) == 1 and all(kind in titles[0] for kind in WORKING_TYPES)
    assert "AVIF" not in titles[0]  # a type this installation cannot read is not offered
    status = panel.status.text()
    assert "3 files not read (3 AVIF)" in status and "posefinder[formats]" in status and "\n" not in status
    assert sig.args[0].unavailable == {"AVIF": 3} and not sig.args[0].bad
    assert panel.count_labels["images"].text() == "1" and panel.count_labels["images_bad"].text() == "0"


def _indexed_library(tmp_path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "art"
    folder.mkdir()
    kra = write_kra(folder / "c.kra", None, picture(60, 40), (120, 80))
    png = folder / "a.png"
    save_image(picture(60, 40, seed=1), png)

    class One:
        def estimate(self, image):
            return [standing_pose(size_px=(image.shape[1], image.shape[0]), scale=10, source="model:one")]

    with Library.open(tmp_path / "lib", create=True) as lib:
        lib.index(folders=[folder], runner=default_runner(One()))
    return tmp_path / "lib", kra, png


def test_a_working_file_tile_names_its_application_and_opens_there(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt

    from posefinder.app.gui import results as results_mod

    lib, kra, png = _indexed_library(tmp_path)
    opened = []

    class Desktop:  # what the system would open the file with
        @staticmethod
        def openUrl(url):
            opened.append(Path(url.toLocalFile()))
            return True

    monkeypatch.setattr(results_mod, "QDesktopServices", Desktop)
    window = open_window(qtbot, lib)
    view = window.results
    shown = view.results()
    by_name = {Path(r.path).name: (row, r) for row, r in enumerate(shown)}
    assert set(by_name) == {"c.kra", "a.png"}

    def text(name):
        return view.model().index(by_name[name][0], 0).data(Qt.ItemDataRole.DisplayRole)

    assert text("c.kra") == "c.kra · Krita" and text("a.png") == "a.png"
    kra_result = by_name["c.kra"][1]
    assert kra_result.pose.image_size == (120, 80)  # the canvas, not the preview
    actions = {a.text(): a for a in view.context_menu(kra_result).actions() if a.text()}
    assert "Open in Krita" in actions and "Open" not in actions
    actions["Open in Krita"].trigger()
    assert opened == [kra.resolve()]
    png_actions = {a.text(): a for a in view.context_menu(by_name["a.png"][1]).actions() if a.text()}
    png_actions["Open"].trigger()
    assert opened[-1] == png.resolve()


@pytest.mark.parametrize("kind", ["psd", "clip"])
def test_dropping_a_working_file_on_the_canvas_poses_its_picture(qtbot, tmp_path, kind):
    image = picture(200, 150, seed=5)
    if kind == "psd":
        path = _psd(tmp_path / "figure.psd", image)
    else:
        path = tmp_path / "figure.clip"
        path.write_bytes(clip_container(clip_database(png_bytes(image), canvas=(200, 150))))
    found = standing_pose(size_px=(200, 150), scale=40)
    est = FakeEstimator([found])
    window = open_window(qtbot, estimator=est)
    with qtbot.waitSignal(window.autoPoseFinished, timeout=10_000) as sig:
        drop_file(window.canvas, path)
    assert sig.args == [True] and est.calls == 1
    np.testing.assert_array_equal(window.canvas.guide_image(), image)  # the composite (or preview) as the guide
    on = window.canvas.joint_mask()
    assert np.array_equal(on, found.present)
    assert np.allclose(window.canvas.pose().xy[on], found.xy[on], atol=1e-6)  # snapped to the estimate
