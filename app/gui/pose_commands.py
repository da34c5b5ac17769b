"""Undo commands of the pose canvas: each holds the skeleton state before and after one edit.

The canvas hands every edit to its QUndoStack as a `PoseEditCommand`; the stack calls redo() at once, and
undo()/redo() later, which put the state back through the canvas's `apply` callable. The moves of one
drag share a drag number and merge into one command (one undo step per drag); a drag that ends where it
started leaves no command behind. A body-type switch is a `BodyTypeCommand`: it also puts the canvas's
body type back.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QUndoCommand

from posefinder.models.editing.pose_state import SkeletonState

#: QUndoCommand id of drag moves (commands with the same id may merge).
DRAG_COMMAND_ID = 0x505346  # "PSF"


class PoseEditCommand(QUndoCommand):
    """One undoable edit: before -> after, applied through `apply(state)`.

    drag: the number of the drag this move belongs to (moves of the same drag merge), or None for a
    discrete edit (toggle, mirror, reset, preset, set_pose), which never merges.
    """

    def __init__(
        self,
        apply: Callable[[SkeletonState], None],
        before: SkeletonState,
        after: SkeletonState,
        text: str,
        drag: int | None = None,
    ) -> None:
        super().__init__(text)
        self._apply = apply
        self.before = before
        self.after = after
        self.drag = drag

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)

    def id(self) -> int:
        return DRAG_COMMAND_ID if self.drag is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, PoseEditCommand) or other.drag is None or other.drag != self.drag:
            return False
        self.after = other.after
        self.setObsolete(self.after.same_as(self.before))
        return True


class BodyTypeCommand(PoseEditCommand):
    """A switch of body type: the re-proportioned skeleton, and the canvas's body type through
    `set_body_type(name)` (set before the state is shown, so listeners see both together)."""

    def __init__(
        self,
        apply: Callable[[SkeletonState], None],
        set_body_type: Callable[[str], None],
        before: tuple[SkeletonState, str],
        after: tuple[SkeletonState, str],
        text: str,
    ) -> None:
        super().__init__(apply, before[0], after[0], text)
        self._set_body_type = set_body_type
        self.type_before, self.type_after = before[1], after[1]

    def redo(self) -> None:
        self._set_body_type(self.type_after)
        super().redo()

    def undo(self) -> None:
        self._set_body_type(self.type_before)
        super().undo()
