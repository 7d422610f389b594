"""Transitions held as tensors in memory and sampled with one ``torch.randint`` + gather.

No DataLoader, no per-sample collate: a batch is ``index_select`` on tensors already in memory
(on the learner's device).  For flat float observations (states) everything is packed in one
``(N, 2S + A + 2)`` tensor ``[o | a | r | mask | o']`` so a batch is a single gather and the fields
are views of it.  Other observations (images, point clouds) keep their frames ``(N + E, ...)``
once and gather rows ``row(i)`` and ``row(i) + 1``.

``mask = 1 − terminal``: timeouts keep bootstrapping, terminals cut it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class BufferError(ValueError):
    """Arrays handed to the buffer do not fit together."""


@dataclass
class Batch:
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor  # (B,)
    masks: torch.Tensor  # (B,) 1 − terminal
    next_obs: torch.Tensor


class TransitionBuffer:
    """Offline transitions ``(o, a, r, mask, o')`` ready to be sampled on one device."""

    def __init__(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                 terminals: np.ndarray, next_obs: np.ndarray | None = None,
                 frame_rows: np.ndarray | None = None):
        """Either ``next_obs`` (N, ...) aligned with ``obs`` (N, ...), or ``obs`` as frames
        (N + E, ...) with ``frame_rows`` (N,) giving the row of ``o_i`` (``o'_i`` is the next row)."""
        actions = np.asarray(actions, np.float32)
        n = len(actions)
        if actions.ndim != 2 or n == 0:
            raise BufferError(f"actions must be a non-empty (N, A) array, got shape {actions.shape}")
        rewards = np.asarray(rewards, np.float32).reshape(-1)
        terminals = np.asarray(terminals).reshape(-1)
        if len(rewards) != n or len(terminals) != n:
            raise BufferError(f"rewards ({len(rewards)}) and terminals ({len(terminals)}) must have one "
                              f"entry per transition ({n} actions): is rewards.npz from this dataset?")
        if not np.all(np.isfinite(rewards)):
            raise BufferError("rewards contain NaN or inf; relabel again or check reward_scale")
        if (next_obs is None) == (frame_rows is None):
            raise BufferError("give either next_obs or frame_rows")
        self.num_transitions = n
        self.normalization: tuple[torch.Tensor, torch.Tensor] | None = None  # (mean, std) once applied
        self.action_dim = actions.shape[1]
        masks = 1.0 - terminals.astype(np.float32)
        self.obs_shape = tuple(obs.shape[1:])
        self.packed = next_obs is not None and obs.ndim == 2 and np.issubdtype(obs.dtype, np.floating)
        if next_obs is not None and (len(obs) != n or next_obs.shape != obs.shape):
            raise BufferError(f"obs {obs.shape} and next_obs {next_obs.shape} must both be (N={n}, ...)")
        if self.packed:
            s = obs.shape[1]
            self._slices = (slice(0, s), slice(s, s + self.action_dim), s + self.action_dim,
                            s + self.action_dim + 1, slice(s + self.action_dim + 2, None))
            self.data = torch.from_numpy(np.concatenate(
                [obs.astype(np.float32), actions, rewards[:, None], masks[:, None],
                 next_obs.astype(np.float32)], axis=1))
        else:
            if frame_rows is None:  # aligned current/next arrays: store them as interleaved frames
                frames = np.stack([obs, next_obs], axis=1).reshape(2 * n, *obs.shape[1:])
                frame_rows = np.arange(n, dtype=np.int64) * 2
            else:
                frames = obs
                frame_rows = np.asarray(frame_rows, np.int64)
                if len(frame_rows) != n or frame_rows.min() < 0 or frame_rows.max() + 1 >= len(frames):
                    raise BufferError("frame_rows must hold one row per transition, inside the frames")
            self.frames = torch.from_numpy(np.ascontiguousarray(frames))
            self.rows = torch.from_numpy(frame_rows)
            self.data = torch.from_numpy(np.concatenate([actions, rewards[:, None], masks[:, None]], 1))

    # -- device ---------------------------------------------------------------------------------
    def to(self, device: torch.device | str) -> "TransitionBuffer":
        self.data = self.data.to(device)
        if not self.packed:
            self.frames = self.frames.to(device)
            self.rows = self.rows.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.data.device

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        idx = torch.randint(self.num_transitions, (batch_size,), generator=generator,
                            device=self.device)
        return self.gather(idx)

    def gather(self, idx: torch.Tensor) -> Batch:
        rows = self.data.index_select(0, idx)
        if self.packed:
            o, a, r, m, o2 = self._slices
            return Batch(rows[:, o], rows[:, a], rows[:, r], rows[:, m], rows[:, o2])
        a_dim = self.action_dim
        fr = self.rows.index_select(0, idx)
        return Batch(self.frames.index_select(0, fr), rows[:, :a_dim], rows[:, a_dim],
                     rows[:, a_dim + 1], self.frames.index_select(0, fr + 1))

    # -- statistics -----------------------------------------------------------------------------
    def observation_stats(self, eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std (+eps) of flat observations over the dataset (IQL's normalisation)."""
        if not self.packed:
            raise BufferError("observation statistics are defined for flat (state) observations only")
        obs = self.data[:, self._slices[0]].double()
        return obs.mean(0).float(), (obs.std(0, unbiased=False) + eps).float()

    def normalize_(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Normalise the stored observations in place once, so sampling costs nothing more."""
        if self.normalization is not None:
            if all(torch.equal(a, b.to(a)) for a, b in zip(self.normalization, (mean, std))):
                return
            raise BufferError("this buffer is already normalised with other statistics; build a new "
                              "buffer for each learner")
        self.normalization = (mean.detach().clone(), std.detach().clone())
        o, _, _, _, o2 = self._slices
        mean, std = mean.to(self.data), std.to(self.data)
        self.data[:, o] = (self.data[:, o] - mean) / std
        self.data[:, o2] = (self.data[:, o2] - mean) / std


def buffer_from_dataset(ds: Any, key: str, rewards: np.ndarray, actions: np.ndarray | None = None,
                        transitions: np.ndarray | None = None) -> TransitionBuffer:
    """A buffer over ``ds`` (an :class:`~orlvlmf.data.dataset.OfflineDataset`) observation ``key``.

    ``actions``: (N, A) replacing the dataset's (e.g. scaled to [-1, 1]); ``transitions``: the
    indices to keep (default all; ``rewards`` and ``actions`` are indexed with them too).
    """
    ds.require([key])
    actions = ds.actions if actions is None else actions
    keep = np.arange(ds.num_transitions) if transitions is None else np.asarray(transitions, np.int64)
    if len(ds.observation_shape(key)) == 1:
        return TransitionBuffer(ds.load_all(key)[keep].astype(np.float32), actions[keep], rewards[keep],
                                ds.terminals[keep],
                                next_obs=ds.load_all(key, next=True)[keep].astype(np.float32))
    frames = np.concatenate([ds.episode_frames(key, e) for e in range(ds.num_episodes)], axis=0)
    rows = np.arange(ds.num_transitions) + ds.episode_index
    return TransitionBuffer(frames, actions[keep], rewards[keep], ds.terminals[keep], frame_rows=rows[keep])
