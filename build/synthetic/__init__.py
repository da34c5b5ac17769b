"""Synthetic figures: mannequin-like characters drawn from a kinematic pose model, with exact 25 keypoints
and masks, on varied backgrounds. Used by tests, the demo library and training (rendered on the fly).

    fig = render_figure(seed, size=(256, 256))   # fig.image, fig.foreground, fig.mask, fig.pose
    for fig in figures(100, seed=0): ...

Modules: kinematics (joint angles, limits, proportions, forward kinematics), poses (templates, random poses,
sample_pose), prior (poses lifted from ADD annotations), body (3D parts and keypoints), style (colours,
clothes), camera (views, projection), shapes (2D shapes, OpenCV drawing), visibility (hidden keypoints),
backgrounds, figure (render_figure, figures).
"""

from posefinder.build.synthetic.camera import View
from posefinder.build.synthetic.figure import SyntheticFigure, figure_rng, figures, render_figure
from posefinder.build.synthetic.kinematics import ANGLE_NAMES, LIMITS_DEG, BodyPose, Proportions
from posefinder.build.synthetic.poses import TEMPLATES, sample_pose

__all__ = [
    "ANGLE_NAMES",
    "LIMITS_DEG",
    "TEMPLATES",
    "BodyPose",
    "Proportions",
    "SyntheticFigure",
    "View",
    "figure_rng",
    "figures",
    "render_figure",
    "sample_pose",
]
