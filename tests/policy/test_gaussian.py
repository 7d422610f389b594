"""The one diagonal Gaussian of the learners (IQL's actor, BC, GAIL) against torch.distributions."""

import torch

from orlvlmf.policy import gaussian


def test_gaussian_log_prob_matches_torch_distributions():
    mean = torch.tensor([[0.1, -0.4], [0.9, 0.0]])
    log_std = torch.tensor([-0.5, 0.3])
    act = torch.tensor([[0.0, 0.2], [-1.0, 1.0]])
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(act).sum(-1)
    assert torch.allclose(gaussian.log_prob(mean, log_std, act), ref, atol=1e-6)


def test_gaussian_entropy_matches_torch_distributions():
    log_std = torch.tensor([[-0.5, 0.3, 1.2]])
    ref = torch.distributions.Normal(torch.zeros(1, 3), log_std.exp()).entropy().sum(-1)
    assert torch.allclose(gaussian.entropy(log_std), ref, atol=1e-6)
