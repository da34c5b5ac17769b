"""Pose estimators: image -> list[Pose], and the chain that picks the first available one (DESIGN.md)."""
