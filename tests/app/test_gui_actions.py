"""The window's actions: one typed tuple, unique names and shortcuts, every action reachable from a menu."""

from __future__ import annotations

import pytest
from gui_helpers import open_window

pytestmark = pytest.mark.usefixtures("qapp")


def _menu_actions(menu) -> list:
    out = []
    for a in menu.actions():
        out.append(a)
        if a.menu() is not None:
            out += _menu_actions(a.menu())
    return out


def test_actions_are_a_typed_tuple_with_unique_names_and_shortcuts_all_in_menus(qtbot):
    from posefinder.app.gui.actions import Actions

    window = open_window(qtbot)
    actions = window.actions
    assert isinstance(actions, Actions) and len(set(map(id, actions))) == len(Actions._fields)
    names = [a.objectName() for a in actions]
    assert len(set(names)) == len(names) and window.actions_by_name["savePose"] is actions.save_pose
    keys = [a.shortcut().toString() for a in actions if not a.shortcut().isEmpty()]
    assert len(set(keys)) == len(keys), keys
    in_menus = {id(a) for m in window.menuBar().actions() for a in _menu_actions(m.menu())}
    assert [n for a, n in zip(actions, names) if id(a) not in in_menus] == []
    assert not actions.save_pose.isEnabled() and not actions.undo.isEnabled()
    window.canvas.mirror()
    assert actions.undo.isEnabled() and "Mirror" in actions.undo.toolTip()
