"""Help > Import the paper's models…: runs off the GUI thread with progress, then says what it installed."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # the generated release is written with torch.save

from gui_helpers import open_window  # noqa: E402

import paper_checkpoints as pc  # noqa: E402
from PySide6.QtWidgets import QMessageBox, QProgressDialog  # noqa: E402

from posefinder.app.gui import model_import  # noqa: E402
from posefinder.models.weights import ModelStore  # noqa: E402


@pytest.fixture
def boxes(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: shown.append(("info", a[2])))
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(("warn", a[2])))
    return shown


def _run(qtbot, window, paths):
    window.paper_import.start(paths)
    qtbot.waitUntil(lambda: window.paper_import.progress is None, timeout=120_000)


def test_the_help_menu_has_the_import_action(qtbot):
    window = open_window(qtbot)
    action = window.actions_by_name["importPaperModels"]
    help_menu = next(m for m in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))
                     if m.title() == "&Help")  # fmt: skip
    assert action in help_menu.actions() and "Paper's Models" in action.text()


def test_a_folder_without_models_says_nothing_was_installed(qtbot, tmp_path, boxes):
    window = open_window(qtbot)
    _run(qtbot, window, [tmp_path])
    assert boxes == [("warn", f"Nothing was installed:\nSkipped {tmp_path.name}: no .ckpt or rulebook file in it")]


@pytest.mark.slow
def test_a_checkpoint_is_imported_with_progress_and_the_result_shown(qtbot, tmp_path, boxes, monkeypatch):
    ref = pc.randomise(pc.FeatMatchRef(), 5, (64, 64))
    ckpt = pc.write_checkpoint(tmp_path / "feat_match+data.ckpt", ref.state_dict(), pc.pose_hparams(), rcnn=True)
    window = open_window(qtbot)
    values = []

    class Recording(QProgressDialog):
        def setValue(self, value):
            values.append(value)
            super().setValue(value)

    monkeypatch.setattr(model_import, "QProgressDialog", Recording)
    window.paper_import.start([ckpt])
    qtbot.waitUntil(lambda: window.paper_import.progress is None, timeout=120_000)
    assert boxes == [("info", "Installed feature-matching.chen2022-data: pose")]
    assert values and values == sorted(values)
    assert [m.name for m in ModelStore().list()] == ["feature-matching.chen2022-data"]
