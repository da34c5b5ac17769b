"""Work off the GUI thread: a latest-only job runner (search), one-shot tasks (auto-pose, indexing, demo)
and a small pool that loads thumbnails.

Each runs plain Python callables on daemon threads and reports back through Qt signals, which Qt delivers
on the GUI thread (queued connections). Nothing here touches a widget. Daemon threads never keep the app
alive: closing the window asks long jobs to stop and waits a little; a job still running when the process
ends dies with it, which the library's batched commits make safe.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


def _emit(signal, *args) -> None:
    """Emit from a worker thread; the receiver may be gone when the app is closing."""
    try:
        signal.emit(*args)
    except RuntimeError:  # the QObject was deleted: nobody is listening any more
        pass


class LatestOnlyWorker(QObject):
    """Runs submitted jobs one at a time on its own thread; only the newest submitted job matters.

    submit(fn) replaces any job still waiting (it never runs) and returns a ticket. A finished job's
    outcome travels to the thread the worker lives in (the GUI thread) and is emitted there only if no
    newer job was submitted meanwhile, so a receiver never sees a stale result. idle() is True only when
    no job waits or runs and every finished job's outcome has been handled on the GUI thread: a waiter
    that sees idle() knows the latest result is already shown.
    """

    finished = Signal(int, object, float)  # (ticket, result, seconds the job ran)
    failed = Signal(int, object)  # (ticket, exception)
    _done = Signal(int, object, object, float)  # worker thread -> GUI thread: (ticket, result, error, seconds)

    def __init__(self, name: str = "latest-only", parent: QObject | None = None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: tuple[int, Callable[[], Any]] | None = None
        self._ticket = 0
        self._undelivered = 0  # jobs taken by the thread whose outcome the GUI thread has not handled yet
        self._stopped = False
        self._done.connect(self._deliver)  # queued: emitted on the worker thread
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> int:
        with self._cond:
            self._ticket += 1
            self._pending = (self._ticket, fn)
            self._cond.notify()
            return self._ticket

    def cancel_pending(self) -> None:
        """Forget the waiting job and make the running one's result stale."""
        with self._cond:
            self._ticket += 1
            self._pending = None

    def is_current(self, ticket: int) -> bool:
        return ticket == self._ticket

    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and self._undelivered == 0

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopped = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopped:
                    self._cond.wait()
                pending = self._pending
                if self._stopped or pending is None:
                    return
                ticket, fn = pending
                del pending
                self._pending = None
                self._undelivered += 1
            t0 = time.perf_counter()
            try:
                result, error = fn(), None
            except Exception as exc:  # reported to the GUI, which shows it
                result, error = None, exc
            del fn  # what the job captured (a dropped image) is freed now, not when the next job comes
            _emit(self._done, ticket, result, error, time.perf_counter() - t0)
            del result, error

    def _deliver(self, ticket: int, result, error, seconds: float) -> None:
        with self._cond:
            self._undelivered -= 1
            current = ticket == self._ticket and not self._stopped
        if not current:
            return  # a newer job was submitted meanwhile: its outcome is the one that counts
        if error is None:
            self.finished.emit(ticket, result, seconds)
        else:
            self.failed.emit(ticket, error)


class Task(QObject):
    """One job on its own daemon thread: fn(task) -> result. The job may call task.report(done, total)
    and should look at task.cancel_event (a threading.Event) between steps."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[["Task"], Any], name: str = "task", parent: QObject | None = None):
        super().__init__(parent)
        self._fn: Callable[[Task], Any] | None = fn
        self.cancel_event = threading.Event()
        self.done_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Task":
        self._thread.start()
        return self

    def report(self, done: int, total: int) -> None:
        _emit(self.progress, int(done), int(total))

    def cancel(self) -> None:
        self.cancel_event.set()

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """True when the job has ended within timeout seconds."""
        return self.done_event.wait(timeout)

    def _run(self) -> None:
        fn, self._fn = self._fn, None  # a finished task keeps nothing its job captured
        if fn is None:  # never: a thread runs once
            return
        try:
            result, error = fn(self), None
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI
            result, error = None, exc
        del fn
        # the outcome is posted before done_event is set: whoever waited for the job (wait()) and then
        # processes events is sure to receive it
        if error is None:
            _emit(self.finished, result)
        else:
            _emit(self.failed, error)
        self.done_event.set()


class ThumbnailLoader(QObject):
    """Loads thumbnails on a few daemon threads, newest request first; each key is loaded once at a time.

    request(key, fn): fn() -> QImage | None runs off the GUI thread; `loaded(key, image)` reports it on
    the GUI thread. clear_pending() forgets requests not started (e.g. when new results replace the old
    ones). idle() is True only when nothing waits, loads, or is loaded but not yet reported.
    """

    loaded = Signal(object, object)  # (key, QImage or None)
    _done = Signal(object, object)  # loader thread -> GUI thread

    def __init__(self, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._queue: OrderedDict[Any, Callable[[], Any]] = OrderedDict()
        self._active: set = set()  # keys loading or loaded and not yet reported
        self._stopped = False
        self._done.connect(self._deliver)  # queued: emitted on a loader thread
        self._threads = [
            threading.Thread(target=self._loop, name=f"thumbnails-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def request(self, key, fn: Callable[[], Any]) -> None:
        with self._cond:
            if key in self._active:
                return
            self._queue[key] = fn
            self._queue.move_to_end(key)  # newest first
            self._cond.notify()

    def clear_pending(self) -> None:
        with self._cond:
            self._queue.clear()

    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._active

    def stop(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                key, fn = self._queue.popitem(last=True)
                self._active.add(key)
            try:
                image = fn()
            except Exception:  # an unreadable file: the tile keeps its placeholder
                image = None
            _emit(self._done, key, image)

    def _deliver(self, key, image) -> None:
        with self._cond:
            self._active.discard(key)
            stopped = self._stopped
        if not stopped:
            self.loaded.emit(key, image)


class LRUCache:
    """A small least-recently-used map (GUI thread only)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._items: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        if key not in self._items:
            return default
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
