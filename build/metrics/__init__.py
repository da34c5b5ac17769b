"""Evaluation metrics: pose (OKS, PCKh, PDJ, PCPm), masks (F1, IoU), tags (per-class-threshold F1)."""
