"""The paper's losses: pixel-wise heatmap BCE (section 3.1), matcher MSE (section 3.1, feature matching) and
the tagger's class-balanced BCE (eq. 1-3, class_balanced.py)."""

from posefinder.build.losses.class_balanced import ClassBalancedBCE, class_balanced_bce, class_ratios, class_weights
from posefinder.build.losses.heatmap import heatmap_bce
from posefinder.build.losses.matching import matcher_mse

__all__ = ["ClassBalancedBCE", "class_balanced_bce", "class_ratios", "class_weights", "heatmap_bce", "matcher_mse"]
