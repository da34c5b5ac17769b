"""The main window's actions: made by one helper (`new_action`) into a typed tuple (`Actions`).

Menus, the toolbar and the tests reach an action as a field (`window.actions.save_pose`); its objectName
(camelCase, e.g. "savePose") is what `window.actions_by_name` and QObject.findChild know it by.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from PySide6.QtGui import QAction, QKeySequence


def new_action(parent, name: str, text: str, slot: Callable | None = None, shortcut=None, tip: str | None = None,
               checkable: bool = False, enabled: bool = True) -> QAction:  # fmt: skip
    """A QAction named `name` (objectName) with its text, slot, shortcut (a string or a StandardKey), tip
    (tool tip and status tip), checkable and enabled state."""
    a = QAction(text, parent)
    a.setObjectName(name)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.setCheckable(checkable)
    a.setEnabled(enabled)
    if slot is not None:
        a.triggered.connect(slot)
    return a


class Actions(NamedTuple):
    open_library: QAction
    new_library: QAction
    index_folder: QAction
    open_image: QAction
    paste_image: QAction
    export_pose: QAction
    save_pose: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    mirror_pose: QAction
    reset_pose: QAction
    clear_guide: QAction
    zoom_in: QAction
    zoom_out: QAction
    fit: QAction
    free_mode: QAction
    search_now: QAction
    add_folder: QAction
    index_now: QAction
    cancel_index: QAction
    models: QAction
    import_models: QAction
    about: QAction

    def by_name(self) -> dict[str, QAction]:
        """objectName -> action."""
        return {a.objectName(): a for a in self}


def make_actions(window) -> Actions:
    """The window's actions, wired to its slots, its canvas and its library panel."""
    c, panel, stack = window.canvas, window.library_panel, window.canvas.undo_stack
    key = QKeySequence.StandardKey
    a = Actions(
        open_library=new_action(window, "openLibrary", "&Open Library…", window.ask_open_library, "Ctrl+Shift+O"),
        new_library=new_action(window, "newLibrary", "&New Library…", window.ask_new_library),
        index_folder=new_action(window, "indexFolder", "&Index a Folder…", window.ask_index_folder),
        open_image=new_action(window, "openImage", "Open &Image…", window.ask_open_image, key.Open,
                              "Open an illustration as a guide under the skeleton and find its pose"),
        paste_image=new_action(window, "pasteImage", "&Paste Image", window.paste_image, key.Paste,
                               "Use the clipboard's image as the guide and find its pose"),
        export_pose=new_action(window, "exportPose", "&Export Pose…", window.ask_export, "Ctrl+E",
                               "Save the pose as PoseFinder, OpenPose (ControlNet) or COCO JSON, or a PNG"),
        save_pose=new_action(window, "savePose", "&Save Pose to Library", window.save_corrected_pose, key.Save,
                             "Store the corrected pose in the library as hand-edited", enabled=False),
        quit=new_action(window, "quit", "&Quit", window.close, key.Quit),
        undo=new_action(window, "undo", "&Undo", stack.undo, key.Undo, enabled=stack.canUndo()),
        redo=new_action(window, "redo", "&Redo", stack.redo, key.Redo, enabled=stack.canRedo()),
        # the canvas's own keys (M, R, F) work while it has focus; the menus name them
        mirror_pose=new_action(window, "mirrorPose", "&Mirror Pose", c.mirror, None,
                               "Flip the skeleton left to right (M)"),
        reset_pose=new_action(window, "resetPose", "&Reset Pose", c.reset, None, "Back to a standing pose (R)"),
        clear_guide=new_action(window, "clearGuide", "Remove &Guide Image", window.clear_guide, None,
                               "Take the image from under the skeleton"),
        zoom_in=new_action(window, "zoomIn", "Zoom &In", c.zoom_in, key.ZoomIn),
        zoom_out=new_action(window, "zoomOut", "Zoom &Out", c.zoom_out, key.ZoomOut),
        fit=new_action(window, "fit", "&Fit", c.fit, "Ctrl+0", "Show the whole figure (F)"),
        free_mode=new_action(window, "freeMode", "Free &Joints", c.set_free_mode, None,
                             "On: a drag moves one joint alone and lengths change (foreshortening). Off: limbs "
                             "turn about their joints. Alt inverts it per drag", checkable=True),
        search_now=new_action(window, "searchNow", "Search &Now", window.search_now, "F5"),
        add_folder=new_action(window, "addFolder", "&Add Folder…", panel._ask_add_folder),
        index_now=new_action(window, "indexNow", "Index &Now", lambda: panel.start_index()),
        cancel_index=new_action(window, "cancelIndex", "&Cancel Indexing", panel.cancel_index),
        models=new_action(window, "models", "Pose &Models…", window._show_models),
        import_models=new_action(window, "importPaperModels", "&Import the Paper's Models…",
                                 lambda: window.paper_import.ask(), None,
                                 "Import the authors' released bizarre_pose_models.zip (app/gui/model_import.py)"),
        about=new_action(window, "about", "&About PoseFinder", window._about),
    )  # fmt: skip
    c.freeModeChanged.connect(a.free_mode.setChecked)
    stack.canUndoChanged.connect(a.undo.setEnabled)
    stack.canRedoChanged.connect(a.redo.setEnabled)
    stack.undoTextChanged.connect(lambda text: a.undo.setToolTip(f"Undo {text}".strip()))
    stack.redoTextChanged.connect(lambda text: a.redo.setToolTip(f"Redo {text}".strip()))
    return a
