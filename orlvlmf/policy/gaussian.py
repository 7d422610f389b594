"""The diagonal Gaussian over actions used by IQL's actor, BC and GAIL's PPO::

    log N(a | mu, diag(sigma²)) = sum_j [ -(a_j - mu_j)² / (2 sigma_j²) - log sigma_j - log(2 pi) / 2 ]
    H[N(mu, diag(sigma²))]      = sum_j [ log sigma_j + 1/2 + log(2 pi) / 2 ]
"""

from __future__ import annotations

import math

import torch

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log_prob(mean: torch.Tensor, log_std: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Log-density of ``act`` summed over the action dims, (B,)."""
    z = (act - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std).sum(-1) - HALF_LOG_2PI * act.shape[-1]


def entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy summed over the action dims (the last axis)."""
    return (log_std + 0.5 + HALF_LOG_2PI).sum(-1)
