"""Class-balanced binary cross-entropy for the tagger: paper section 3.2, equations 1-3.

    L(y, ŷ) = 1/C · Σ_{i=0}^{C-1} w_i(y_i) · BCE(y_i, ŷ_i)          (eq. 1)
    w_i(z)  = 1/2 · ( z / r_i + (1 - z) / (1 - r_i) )                (eq. 2)
    r_i     = √N_i / ( √N_i + √(N - N_i) )                           (eq. 3)

C classes, y ∈ {0, 1}^C the labels, ŷ ∈ [0, 1]^C the predictions, N the number of training samples and N_i
the positives of class i: inverse square-root frequency weights (the paper found plain inverse frequency
numerically unstable). The loss takes logits and computes BCE from them (the same value as BCE on
sigmoid(logits), stable under mixed precision). Over a batch, the per-sample losses of eq. 1 are averaged.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["ClassBalancedBCE", "class_balanced_bce", "class_ratios", "class_weights"]

#: r_i is clipped to [RATIO_EPS, 1 - RATIO_EPS]: a class without positives (N_i = 0) or without negatives
#: (N_i = N) in the training set would otherwise get an infinite weight for the label it never has.
RATIO_EPS = 1e-6


def class_ratios(positives, total: int) -> torch.Tensor:
    """r_i of paper eq. 3, √N_i / (√N_i + √(N - N_i)), for positives N_i out of total N samples (float64)."""
    n_i = torch.as_tensor(np.asarray(positives, dtype=np.float64))
    n = float(total)
    if n <= 0:
        raise ValueError("class ratios need at least one training sample")
    if bool((n_i < 0).any()) or bool((n_i > n).any()):
        raise ValueError("every class's positives must be between 0 and the number of samples")
    root_pos, root_neg = torch.sqrt(n_i), torch.sqrt(n - n_i)
    return (root_pos / (root_pos + root_neg)).clamp(RATIO_EPS, 1 - RATIO_EPS)


def class_weights(targets: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """w_i(y_i) of paper eq. 2, 1/2 · (y / r + (1 - y) / (1 - r)), elementwise for (..., C) targets."""
    return 0.5 * (targets / ratios + (1 - targets) / (1 - ratios))


def class_balanced_bce(logits: torch.Tensor, targets: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """Paper eq. 1 averaged over the batch: mean over samples of 1/C · Σ_i w_i(y_i) BCE(y_i, ŷ_i),
    with ŷ = sigmoid(logits); logits and targets (N, C), ratios (C,) from class_ratios (eq. 3)."""
    if logits.shape != targets.shape or logits.shape[-1] != ratios.shape[-1]:
        raise ValueError(f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and ratios "
                         f"{tuple(ratios.shape)} disagree on the classes")
    logits = logits.float()
    targets = targets.float()
    ratios = ratios.to(device=logits.device, dtype=torch.float32)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    per_sample = (class_weights(targets, ratios) * bce).mean(dim=-1)  # 1/C Σ_i (eq. 1)
    return per_sample.mean()


class ClassBalancedBCE(nn.Module):
    """Paper eq. 1-3 as a module: built from the training set's class counts, called on (logits, targets)."""

    ratios: torch.Tensor  # a buffer

    def __init__(self, positives, total: int) -> None:
        super().__init__()
        self.register_buffer("ratios", class_ratios(positives, total).float())
        self.total = int(total)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return class_balanced_bce(logits, targets, self.ratios)
