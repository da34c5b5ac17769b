"""The window's one-shot background tasks (loading an image to correct, building the demo), kept while they
run and released when they end, with everything their jobs captured."""

from __future__ import annotations

from typing import Any, Callable

from posefinder.app.gui.workers import Task


class TaskBook:
    """Starts Tasks and holds them until their outcome is handled on the GUI thread, then lets them go."""

    def __init__(self) -> None:
        self._tasks: set[Task] = set()

    def start(self, fn: Callable[[Task], Any], on_done: Callable[[Any], None], on_progress=None,
              name: str = "task") -> Task:  # fmt: skip
        """Run fn(task) on a daemon thread; on_done(result or exception) on the GUI thread."""
        task = Task(fn, name=name)
        self._tasks.add(task)
        callbacks = [on_done]

        def finish(outcome):
            if task not in self._tasks:
                return  # cancelled by cancel_all(): nobody waits for it any more
            self._tasks.discard(task)
            done = callbacks.pop()
            task.deleteLater()  # its connections (and this closure) go with it
            done(outcome)

        task.finished.connect(finish)
        task.failed.connect(finish)
        if on_progress is not None:
            task.progress.connect(on_progress)
        return task.start()

    def running(self) -> int:
        """Tasks whose outcome has not been handled yet."""
        return len(self._tasks)

    def cancel_all(self) -> None:
        """Ask every task to stop and forget them: their outcomes are ignored."""
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
