"""Help > Pose Models…: "Improve auto-pose from my corrections (N)" runs off the GUI thread with progress and
cancel, shows the before/after figures, makes the new version the one in use; the previous one comes back
from the same dialog."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("lightning")

from estimator_fakes import tiny_model_file  # noqa: E402
from finetune_helpers import correction_library  # noqa: E402
from gui_helpers import open_window  # noqa: E402
from posefinder.app.gui.models_dialog import IMPROVE_TEXT  # noqa: E402
from posefinder.models.estimators import chain  # noqa: E402
from posefinder.models.weights import ModelStore  # noqa: E402

LEARNS = {"steps": 30, "batch_size": 8, "lr": 1e-2}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return correction_library(tmp_path_factory.mktemp("gui-corrections"), 30)


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "m").mkdir()
    ModelStore().install(tiny_model_file(tmp_path / "m", name="tiny", segmenter=False))


def _dialog(qtbot, library):
    window = open_window(qtbot, library)
    dialog = window.models_dialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return window, dialog


@pytest.mark.slow
def test_improve_installs_the_better_version_in_use_and_the_old_one_comes_back(qtbot, library, tiny):
    window, dialog = _dialog(qtbot, library)
    assert dialog.improve_button.text() == IMPROVE_TEXT.format(n=30) and dialog.improve_button.isEnabled()
    assert dialog.in_use() == "tiny" and not dialog.use_button.isEnabled()  # "tiny" is selected, already in use
    dialog.options_overrides = dict(LEARNS)
    values = []
    dialog.progress.valueChanged.connect(values.append)
    dialog.improve()
    assert not dialog.improve_button.isEnabled() and dialog.cancel_button.isVisible()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=240_000)
    result = dialog.last_result
    assert result is not None and not isinstance(result, BaseException), result
    assert result.installed == "tiny-ft1"
    text = dialog.status.text()
    assert "OKS@50" in text and "before" in text and "after" in text and "tiny-ft1" in text
    assert values and values == sorted(values)
    assert dialog.in_use() == "tiny-ft1" and getattr(chain.select_estimator(), "model_name") == "tiny-ft1"
    assert window.auto_poser._estimator is None  # auto-pose reloads the model in use
    items = [dialog.models.item(i).text() for i in range(dialog.models.count())]
    assert any("tiny-ft1" in t and "fine-tuned from tiny" in t and "[in use]" in t for t in items)
    # the previous version, restored from the same dialog
    row = next(i for i in range(dialog.models.count()) if dialog.models.item(i).text().startswith("tiny  "))
    dialog.models.setCurrentRow(row)
    assert dialog.use_button.isEnabled()
    dialog.use_button.click()
    assert dialog.in_use() == "tiny" and getattr(chain.select_estimator(), "model_name") == "tiny"


@pytest.mark.slow
def test_cancel_from_the_dialog_installs_nothing(qtbot, library, tiny):
    _, dialog = _dialog(qtbot, library)
    dialog.options_overrides = {"steps": 500, "batch_size": 8}
    task = dialog.improve()
    assert task is not None
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=120_000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=120_000)
    assert task.cancel_event.is_set()
    assert "Nothing was installed" in dialog.status.text() and "cancelled" in dialog.status.text()
    assert [m.name for m in ModelStore().list()] == ["tiny"] and ModelStore().in_use_name() is None


def test_without_enough_corrections_the_entry_says_why(qtbot, tmp_path, tiny):
    small = correction_library(tmp_path / "few", 5)
    _, dialog = _dialog(qtbot, small)
    assert dialog.improve_button.text() == IMPROVE_TEXT.format(n=5) and not dialog.improve_button.isEnabled()
    assert "needs at least 20" in dialog.improve_button.toolTip()


def test_without_torch_the_entry_says_torch_is_needed(qtbot, library, tiny, monkeypatch):
    from posefinder.app.gui import models_dialog

    monkeypatch.setattr(models_dialog, "training_missing", lambda: "fine-tuning needs torch (install ...)")
    _, dialog = _dialog(qtbot, library)
    assert not dialog.improve_button.isEnabled() and "needs torch" in dialog.improve_button.toolTip()
    assert dialog.improve_note.isVisible() and "needs torch" in dialog.improve_note.text()
