"""Qt-free pose editing: what the canvas does to a skeleton, as plain numpy."""
