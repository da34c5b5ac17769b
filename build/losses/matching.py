"""Matcher MSE (paper section 3.1, feature matching): the matcher's predicted task features against the
frozen task source's (Keypoint R-CNN keypoint-head) features of the same crop."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def matcher_mse(matched: torch.Tensor, task_features: torch.Tensor) -> torch.Tensor:
    """Feature-wise mean squared error between the matcher's output and the task source's features
    (paper section 3.1: "we found that feature-wise mean-squared error is suitable").

    matched: (N, C, S, S) from FeatureMatchingPose.forward_train(x)["matched"]; task_features: the task
    source's `keypoint_features` of x, the same shape, a fixed target (no gradient flows into it).
    """
    if matched.shape != task_features.shape:
        raise ValueError(
            f"matcher output {tuple(matched.shape)} and task features {tuple(task_features.shape)} differ in "
            "shape: build the matcher with the task source's channels and size"
        )
    return F.mse_loss(matched.float(), task_features.detach().float())
