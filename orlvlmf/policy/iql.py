"""Implicit Q-Learning (Kostrikov, Nair & Levine 2021) as a LightningModule.

With target twin Q_hat = min(Q_hat_1, Q_hat_2), one update on a batch (s, a, r, m, s'),
m = 1 − terminal (timeouts keep bootstrapping), in the original code's order:

1. value, expectile regression (Eq. 3)::

       L_V(psi) = E[ L_2^tau(Q_hat(s, a) − V_psi(s)) ],   L_2^tau(u) = |tau − 1(u < 0)| · u²

2. actor, advantage-weighted regression (Eq. 5) with the *updated* V::

       L_pi(phi) = −E[ w · log pi_phi(a | s) ],   w = min(exp(beta · (Q_hat(s, a) − V_psi(s))), clip)

3. twin Q, TD regression (Eq. 4) to the updated V at s'::

       L_Q(theta) = E[ Σ_i (r + gamma · m · V_psi(s') − Q_theta_i(s, a))² ]

4. Polyak: theta_hat ← (1 − rho) · theta_hat + rho · theta.

Steps 2 and 3 only read V, so after V's own step they share one backward pass over their
disjoint parameters (actor, Q) and V(s), V(s') come from one forward of [s; s'].  Optimisers:
one Adam per net (V, Q, actor), the actor's learning rate on a cosine decay to 0.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from orlvlmf.policy import gaussian
from orlvlmf.policy.base import Learner
from orlvlmf.policy.buffer import Batch
from orlvlmf.policy.config import IQLConfig
from orlvlmf.policy.fast_linear import accelerate_linears
from orlvlmf.policy.nets import GaussianActor, TwinQ, ValueNet


def expectile_loss(u: torch.Tensor, tau: float) -> torch.Tensor:
    """mean |tau − 1(u < 0)| · u²  (u = Q − V; tau > 0.5 pushes V towards an upper expectile)."""
    weight = torch.where(u < 0, 1.0 - tau, tau)
    return (weight * u.square()).mean()


def awr_weights(adv: torch.Tensor, beta: float, clip: float) -> torch.Tensor:
    """w = min(exp(beta · A), clip)."""
    return torch.exp(beta * adv).clamp(max=clip)


def q_loss(q1: torch.Tensor, q2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean[(q1 − y)² + (q2 − y)²]."""
    return ((q1 - target).square() + (q2 - target).square()).mean()


def cosine_lr(base: float, step: int, total: int) -> float:
    """lr_t = base · (1 + cos(pi · min(t, T) / T)) / 2 (the actor's schedule)."""
    if total <= 0:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def _adam(params, lr: float) -> torch.optim.Optimizer:
    params = list(params)
    try:  # fused Adam exists for CPU and CUDA tensors in torch >= 2.4
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch / unsupported device
        return torch.optim.Adam(params, lr=lr, foreach=True)


