"""Bradley-Terry preference loss (the paper's Eq. 1-2).

With segment returns R_i = sum_{t=1..H} r_psi(s_{i,t}) of a pair (sigma_0, sigma_1):

    P[sigma_1 > sigma_0] = exp(R_1) / (exp(R_0) + exp(R_1)) = sigmoid(R_1 - R_0)        (1)
    L = -E[ 1{y=0} log P[sigma_0 > sigma_1] + 1{y=1} log P[sigma_1 > sigma_0] ]          (2)

i.e. binary cross-entropy of ``R_1 - R_0`` against the target ``y`` (label 0: sigma_0 preferred,
1: sigma_1 preferred).  Ties (label -1) are dropped, or with ``ties="half"`` trained as y = 0.5.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TIE = -1


def preference_targets(labels: np.ndarray, ties: str = "drop") -> tuple[np.ndarray, np.ndarray]:
    """(kept pair positions, float targets P[sigma_1 > sigma_0]) for labels in {0, 1, -1}."""
    labels = np.asarray(labels)
    bad = ~np.isin(labels, (0, 1, TIE))
    if bad.any():
        raise ValueError(f"preference labels must be 0, 1 or -1; found {sorted(set(labels[bad].tolist()))[:5]}")
    if ties == "drop":
        keep = np.flatnonzero(labels != TIE)
        return keep, labels[keep].astype(np.float32)
    if ties == "half":
        return np.arange(len(labels)), np.where(labels == TIE, 0.5, labels).astype(np.float32)
    raise ValueError(f"reward.ties must be 'drop' or 'half', got '{ties}'")


def bradley_terry_loss(ret0: torch.Tensor, ret1: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of Eq. 2 over pairs (and any leading ensemble axis); ``target`` = P[sigma_1 > sigma_0]."""
    logits = ret1 - ret0
    return F.binary_cross_entropy_with_logits(logits, target.expand_as(logits).to(logits.dtype))


def preference_correct(ret0: torch.Tensor, ret1: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted label, true label) on the non-tied pairs, for accuracy metrics."""
    decided = target != 0.5
    return (ret1 > ret0)[decided].long(), target[decided].long()
