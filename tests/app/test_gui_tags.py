"""The results' tag filter (completion with counts, include and exclude), tags in a tile's tooltip and its
context menu's "search with this tag"."""

from __future__ import annotations

import pytest
from gui_helpers import make_library, open_window, varied_poses, wait_search
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from posefinder.app.gui.tag_filter import parse_tags
from posefinder.models.library import Library
from posefinder.models.library.library_tags import TagFilter

pytestmark = pytest.mark.usefixtures("qapp")


def test_parse_tags_reads_include_and_exclude():
    assert parse_tags("sword, skirt -hat  sword -") == TagFilter(("sword", "skirt"), ("hat",))
    assert not parse_tags("  ")


def _tagged_library(tmp_path):
    path = make_library(tmp_path / "lib", varied_poses(6, seed=2))
    with Library.open(path) as lib:
        ids = [i for (i,) in lib._con().execute("SELECT id FROM images ORDER BY id")]
        for n, iid in enumerate(ids):
            tags = {"sword": 0.9 if n % 2 == 0 else 0.2, "hat": 0.8 if n < 2 else 0.1}
            lib.set_tags(iid, tags)
    return path, ids


def test_tag_filter_completes_includes_and_excludes(qtbot, tmp_path):
    path, ids = _tagged_library(tmp_path)
    window = open_window(qtbot, path)
    assert {r.image_id for r in window.results.results()} == set(ids)
    edit = window.filters.tag_edit
    assert edit.completions() == ["sword  (3)", "hat  (2)"]
    done = window.searches_done()
    qtbot.keyClicks(edit, "swo")
    assert edit._completer.currentCompletion() == "sword  (3)"
    edit._complete("sword  (3)")
    got = wait_search(qtbot, window, done)
    assert {r.image_id for r in got} == {ids[0], ids[2], ids[4]}
    done = window.searches_done()
    edit.setText("sword -hat")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    got = wait_search(qtbot, window, done)
    assert {r.image_id for r in got} == {ids[2], ids[4]}
    done = window.searches_done()
    edit.setText("hat -sword")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert {r.image_id for r in wait_search(qtbot, window, done)} == {ids[1]}
    done = window.searches_done()
    edit.setText("sword hat -sword -hat")  # nothing can pass: said so
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert wait_search(qtbot, window, done) == [] and "tags" in window.results.empty_text()


def test_tile_tooltip_and_menu_search_with_a_tag(qtbot, tmp_path):
    path, ids = _tagged_library(tmp_path)
    window = open_window(qtbot, path)
    model = window.results.results_model
    row = next(i for i, r in enumerate(window.results.results()) if r.image_id == ids[0])
    tip = model.data(model.index(row), Qt.ItemDataRole.ToolTipRole)
    assert tip is not None and tip.splitlines()[-1] == "tags: sword, hat"
    other = next(i for i, r in enumerate(window.results.results()) if r.image_id == ids[5])
    other_tip = model.data(model.index(other), Qt.ItemDataRole.ToolTipRole)
    assert other_tip is not None and "tags:" not in other_tip
    menu = window.results.context_menu(window.results.results()[row])
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None and a.text() == "Search with this tag")
    assert isinstance(sub, QMenu)
    assert [a.text() for a in sub.actions()] == ["sword  (0.90)", "hat  (0.80)"]
    done = window.searches_done()
    sub.actions()[1].trigger()
    assert window.filters.tag_edit.text() == "hat"
    assert {r.image_id for r in wait_search(qtbot, window, done)} == {ids[0], ids[1]}