class IQL(Learner):
    """Learner ``iql`` (listed in :mod:`orlvlmf.policy.learners`); config :class:`IQLConfig`."""


    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__(cfg, obs_spec, action_dim)
        c: IQLConfig = self.cfg
        if not 0.0 < c.expectile < 1.0:
            raise ValueError(f"policy.expectile must be in (0, 1), got {c.expectile}")
        if c.batch_size <= 0 or c.adv_clip <= 0 or not 0.0 < c.target_rate <= 1.0:
            raise ValueError("policy.batch_size and policy.adv_clip must be > 0 and "
                             "policy.target_rate in (0, 1]")
        enc, shape, key = dict(c.encoder), self.obs_shape, self.observation_key
        self.value = ValueNet(enc, shape, key, c.head_hidden)
        self.q = TwinQ(enc, shape, key, action_dim, c.head_hidden)
        self.target_q = TwinQ(enc, shape, key, action_dim, c.head_hidden)
        self.target_q.load_state_dict(self.q.state_dict())
        self.target_q.requires_grad_(False)
        self.actor = GaussianActor(enc, shape, key, action_dim, c.head_hidden, c.log_std_min, c.log_std_max)
        accelerate_linears(self)  # oneDNN matmuls for CPU float32 (see fast_linear.py)
        self._target_pairs: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    # -- optimisation ---------------------------------------------------------------------------
    def configure_optimizers(self):
        lr = self.cfg.lr
        return [_adam(self.value.parameters(), lr), _adam(self.q.parameters(), lr),
                _adam(self.actor.parameters(), lr)]

    def on_train_start(self) -> None:
        super().on_train_start()
        self._target_pairs = None  # the parameters as the Trainer placed them

    def _polyak_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self._target_pairs is None:
            self._target_pairs = (list(self.target_q.parameters()), list(self.q.parameters()))
        return self._target_pairs

    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        c: IQLConfig = self.cfg
        v_opt, q_opt, pi_opt = self.current_optimizers()
        obs, act = batch.obs, batch.actions
        n = act.shape[0]
        # 1. V: expectile regression to min of the target twin Q
        with torch.no_grad():
            tq1, tq2 = self.target_q(obs, act)
            tq = torch.minimum(tq1, tq2)
        v = self.value(obs)
        v_loss = expectile_loss(tq - v, c.expectile)
        v_opt.zero_grad(set_to_none=True)
        self._backward(v_loss)
        v_opt.step()
        # 2 + 3. actor (AWR) and twin Q (TD) against the updated V, one backward pass
        with torch.no_grad():
            v_both = self.value(torch.cat([obs, batch.next_obs], 0))
            v_new, v_next = v_both[:n], v_both[n:]
            adv = tq - v_new
            w = awr_weights(adv, c.beta, c.adv_clip)
            target = batch.rewards + c.gamma * batch.masks * v_next
        mean, log_std = self.actor(obs)
        logp = gaussian.log_prob(mean, log_std, act)
        pi_loss = -(w * logp).mean()
        q1, q2 = self.q(obs, act)
        td_loss = q_loss(q1, q2, target)
        if c.actor_cosine_decay:
            pi_opt.param_groups[0]["lr"] = cosine_lr(c.lr, self.step - 1, self.total_steps)
        pi_opt.zero_grad(set_to_none=True)
        q_opt.zero_grad(set_to_none=True)
        self._backward(pi_loss + td_loss)
        pi_opt.step()
        q_opt.step()
        # 4. Polyak averaging of the target twin Q
        with torch.no_grad():
            targets, online = self._polyak_pairs()
            torch._foreach_lerp_(targets, online, c.target_rate)
        if not want_metrics:
            return None
        return {
            "loss/value": v_loss.item(), "loss/q": td_loss.item(), "loss/actor": pi_loss.item(),
            "value/v": v_new.mean().item(), "value/q": torch.minimum(q1, q2).mean().item(),
            "value/target": target.mean().item(), "actor/adv_mean": adv.mean().item(),
            "actor/weight_clipped": (w >= c.adv_clip).float().mean().item(),
            "actor/log_std": log_std.mean().item(), "actor/lr": pi_opt.param_groups[0]["lr"],
        }

    # -- acting ---------------------------------------------------------------------------------
    @torch.no_grad()
    def unit_action(self, obs: np.ndarray | torch.Tensor) -> np.ndarray:
        """Mean action tanh(mu(o)) clipped to [-1, 1]; one observation or a batch."""
        x = torch.as_tensor(np.asarray(obs) if not torch.is_tensor(obs) else obs, device=self.device)
        single = x.dim() == len(self.obs_shape)
        if single:
            x = x.unsqueeze(0)
        if self.flat:
            x = self.normalize(x.float())
        was_training = self.actor.training
        if was_training:  # batch-norm / dropout in an encoder: act in eval mode
            self.actor.eval()
        try:
            mean, _ = self.actor(x)
        finally:
            if was_training:
                self.actor.train()
        out = mean.clamp(-1.0, 1.0).cpu().numpy()
        return out[0] if single else out

    @torch.no_grad()
    def q_and_v(self, obs: np.ndarray, unit_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """min(Q_1, Q_2)(s, a) and V(s) for a batch (actions in [-1, 1], see ``to_unit_actions``)."""
        x = torch.as_tensor(np.asarray(obs), device=self.device)
        if self.flat:
            x = self.normalize(x.float())
        a = torch.as_tensor(np.asarray(unit_actions, np.float32), device=self.device)
        modes = [(m, m.training) for m in (self.q, self.value)]
        for m, _ in modes:
            m.eval()
        try:
            q1, q2 = self.q(x, a)
            v = self.value(x)
        finally:
            for m, was in modes:
                m.train(was)
        return torch.minimum(q1, q2).reshape(-1).cpu().numpy(), v.reshape(-1).cpu().numpy()
