"""Diffusion Policy (Chi et al. 2023), state-conditioned: a DDPM over actions.

Forward process (``diffusers.DDPMScheduler``, ``beta_schedule``, K = ``num_train_timesteps``)::

    a_k = sqrt(ᾱ_k) · a_0 + sqrt(1 − ᾱ_k) · eps,   eps ~ N(0, I),   k ~ U{0, …, K−1}

Denoiser eps_theta(a_k, k, s): an MLP over [a_k, emb(k), s], emb = sinusoidal features of k
through a 2-layer MLP.  Loss L = E ||eps − eps_theta(a_k, k, s)||².  ``act`` starts from
a_K ~ N(0, I) and applies the scheduler's reverse step for ``num_inference_steps`` steps with the
EMA weights (samples clipped to [−1, 1]).  The noise is one stream per policy, seeded with
``sample_seed`` when the policy is built or loaded (``reset_noise`` restarts it): an evaluation is
deterministic, and every step gets fresh noise.  (Re-seeding on every call would hand each step
the same noise vector, i.e. a constant bias of the order of the data's action noise, which is
enough to steer MetaWorld's gripper past the drawer handle: 0.0–0.15 success on expert data.)
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from orlvlmf.encoders.mlp import mlp
from orlvlmf.policy.baselines.common import StateLearner
from orlvlmf.policy.baselines.config import DiffusionConfig
from orlvlmf.policy.buffer import Batch
from orlvlmf.policy.errors import LearnerError


def timestep_features(k: torch.Tensor, dim: int) -> torch.Tensor:
    """[sin(k·f_j), cos(k·f_j)], f_j = 10000^(−j/(dim/2 − 1)), shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=k.device) / max(half - 1, 1))
    x = k.float()[:, None] * freqs[None]
    return torch.cat([x.sin(), x.cos()], -1)


class NoiseNet(nn.Module):
    """eps_theta(a_k, k, s) = MLP([a_k, MLP_t(emb(k)), s])."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], time_dim: int):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = mlp([time_dim, time_dim * 2, time_dim], "mish")
        self.net = mlp([action_dim + time_dim + obs_dim, *hidden, action_dim], "mish")

    def forward(self, noisy: torch.Tensor, k: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        t = self.time_mlp(timestep_features(k, self.time_dim))
        return self.net(torch.cat([noisy, t, obs], -1))


def make_scheduler(c: DiffusionConfig):
    from diffusers.schedulers.scheduling_ddpm import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=c.num_train_timesteps, beta_schedule=c.beta_schedule,
                         clip_sample=True, clip_sample_range=1.0, prediction_type="epsilon")


class DiffusionPolicy(StateLearner):
    """Learner ``diffusion`` (listed in :mod:`orlvlmf.policy.learners`); config :class:`DiffusionConfig`."""


    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__(cfg, obs_spec, action_dim)
        c: DiffusionConfig = self.cfg
        if c.num_train_timesteps < 2 or not 1 <= c.num_inference_steps <= c.num_train_timesteps:
            raise LearnerError("policy.num_train_timesteps must be >= 2 and policy.num_inference_steps "
                               f"in [1, num_train_timesteps]; got {c.num_train_timesteps}, "
                               f"{c.num_inference_steps}")
        if not 0.0 <= c.ema_rate < 1.0:
            raise LearnerError(f"policy.ema_rate must be in [0, 1), got {c.ema_rate}")
        self.noise_net = NoiseNet(self.obs_dim, self.action_dim, c.hidden, c.time_embed_dim)
        self.ema_net = copy.deepcopy(self.noise_net).requires_grad_(False)
        self._alphas_cumprod = make_scheduler(c).alphas_cumprod.float()
        self._sampler = None  # (device, scheduler with the inference timesteps set)
        self._noise: torch.Generator | None = None  # sampling noise stream, see reset_noise

    def reset_noise(self, seed: int | None = None) -> None:
        """Restart the sampling noise stream at ``seed`` (default ``policy.sample_seed``)."""
        self._noise = torch.Generator(device=self.device)
        self._noise.manual_seed(int(self.cfg.sample_seed if seed is None else seed))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.noise_net.parameters(), lr=self.cfg.lr,
                                 weight_decay=self.cfg.weight_decay)

    def loss(self, batch: Batch) -> torch.Tensor:
        a0 = batch.actions
        n = a0.shape[0]
        gen = self._generator if self._generator is not None and self._generator.device == a0.device \
            else None
        k = torch.randint(0, self.cfg.num_train_timesteps, (n,), device=a0.device, generator=gen)
        eps = torch.randn(a0.shape, device=a0.device, dtype=a0.dtype, generator=gen)
        abar = self._alphas_cumprod.to(a0.device)[k][:, None]
        noisy = abar.sqrt() * a0 + (1.0 - abar).sqrt() * eps
        return (self.noise_net(noisy, k, batch.obs) - eps).square().mean()

    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        (opt,) = self.current_optimizers()
        loss = self.loss(batch)
        opt.zero_grad(set_to_none=True)
        self._backward(loss)
        opt.step()
        with torch.no_grad():
            rate = self.cfg.ema_rate
            ema, cur = list(self.ema_net.parameters()), list(self.noise_net.parameters())
            if rate > 0:
                torch._foreach_lerp_(ema, cur, 1.0 - rate)
            else:
                torch._foreach_copy_(ema, cur)
        return {"loss/diffusion": loss.item()} if want_metrics else None

    @torch.no_grad()
    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reverse DDPM chain from N(0, I) conditioned on normalised ``obs`` (B, S) → (B, A)."""
        if self._sampler is None or self._sampler[0] != obs.device:
            sched = make_scheduler(self.cfg)
            sched.set_timesteps(self.cfg.num_inference_steps, device=obs.device)
            self._sampler = (obs.device, sched)
        sched = self._sampler[1]
        a = torch.randn((obs.shape[0], self.action_dim), generator=generator, device=obs.device)
        net = self.ema_net if self.cfg.ema_rate > 0 else self.noise_net
        for k in sched.timesteps:
            eps = net(a, k.expand(obs.shape[0]).to(obs.device), obs)
            a = sched.step(eps, k, a, generator=generator).prev_sample
        return a.clamp(-1.0, 1.0)

    @torch.no_grad()
    def unit_action(self, obs: Any) -> np.ndarray:
        x, single = self._obs_batch(obs)
        if self._noise is None or self._noise.device != x.device:
            self.reset_noise()
        out = self.sample(x, self._noise).cpu().numpy()
        return out[0] if single else out
