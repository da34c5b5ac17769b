"""Corrections: a result's pose opened on the canvas over its image, fixed by hand, saved to the library.

The stored pose is shown in the image file's real pixels (models/editing/correction: the real scale when
the file was resized, a message and no correction when its proportions differ) and saved back exactly:
Save with no edit writes nothing; an edit writes the moved joints mapped back to the stored pixels and
keeps every other joint bit for bit. Saving goes through the process's one writer of the library, shared
with a running index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from posefinder.models.editing.correction import CorrectionFrame
from posefinder.models.errors import PoseFinderError


@dataclass
class Correction:
    """A library pose being corrected on the canvas."""

    pose_id: int
    name: str
    original: object  # the Pose as stored
    frame: CorrectionFrame


class CorrectionController(QObject):
    active_changed = Signal(bool)  # a correction started (True) or ended (False)
    saved = Signal(int)  # pose id whose corrected pose was written

    def __init__(self, canvas, banner, requests, tasks, writable_library, show_status, parent=None):
        super().__init__(parent)
        self.canvas, self.banner, self.requests, self.tasks = canvas, banner, requests, tasks
        self._writable_library = writable_library
        self._status = show_status
        self.correction: Correction | None = None
        self.library = None  # the library the results come from

    def start(self, result, display_name: str) -> None:
        """Open a result's pose for correction: its image as the guide, its pose on the canvas."""
        path = result.path
        seq, library = self.requests.new(), self.library
        self.end()

        def load(_task):
            from posefinder.models.imageio import load_image

            return load_image(path) if path is not None and Path(path).is_file() else None

        def loaded(image):
            if not self.requests.is_current(seq) or library is not self.library:
                return  # another pose was asked for, or another library opened, while the image loaded
            if isinstance(image, BaseException):
                self.banner.show_message(f"{display_name}: {image}; correcting the pose without its image", "warn")
                image = None
            size = None if image is None else (int(image.shape[1]), int(image.shape[0]))
            try:
                frame = CorrectionFrame.plan(result.pose, size)
            except PoseFinderError as exc:
                self.banner.show_message(f"The pose of {display_name} cannot be corrected on its image: {exc}", "warn")
                return
            self.canvas.set_guide_image(image)
            self.canvas.set_pose(frame.to_canvas(), exact=True)
            self.correction = Correction(result.pose_id, display_name, result.pose, frame)
            self.active_changed.emit(True)
            self.banner.show_message(
                f"Correcting the pose of {display_name}: drag the joints into place, switch off the ones that are "
                "not visible, then save it to the library.",
                "info",
                [("Save pose to library", self.save), ("Stop", self.end)],
            )

        self.tasks.start(load, loaded, name="load-image")

    def save(self) -> bool:
        """Store the canvas's pose as the corrected (hand-edited) pose of the entry being corrected; with no
        edit nothing is written. False (with a banner) when it could not be saved."""
        corr = self.correction
        if corr is None:
            return False
        pose = corr.frame.edited(self.canvas.pose().keypoints, self.canvas.joint_mask())
        if pose is None:
            self.end()
            self._status(f"the pose of {corr.name} was not changed: nothing saved", 8000)
            return True
        try:
            with self._writable_library() as lib:
                lib.set_pose(corr.pose_id, pose)
        except PoseFinderError as exc:
            self.banner.show_message(f"The pose was not saved: {exc}", "warn")
            return False
        self.end()
        self._status(f"saved the corrected pose of {corr.name} (hand-edited: indexing keeps it)", 8000)
        self.saved.emit(corr.pose_id)
        return True

    def end(self) -> None:
        if self.correction is not None:
            self.correction = None
            self.active_changed.emit(False)
            self.banner.dismiss()

    def forget(self) -> None:
        """The library closed: no correction, no banner change."""
        if self.correction is not None:
            self.correction = None
            self.active_changed.emit(False)
