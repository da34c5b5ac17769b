"""The paper's losses: pixel-wise heatmap BCE (section 3.1), matcher MSE (section 3.1, feature matching) and
the tagger's class-balanced BCE (eq. 1-3, class_balanced.py, tagseg's)."""

from posefinder.build.losses.heatmap import heatmap_bce
from posefinder.build.losses.matching import matcher_mse

__all__ = ["heatmap_bce", "matcher_mse"]

try:  # tagseg's module; re-exported once it is part of this installation
    from posefinder.build.losses.class_balanced import *  # noqa: F401,F403
    from posefinder.build.losses import class_balanced as _cb

    __all__ += list(getattr(_cb, "__all__", []))
except ModuleNotFoundError as _exc:  # pragma: no cover - only while class_balanced.py is absent
    if _exc.name != "posefinder.build.losses.class_balanced":
        raise
