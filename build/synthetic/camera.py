"""The view of a synthetic figure: a random camera direction and a perspective projection to screen space.

Camera coordinates: x to the image's right, y down, z away from the camera. A view is the character's turn
about the vertical (yaw 0 faces the camera, 90 faces the image's right), the camera's height (pitch > 0:
above, looking down), a tilt of the picture (roll) and the camera distance in figure heights (small = strong
perspective). Screen space is (x, y) after the perspective divide and z (depth), in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posefinder.build.synthetic.geometry import rot_x, rot_y, rot_z

#: Body frame (x left, y up, z forward) -> camera frame of a figure facing the camera.
_FACING_CAMERA = np.diag([1.0, -1.0, -1.0])


@dataclass
class View:
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    distance: float = 6.0  # camera distance, in figure heights

    def rotation(self) -> np.ndarray:
        """3x3 rotation from the body frame to camera coordinates."""
        return rot_z(self.roll_deg) @ rot_x(self.pitch_deg) @ _FACING_CAMERA @ rot_y(self.yaw_deg)

    def as_dict(self) -> dict:
        return {"yaw": round(self.yaw_deg, 2), "pitch": round(self.pitch_deg, 2), "roll": round(self.roll_deg, 2),
                "distance": round(self.distance, 3)}  # fmt: skip


#: How often a figure is seen from the front (three-quarter views included), in profile and from behind.
#: Fitted to illustrations: in ADD's 1,500 hand-labelled Danbooru characters (../shared/data/add), 92.5% show
#: their shoulders and hips in front-view order, 3.5% nearly in line (profiles), 4% in back-view order;
#: these weights give 89%, 4.8% and 6.2% (1,000 figures; tests/build/test_synthetic.py measures both).
VIEW_WEIGHTS = {"front": 0.87, "profile": 0.10, "back": 0.03}
#: Turn of a profile view (either way); past 90 degrees the far side shows.
PROFILE_YAW_DEG = (60.0, 100.0)


def sample_view(rng: np.random.Generator, kind: str = "random") -> View:
    """A camera for a pose kind: mostly front and three-quarter views, some profiles and backs (VIEW_WEIGHTS);
    lying figures are seen from above as often as from the side."""
    u = rng.random()
    if u < VIEW_WEIGHTS["front"]:
        yaw = rng.normal(0.0, 32.0)
    elif u < VIEW_WEIGHTS["front"] + VIEW_WEIGHTS["profile"]:
        yaw = rng.choice([-1.0, 1.0]) * rng.uniform(*PROFILE_YAW_DEG)
    else:
        yaw = rng.uniform(130.0, 230.0)
    if kind == "lying":
        pitch = rng.uniform(0.0, 70.0)
    else:
        pitch = float(np.clip(rng.normal(4.0, 12.0), -30.0, 45.0))
    roll = rng.normal(0.0, 4.0) if rng.random() < 0.8 else rng.normal(0.0, 15.0)
    return View(float(yaw), float(pitch), float(roll), float(rng.uniform(2.2, 10.0)))


class Projector:
    """Perspective projection of body-frame points around `center` seen from a view."""

    def __init__(self, view: View, center: np.ndarray):
        self.view = view
        self.R = view.rotation()
        self.center = np.asarray(center, dtype=np.float64)
        self.D = float(view.distance)

    def camera(self, pts: np.ndarray) -> np.ndarray:
        """(N, 3) camera coordinates (origin at the figure's centre)."""
        return (np.asarray(pts, dtype=np.float64).reshape(-1, 3) - self.center) @ self.R.T

    def screen(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((N, 3) screen points x, y, z; (N,) local scale D / (D + z)) of body-frame points."""
        c = self.camera(pts)
        k = self.D / np.maximum(self.D + c[:, 2], 1e-3)
        out = c.copy()
        out[:, 0] *= k
        out[:, 1] *= k
        return out, k

    def toward_camera(self, direction: np.ndarray) -> float:
        """How much a body-frame direction points at the camera (1 straight at it, -1 away)."""
        return float(-(self.R @ np.asarray(direction, dtype=np.float64))[2])
