import math

import pytest
import torch

from orlvlmf.policy.iql import awr_weights, cosine_lr, expectile_loss, q_loss


def test_expectile_loss_hand_values():
    u = torch.tensor([2.0, -1.0, 0.5, -3.0])
    # |tau - 1(u<0)| u^2 with tau = 0.7: 0.7*4, 0.3*1, 0.7*0.25, 0.3*9
    expected = (0.7 * 4 + 0.3 * 1 + 0.7 * 0.25 + 0.3 * 9) / 4
    assert expectile_loss(u, 0.7).item() == pytest.approx(expected)
    # tau = 0.5 is half the mean squared error
    assert expectile_loss(u, 0.5).item() == pytest.approx(0.5 * (u ** 2).mean().item())


def test_expectile_minimiser_is_upper_expectile():
    # minimising over a constant v gives the tau-expectile: above the mean for tau > 0.5
    x = torch.tensor([0.0, 0.0, 0.0, 1.0])
    v = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([v], lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        expectile_loss(x - v, 0.9).backward()
        opt.step()
    # expectile e solves 0.9 * (1 - e) = 0.1 * 3e  ->  e = 0.9 / 1.2 = 0.75
    assert v.item() == pytest.approx(0.75, abs=1e-4)


def test_awr_weights_and_clip():
    adv = torch.tensor([0.0, 0.5, -1.0, 2.0])
    w = awr_weights(adv, beta=3.0, clip=100.0)
    assert w.tolist() == pytest.approx([1.0, math.exp(1.5), math.exp(-3.0), 100.0])  # exp(6)=403 > 100
    assert awr_weights(adv, beta=1.0, clip=5.0)[3].item() == pytest.approx(5.0)


def test_q_loss_hand_value():
    q1, q2, y = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]), torch.tensor([1.0, 1.0])
    assert q_loss(q1, q2, y).item() == pytest.approx(((0 + 1) + (1 + 9)) / 2)


def test_cosine_lr():
    assert cosine_lr(3e-4, 0, 100) == pytest.approx(3e-4)
    assert cosine_lr(3e-4, 50, 100) == pytest.approx(1.5e-4)
    assert cosine_lr(3e-4, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert cosine_lr(3e-4, 150, 100) == pytest.approx(0.0, abs=1e-12)
