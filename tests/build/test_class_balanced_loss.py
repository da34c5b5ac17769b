"""Class-balanced BCE (paper eq. 1-3) against a hand-computed example."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from posefinder.build.losses.class_balanced import ClassBalancedBCE, class_balanced_bce, class_ratios, class_weights  # noqa: E402


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_ratios_weights_and_loss_match_a_hand_computed_example():
    # N = 100 training images; class 0 has N_0 = 4 positives, class 1 has N_1 = 25.
    # eq. 3: r_0 = √4 / (√4 + √96) = 2 / (2 + 9.797959) = 0.1695208
    #        r_1 = √25 / (√25 + √75) = 5 / (5 + 8.660254) = 0.3660254
    ratios = class_ratios([4, 25], 100)
    assert ratios.tolist() == pytest.approx([0.1695208, 0.3660254], abs=1e-7)
    # eq. 2: w_0(1) = 1/(2 r_0) = (2 + √96)/4 = 2.9494897;  w_1(0) = 1/(2 (1 - r_1)) = 0.7886751
    #        w_0(0) = 1/(2 (1 - r_0)) = 0.6020621;           w_1(1) = 1/(2 r_1) = (5 + √75)/10 = 1.3660254
    weights = class_weights(torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), ratios)
    assert weights.flatten().tolist() == pytest.approx([2.9494897, 0.7886751, 0.6020621, 1.3660254], abs=1e-6)
    # sample a: y = (1, 0), ŷ = (0.8, 0.3): BCE = (-ln 0.8, -ln 0.7) = (0.2231436, 0.3566749)
    #   eq. 1: L_a = 1/2 (2.9494897 * 0.2231436 + 0.7886751 * 0.3566749) = 1/2 (0.6581596 + 0.2813007) = 0.4697301
    # sample b: y = (0, 1), ŷ = (0.1, 0.6): BCE = (-ln 0.9, -ln 0.6) = (0.1053605, 0.5108256)
    #   eq. 1: L_b = 1/2 (0.6020621 * 0.1053605 + 1.3660254 * 0.5108256) = 1/2 (0.0634335 + 0.6978008) = 0.3806172
    logits = torch.tensor([[_logit(0.8), _logit(0.3)], [_logit(0.1), _logit(0.6)]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(class_balanced_bce(logits[:1], targets[:1], ratios)) == pytest.approx(0.4697301, abs=1e-5)
    assert float(class_balanced_bce(logits[1:], targets[1:], ratios)) == pytest.approx(0.3806172, abs=1e-5)
    # a batch averages the samples' losses
    loss = ClassBalancedBCE([4, 25], 100)
    assert float(loss(logits, targets)) == pytest.approx((0.4697301 + 0.3806172) / 2, abs=1e-5)


def test_a_balanced_class_weighs_like_plain_bce_and_rare_positives_weigh_more():
    # N_i = N/2: r = 1/2, w = 1 for both labels, so eq. 1 is the plain mean BCE
    logits, targets = torch.randn(8, 3), (torch.rand(8, 3) > 0.5).float()
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert float(class_balanced_bce(logits, targets, class_ratios([50, 50, 50], 100))) == pytest.approx(float(plain), rel=1e-6)
    rare = class_ratios([1, 99], 100)
    w = class_weights(torch.tensor([1.0, 1.0]), rare.float())
    assert w[0] > 1 > w[1]  # a rare class's positives weigh more than a common class's


def test_classes_without_positives_stay_finite_and_gradients_flow():
    ratios = class_ratios([0, 10, 10], 10)  # one class never positive, one always
    logits = torch.zeros(2, 3, requires_grad=True)
    loss = class_balanced_bce(logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), ratios)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="between 0 and the number"):
        class_ratios([11], 10)
    with pytest.raises(ValueError, match="disagree"):
        class_balanced_bce(torch.zeros(2, 3), torch.zeros(2, 2), ratios)
