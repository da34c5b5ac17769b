"""Training losses of the paper: class-balanced BCE (eq. 1-3), pixel-wise heatmap BCE, matcher MSE."""
