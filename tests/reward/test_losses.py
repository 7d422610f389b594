import math

import numpy as np
import pytest
import torch

from orlvlmf.reward.losses import bradley_terry_loss, preference_correct, preference_targets


def test_bradley_terry_matches_hand_computed_eq2():
    # pair 1: R0 = 1, R1 = 0, label 0 (sigma_0 better): -log(e^1 / (e^1 + e^0))
    # pair 2: R0 = 0, R1 = 2, label 1 (sigma_1 better): -log(e^2 / (e^0 + e^2))
    ret0 = torch.tensor([1.0, 0.0])
    ret1 = torch.tensor([0.0, 2.0])
    target = torch.tensor([0.0, 1.0])
    l1 = -math.log(math.exp(1) / (math.exp(1) + math.exp(0)))
    l2 = -math.log(math.exp(2) / (math.exp(0) + math.exp(2)))
    assert bradley_terry_loss(ret0, ret1, target).item() == pytest.approx((l1 + l2) / 2, rel=1e-6)


def test_bradley_terry_matches_a_numpy_reference_with_ensemble_and_soft_targets():
    """Eq. 1-2 written out in float64 numpy on random returns (an ensemble axis, labels 0, 1 and
    tie targets 0.5) against the loss; swapping the two segments and the label gives the same loss."""
    rng = np.random.default_rng(0)
    ret0, ret1 = rng.normal(0, 3, (3, 40)), rng.normal(0, 3, (3, 40))
    y = rng.choice([0.0, 1.0, 0.5], 40)
    p1 = np.exp(ret1) / (np.exp(ret0) + np.exp(ret1))  # P[sigma_1 > sigma_0]
    ref = -(y * np.log(p1) + (1 - y) * np.log(1 - p1)).mean()
    t0, t1, ty = (torch.from_numpy(a).float() for a in (ret0, ret1, y))
    assert bradley_terry_loss(t0, t1, ty).item() == pytest.approx(ref, rel=1e-5)
    assert bradley_terry_loss(t1, t0, 1 - ty).item() == pytest.approx(ref, rel=1e-5)
    assert bradley_terry_loss(t0, t1, 1 - ty).item() != pytest.approx(ref, rel=1e-2)


def test_tie_target_half_is_log2_at_equal_returns_and_soft_elsewhere():
    r = torch.tensor([0.3, -1.0])
    assert bradley_terry_loss(r, r.clone(), torch.full((2,), 0.5)).item() == pytest.approx(math.log(2))
    # y = 0.5, R1 - R0 = 2: -(0.5 log s(2) + 0.5 log s(-2))
    s = 1 / (1 + math.exp(-2))
    expect = -(0.5 * math.log(s) + 0.5 * math.log(1 - s))
    got = bradley_terry_loss(torch.tensor([0.0]), torch.tensor([2.0]), torch.tensor([0.5])).item()
    assert got == pytest.approx(expect, rel=1e-6)


def test_ensemble_axis_is_averaged():
    ret0 = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    ret1 = torch.tensor([[0.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([0.0, 1.0])
    per = [bradley_terry_loss(ret0[k], ret1[k], target).item() for k in range(2)]
    assert bradley_terry_loss(ret0, ret1, target).item() == pytest.approx(sum(per) / 2)


def test_gradient_step_raises_preferred_probability():
    ret = torch.zeros(2, requires_grad=True)
    loss = bradley_terry_loss(ret[0:1], ret[1:2], torch.tensor([1.0]))
    loss.backward()
    assert ret.grad[1] < 0 < ret.grad[0]  # descending raises R1, lowers R0


def test_preference_targets_drop_and_half():
    labels = np.array([0, 1, -1, 1])
    keep, target = preference_targets(labels, "drop")
    assert keep.tolist() == [0, 1, 3] and target.tolist() == [0.0, 1.0, 1.0]
    assert target.dtype == np.float32
    default_keep, default_target = preference_targets(labels)  # ties are dropped by default
    assert default_keep.tolist() == keep.tolist() and default_target.tolist() == target.tolist()
    keep, target = preference_targets(labels, "half")
    assert keep.tolist() == [0, 1, 2, 3] and target.tolist() == [0.0, 1.0, 0.5, 1.0]
    assert target.dtype == np.float32
    with pytest.raises(ValueError, match="0, 1 or -1"):
        preference_targets(np.array([0, 2]))
    with pytest.raises(ValueError, match="drop' or 'half"):
        preference_targets(labels, "keep")


def test_accuracy_ignores_ties():
    pred, true = preference_correct(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([1.0, 0.0, 5.0]),
                                    torch.tensor([1.0, 1.0, 0.5]))
    assert pred.tolist() == [1, 0] and true.tolist() == [1, 1]
    # equal predicted returns do not predict sigma_1 better
    pred, _ = preference_correct(torch.tensor([2.0]), torch.tensor([2.0]), torch.tensor([1.0]))
    assert pred.tolist() == [0]
