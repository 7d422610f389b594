"""How the data's observations and actions are put to the networks.

* Observations (flat ones): o ← (o − mean) / (std + 1e-3), statistics from the training data once
  (``prepare``), active when the learner's config has ``normalize_observations``.
* Actions: the nets always work in [-1, 1].  Data whose actions lie elsewhere is trained on
  a_unit = (a − c) / h (c = (high + low) / 2, h = (high − low) / 2 per dimension, h = 1 where
  high = low; ``set_action_bounds``, ``to_unit_actions``), and ``act`` answers c + h · a_unit in
  the data's units.

Both live on the learner as buffers (``obs_mean``, ``obs_std``, ``obs_stats_ready``,
``action_center``, ``action_half_range``), so checkpoints keep them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from orlvlmf.policy.buffer import TransitionBuffer
from orlvlmf.policy.errors import LearnerError


#: action-unit buffers and their identity values (checkpoints written before them load as identity)
IDENTITY_ACTIONS = {"action_center": 0.0, "action_half_range": 1.0}


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


class ActionUnits:
    """Mixin of :class:`~orlvlmf.policy.base.Learner`: the data's action units <-> [-1, 1]."""

    action_dim: int

    def init_action_units(self) -> None:
        for name, value in IDENTITY_ACTIONS.items():  # identity until set_action_bounds
            self.register_buffer(name, torch.full((self.action_dim,), value))

    def set_action_bounds(self, low: Sequence[float], high: Sequence[float]) -> None:
        """Per-dimension [low, high] of the data's actions: training uses them scaled to [-1, 1]."""
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if low.shape != (self.action_dim,) or high.shape != (self.action_dim,) or np.any(high < low):
            raise LearnerError(f"action bounds must be two ({self.action_dim},) vectors with "
                               f"low <= high, got {low.tolist()} and {high.tolist()}")
        half = (high - low) / 2
        self.action_center.copy_(torch.as_tensor((high + low) / 2))
        self.action_half_range.copy_(torch.as_tensor(np.where(half > 0, half, 1.0)))

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c, h = self.action_center.cpu().numpy(), self.action_half_range.cpu().numpy()
        return c - h, c + h

    def to_unit_actions(self, actions: np.ndarray) -> np.ndarray:
        """a_unit = (a − c) / h: the data's actions as the nets see them."""
        c, h = self.action_center.cpu().numpy(), self.action_half_range.cpu().numpy()
        return ((np.asarray(actions, np.float32) - c) / h).astype(np.float32)

    def to_data_actions(self, unit: Any) -> np.ndarray:
        """c + h · a_unit: the nets' actions in the data's units."""
        c, h = self.action_center.cpu().numpy(), self.action_half_range.cpu().numpy()
        if np.all(c == 0) and np.all(h == 1):
            return unit
        return (c + h * unit).astype(np.float32)


def with_action_units(state_dict: dict, action_dim: int) -> dict:
    """``state_dict`` with identity action units added when it predates them."""
    missing = {k: torch.full((action_dim,), v) for k, v in IDENTITY_ACTIONS.items() if k not in state_dict}
    return {**state_dict, **missing}


def dataset_action_bounds(metadata: dict, action_dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """[low, high] to scale the data's actions from, or None when they lie within [-1, 1].

    ``action_min`` / ``action_max`` of the dataset's metadata; a declared action space
    (``action_space_low`` / ``action_space_high``) widens them.
    """
    lo, hi = metadata.get("action_min"), metadata.get("action_max")
    if lo is None or hi is None:
        return None
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if np.all(lo >= -1.0 - 1e-6) and np.all(hi <= 1.0 + 1e-6):
        return None
    space_lo, space_hi = metadata.get("action_space_low"), metadata.get("action_space_high")
    if space_lo is not None and space_hi is not None and len(space_lo) == action_dim:
        lo, hi = np.minimum(lo, space_lo), np.maximum(hi, space_hi)
    return lo, hi
