"""What the baseline learners share: flat observations, normalisation, batched ``act``."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from orlvlmf.policy.base import Learner
from orlvlmf.policy.errors import LearnerError


class StateLearner(Learner):
    """A learner over flat observations with o ← (o − mean) / (std + 1e-3) from the dataset."""

    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__(cfg, obs_spec, action_dim)
        if len(self.obs_shape) != 1:
            raise LearnerError(
                f"learner '{self.registry_name}' reads flat observations, but '{self.observation_key}' "
                f"has shape {self.obs_shape}; set policy.observation: state")
        if int(getattr(self.cfg, "batch_size", 1)) <= 0:
            raise LearnerError(f"policy.batch_size must be > 0, got {self.cfg.batch_size}")
        self.obs_dim = self.obs_shape[0]

    def _obs_batch(self, obs: Any) -> tuple[torch.Tensor, bool]:
        """(normalised (B, S) float tensor, whether one observation was given)."""
        x = torch.as_tensor(np.asarray(obs) if not torch.is_tensor(obs) else obs, device=self.device)
        single = x.dim() == 1
        if single:
            x = x.unsqueeze(0)
        if x.shape[-1] != self.obs_dim:
            raise LearnerError(f"act() got observations of width {x.shape[-1]}, the policy was built "
                               f"for {self.obs_dim}")
        return self.normalize(x.float()), single
