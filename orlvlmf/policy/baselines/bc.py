"""Behaviour cloning: an MLP policy fit to the dataset's actions (rewards unused).

Policy mean mu(s) = tanh(f(s)) ∈ (−1, 1)^A.

* ``gaussian``: L = −E[log N(a | mu(s), diag(σ²))] (:mod:`orlvlmf.policy.gaussian`),
  σ = exp(clip(log σ, min, max)) state-independent;
* ``mse``:      L = E[||mu(s) − a||²].

``act`` returns mu(s) clipped to [−1, 1].
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from orlvlmf.encoders.mlp import mlp
from orlvlmf.policy import gaussian
from orlvlmf.policy.baselines.common import StateLearner
from orlvlmf.policy.baselines.config import BC_LOSSES, BCConfig
from orlvlmf.policy.buffer import Batch
from orlvlmf.policy.errors import LearnerError

class BC(StateLearner):
    """Learner ``bc`` (listed in :mod:`orlvlmf.policy.learners`); config :class:`BCConfig`."""


    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__(cfg, obs_spec, action_dim)
        c: BCConfig = self.cfg
        if c.loss not in BC_LOSSES:
            raise LearnerError(f"policy.loss must be one of {', '.join(BC_LOSSES)}, got '{c.loss}'")
        self.net = mlp([self.obs_dim, *c.hidden, self.action_dim])
        self.log_std = nn.Parameter(torch.zeros(self.action_dim))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c: BCConfig = self.cfg
        return torch.tanh(self.net(obs)), self.log_std.clamp(c.log_std_min, c.log_std_max)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, mse of the mean action)."""
        mean, log_std = self(batch.obs)
        mse = (mean - batch.actions).square().sum(-1).mean()
        if self.cfg.loss == "mse":
            return mse, mse
        return -gaussian.log_prob(mean, log_std, batch.actions).mean(), mse

    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        (opt,) = self.current_optimizers()
        loss, mse = self.loss(batch)
        opt.zero_grad(set_to_none=True)
        self._backward(loss)
        opt.step()
        if not want_metrics:
            return None
        return {"loss/bc": loss.item(), "bc/action_mse": mse.item(),
                "bc/log_std": self.log_std.mean().item()}

    @torch.no_grad()
    def unit_action(self, obs: Any) -> np.ndarray:
        x, single = self._obs_batch(obs)
        mean, _ = self(x)
        out = mean.clamp(-1.0, 1.0).cpu().numpy()
        return out[0] if single else out
