"""Observation normalisation of flat observations, o ← (o − mean) / (std + 1e-3).

The statistics come from the training data once (``prepare``) and live on the learner as buffers
(``obs_mean``, ``obs_std``, ``obs_stats_ready``), so checkpoints keep them and ``act`` applies them
to what the env returns.  Active when the learner's config has ``normalize_observations``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from orlvlmf.policy.buffer import TransitionBuffer


class ObservationNormalization:
    """Mixin of :class:`~orlvlmf.policy.base.Learner` (an ``nn.Module``)."""

    cfg: object

    def init_observation_normalization(self, obs_shape: Sequence[int]) -> None:
        self.flat = len(obs_shape) == 1
        width = int(obs_shape[0]) if self.flat else 0
        self.register_buffer("obs_mean", torch.zeros(width))
        self.register_buffer("obs_std", torch.ones(width))
        self.register_buffer("obs_stats_ready", torch.zeros((), dtype=torch.bool))

    def prepare(self, buffer: TransitionBuffer) -> None:
        """Fit the statistics on ``buffer`` (first time only) and normalise it in place, once."""
        if not (getattr(self.cfg, "normalize_observations", False) and self.flat and buffer.packed):
            return
        if not bool(self.obs_stats_ready):
            mean, std = buffer.observation_stats()
            self.obs_mean.copy_(mean)
            self.obs_std.copy_(std)
            self.obs_stats_ready.fill_(True)
        buffer.normalize_(self.obs_mean, self.obs_std)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations as the networks saw them in training."""
        if self.flat and bool(self.obs_stats_ready):
            return (obs - self.obs_mean) / self.obs_std
        return obs
