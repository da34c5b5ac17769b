"""The paper's pose losses: masked pixel-wise heatmap BCE and the matcher MSE."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from posefinder.build import losses  # noqa: E402


def test_heatmap_bce_ignores_absent_keypoints():
    torch.manual_seed(0)
    logits = torch.randn(2, 25, 8, 8)
    targets = torch.rand(2, 25, 8, 8)
    weights = torch.ones(2, 25)
    weights[0, 3] = 0
    full = losses.heatmap_bce(logits, targets)
    assert full == pytest.approx(F.binary_cross_entropy_with_logits(logits, targets).item())
    masked = losses.heatmap_bce(logits, targets, weights)
    changed = logits.clone()
    changed[0, 3] = 50.0  # an absent keypoint's map may be anything
    assert losses.heatmap_bce(changed, targets, weights) == pytest.approx(masked.item())
    keep = weights.bool()
    expect = F.binary_cross_entropy_with_logits(logits[keep], targets[keep])
    assert masked == pytest.approx(expect.item(), rel=1e-6)


def test_heatmap_bce_without_present_keypoints_is_zero_with_gradient():
    logits = torch.zeros(1, 25, 4, 4, requires_grad=True)
    loss = losses.heatmap_bce(logits, torch.zeros(1, 25, 4, 4), torch.zeros(1, 25))
    loss.backward()
    assert loss.item() == 0 and logits.grad is not None


def test_heatmap_bce_in_mixed_precision_is_float32():
    logits = torch.randn(1, 25, 4, 4, dtype=torch.bfloat16)
    loss = losses.heatmap_bce(logits, torch.rand(1, 25, 4, 4), torch.ones(1, 25))
    assert loss.dtype == torch.float32


def test_matcher_mse_targets_are_fixed():
    matched = torch.randn(2, 16, 7, 7, requires_grad=True)
    target = torch.randn(2, 16, 7, 7, requires_grad=True)
    loss = losses.matcher_mse(matched, target)
    assert loss.item() == pytest.approx(((matched - target) ** 2).mean().item())
    loss.backward()
    assert matched.grad is not None and target.grad is None
    with pytest.raises(ValueError, match="differ in shape"):
        losses.matcher_mse(matched, torch.randn(2, 8, 7, 7))
