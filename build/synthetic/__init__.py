"""Synthetic figures: mannequin-like characters drawn from a kinematic pose model, with exact 25 keypoints
and masks, on varied backgrounds. Used by tests, the demo library and training (rendered on the fly).

    fig = render_figure(seed, size=(256, 256))   # fig.image, fig.foreground, fig.mask, fig.pose
    for fig in figures(100, seed=0): ...
    prior = PosePrior.from_file("../shared/data/add/train.json")    # optional: poses people draw
    fig = render_figure(seed, prior=prior)        # half the poses lifted from the prior

Modules: kinematics (joint angles, limits, proportions, forward and inverse kinematics), poses (templates,
random poses, sample_pose), prior (2D poses, e.g. ADD's, lifted to joint angles and views), body (3D parts
and keypoints), style (colours, clothes, hair), camera (views, projection), shapes (2D shapes, OpenCV
drawing), head (the ray-cast head and hair), visibility (hidden keypoints), backgrounds, figure
(render_figure, figures).
"""

import hashlib
from pathlib import Path

from posefinder.build.synthetic.camera import View
from posefinder.build.synthetic.figure import SyntheticFigure, figure_rng, figures, render_figure
from posefinder.build.synthetic.kinematics import ANGLE_NAMES, LIMITS_DEG, BodyPose, Proportions
from posefinder.build.synthetic.poses import TEMPLATES, sample_pose
from posefinder.build.synthetic.prior import PosePrior
from posefinder.build.synthetic.style import STYLES, RenderStyle



def generator_fingerprint() -> str:
    """A digest of the generator's source: it changes whenever the figures it draws may change (the demo
    library rebuilds when it does)."""
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


__all__ = [
    "ANGLE_NAMES",
    "LIMITS_DEG",
    "PosePrior",
    "RenderStyle",
    "STYLES",
    "TEMPLATES",
    "BodyPose",
    "Proportions",
    "SyntheticFigure",
    "View",
    "figure_rng",
    "figures",
    "generator_fingerprint",
    "render_figure",
    "sample_pose",
]
