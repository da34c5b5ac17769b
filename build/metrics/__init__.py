"""Evaluation metrics: pose (pose.py: OKS@50, OKS@75, PCKh@50, PDJ@20, PCPm@50, paper section 5.1); masks
(masks.py) and tags (tags.py) are tagseg's."""
