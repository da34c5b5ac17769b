"""Who sets the canvas's pose: every request (an image dropped, a result used or corrected) gets a
number, and the answer of an older one still on its way (an estimate, an image loading) is dropped."""

from __future__ import annotations


class CanvasRequests:
    def __init__(self, canvas) -> None:
        self.canvas = canvas
        self.latest = 0

    def new(self) -> int:
        """A new request; an estimate it replaces stops showing as busy."""
        self.latest += 1
        if self.canvas.is_busy():
            self.canvas.set_busy(False)
        return self.latest

    def is_current(self, seq: int) -> bool:
        return seq == self.latest
