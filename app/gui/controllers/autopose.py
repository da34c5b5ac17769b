"""Auto-pose: an image dropped or pasted on the canvas -> its pose estimated on one worker thread -> the
canvas's skeleton snaps to the best one; without a model, a banner says why and how to get one.

One worker, latest drop only: a drop made while an estimate runs replaces any drop still waiting (never
estimated, its image freed), and the estimator (the injected one, else the chain's choice) is loaded once,
on that worker, however quickly images are dropped.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from posefinder.app.gui.workers import LatestOnlyWorker
from posefinder.models.errors import ModelError, PoseFinderError

GUIDE_NOTE = "The image stays under the skeleton as a guide for posing by hand."


class AutoPoseController(QObject):
    finished = Signal(bool)  # a pose was found and set on the canvas

    def __init__(self, canvas, banner, requests, show_status, estimator=None, parent=None):
        super().__init__(parent)
        self.canvas, self.banner, self.requests, self._status = canvas, banner, requests, show_status
        self._estimator = estimator  # injected (tests, `--estimator`); else loaded on first need
        self._injected = estimator is not None
        self.loads = 0  # times an estimator was loaded (the chain's choice; once per window)
        self._current: tuple[int, int, str] | None = None  # (worker ticket, canvas request, image name)
        self._worker = LatestOnlyWorker("auto-pose", self)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)

    def estimate(self, image, name: str = "the image") -> None:
        """Estimate the image's pose off the GUI thread; the skeleton snaps to the best one."""
        seq = self.requests.new()
        self.canvas.set_busy(True, f"Finding the pose in {name}…")
        self._status(f"Finding the pose in {name}…", 0)
        ticket = self._worker.submit(lambda: self._run(image))
        self._current = (ticket, seq, name)

    def idle(self) -> bool:
        return self._worker.idle()

    def reload_model(self) -> None:
        """The model in use changed (chosen in the pose models dialog, or fine-tuned): the next estimate loads
        the chain's choice again (an injected estimator stays)."""
        if not self._injected:
            self._estimator = None

    def stop(self) -> None:
        self._worker.stop(timeout=0.0)  # an estimate running now ends with the process; never waited for

    def _run(self, image):
        est = self._estimator
        if est is None:
            from posefinder.models.estimators import chain

            est = chain.select_estimator()
            self._estimator = est
            self.loads += 1
        return est.name, est.estimate(image)

    def _take(self, ticket: int) -> tuple[int, str] | None:
        cur = self._current
        if cur is None or cur[0] != ticket:
            return None
        self._current = None
        if not self.requests.is_current(cur[1]):
            return None  # another image was dropped (or a result chosen) since: that pose is the one that counts
        self.canvas.set_busy(False)
        return cur[1], cur[2]

    def _on_failed(self, ticket: int, error) -> None:
        taken = self._take(ticket)
        if taken is None:
            return
        name = taken[1]
        if isinstance(error, ModelError):
            text = str(error)
            self.banner.show_message(f"{text[:1].upper()}{text[1:]}. {GUIDE_NOTE}", "warn")
            self._status("no pose model: pose the skeleton by hand over the image", 8000)
        else:
            text = str(error) if isinstance(error, PoseFinderError) else repr(error)
            self.banner.show_message(f"Auto-pose failed on {name}: {text}. {GUIDE_NOTE}", "warn")
        self.finished.emit(False)

    def _on_finished(self, ticket: int, outcome, _seconds: float) -> None:
        taken = self._take(ticket)
        if taken is None:
            return
        name = taken[1]
        model, poses = outcome
        if not poses:
            self.banner.show_message(f"No character found in {name}. {GUIDE_NOTE}", "info")
            self.finished.emit(False)
            return
        self.banner.dismiss()
        self.canvas.set_pose(poses[0])
        more = f" ({len(poses)} characters; the best one is posed)" if len(poses) > 1 else ""
        self._status(f"Pose of {name} found by {model}{more}: drag the joints to adjust", 8000)
        self.finished.emit(True)
