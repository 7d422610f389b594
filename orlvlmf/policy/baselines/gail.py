"""GAIL (Ho & Ermon 2016): adversarial imitation, the policy trained by our own PPO in the env.

Why our own: the maintained route, ``imitation`` (1.0.1, the latest) with stable-baselines3, pins
``gymnasium~=0.29`` and ``stable-baselines3~=2.2.1``, while metaworld 3.1.1 needs gymnasium >= 1.0,
so the two cannot share an environment.  Our own PPO also keeps the learner inside the shared
contract (one LightningModule, ``fit`` / ``act`` / ``save``, resumable checkpoints).

One learner step (``update``), with the dataset batch handed in by :class:`Learner`:

1. rollout: ``rollout_steps`` env steps with a ~ N(mu(s), σ²) (the env gets a clipped to [−1, 1]);
2. discriminator, logit l(s, a) (dataset = 1, policy = 0), ``disc_epochs`` passes::

       L_D = −E_data[log sigmoid(l)] − E_pi[log(1 − sigmoid(l))]  (+ λ · E_data ||∇_x l||²)

3. reward of each policy transition r = −log(1 − D(s, a)) = softplus(l(s, a));
4. advantages by GAE: δ_t = r_t + γ (1 − term_t) V(s_{t+1}) − V(s_t),
   A_t = δ_t + γλ (1 − end_t) A_{t+1}; a time-limit truncation bootstraps V of its last state;
5. ``ppo_epochs`` passes of PPO-clip over minibatches::

       L = −E[min(ρ Â, clip(ρ, 1 ± ε) Â)] + c_v E[(V − R)²] − c_e H[π],  ρ = π(a|s) / π_old(a|s)

   with Â the per-rollout standardised advantage and R = A + V_old.

The env comes from the ``env_factory`` given to ``fit`` (the train stage builds the run's env) on
the first update; episode k is reset with seed ``env_seed + k``.  ``act`` returns
clip(mu(s), −1, 1).  The discriminator reads (s, a) with s normalised by the dataset statistics.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orlvlmf.encoders.mlp import mlp
from orlvlmf.policy import gaussian
from orlvlmf.policy.baselines.common import StateLearner
from orlvlmf.policy.baselines.config import GAILConfig
from orlvlmf.policy.buffer import Batch
from orlvlmf.policy.errors import LearnerError

def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminal: np.ndarray,
        ends: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates over one rollout (T,) (``ends``: episode boundary after t)."""
    adv = np.zeros(len(rewards), np.float64)
    last = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        delta = rewards[t] + gamma * (1.0 - terminal[t]) * next_values[t] - values[t]
        last = delta + gamma * lam * (1.0 - ends[t]) * last
        adv[t] = last
    return adv


class GAIL(StateLearner):
    """Learner ``gail`` (listed in :mod:`orlvlmf.policy.learners`); config :class:`GAILConfig`."""


    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__(cfg, obs_spec, action_dim)
        c: GAILConfig = self.cfg
        if c.rollout_steps <= 0 or c.minibatch_size <= 0 or c.ppo_epochs <= 0 or c.disc_epochs <= 0:
            raise LearnerError("policy.rollout_steps, minibatch_size, ppo_epochs and disc_epochs must be > 0")
        s, a = self.obs_dim, self.action_dim
        self.actor = mlp([s, *c.hidden, a], "tanh")
        self.log_std = nn.Parameter(torch.full((a,), float(c.init_log_std)))
        self.critic = mlp([s, *c.hidden, 1], "tanh")
        self.disc = mlp([s + a, *c.disc_hidden, 1], "tanh")
        self._env = None
        self._obs: np.ndarray | None = None
        self._episodes = 0
        self._ep_return = 0.0
        self._finished_returns: list[float] = []

    # -- optimisers, env ------------------------------------------------------------------------
    def configure_optimizers(self):
        c: GAILConfig = self.cfg
        pi_params = list(self.actor.parameters()) + list(self.critic.parameters()) + [self.log_std]
        return [torch.optim.Adam(pi_params, lr=c.lr, eps=1e-5),
                torch.optim.Adam(self.disc.parameters(), lr=c.disc_lr)]

    def _make_env(self):
        env = self.env_factory()
        if env.action_dim != self.action_dim or int(env.state_dim) != self.obs_dim and \
                self.observation_key == "state":
            env.close()
            raise LearnerError(f"the env '{env.env_id}' has action_dim {env.action_dim} and state_dim "
                               f"{env.state_dim}, but the dataset has {self.action_dim} and "
                               f"{self.obs_dim}: train on a dataset of the run's env")
        return env

    def _reset(self) -> np.ndarray:
        obs, _ = self._env.reset(seed=int(self.cfg.env_seed) + self._episodes)
        self._episodes += 1
        self._ep_return = 0.0
        return np.asarray(obs[self.observation_key], np.float32)

    def close_env(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env, self._obs = None, None

    def on_train_end(self) -> None:
        self.close_env()

    # -- policy ---------------------------------------------------------------------------------
    def dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(x), self.log_std.clamp(-5.0, 2.0).expand(x.shape[0], -1)

    def disc_logit(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.disc(torch.cat([x, a], -1)).squeeze(-1)

    # -- one GAIL iteration ---------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self) -> dict[str, torch.Tensor]:
        """``rollout_steps`` env steps with the current stochastic policy (normalised states)."""
        c: GAILConfig = self.cfg
        if self._env is None:
            self._env = self._make_env()
            self._obs = None
        if self._obs is None:
            self._obs = self._reset()
        dev = self.device
        xs, acts, logps, terms, ends = [], [], [], [], []
        next_x = []
        for _ in range(c.rollout_steps):
            x = self.normalize(torch.as_tensor(self._obs, device=dev)[None])
            mean, log_std = self.dist(x)
            a = mean + torch.exp(log_std) * torch.randn(mean.shape, device=dev,
                                                        generator=self._rollout_gen())
            logp = gaussian.log_prob(mean, log_std, a)
            obs2, r_gt, terminated, truncated, _ = self._env.step(a[0].clamp(-1, 1).cpu().numpy())
            self._ep_return += float(r_gt)
            obs2 = np.asarray(obs2[self.observation_key], np.float32)
            xs.append(x[0]), acts.append(a[0]), logps.append(logp[0])
            next_x.append(self.normalize(torch.as_tensor(obs2, device=dev)[None])[0])
            terms.append(float(terminated))
            end = bool(terminated or truncated)
            ends.append(float(end))
            if end:
                self._finished_returns.append(self._ep_return)
                self._obs = self._reset()
            else:
                self._obs = obs2
        f = lambda v: torch.tensor(v, dtype=torch.float32, device=dev)  # noqa: E731
        return {"x": torch.stack(xs), "a": torch.stack(acts), "logp": torch.stack(logps),
                "next_x": torch.stack(next_x), "terminal": f(terms), "end": f(ends)}

    def _rollout_gen(self) -> torch.Generator | None:
        gen = self._generator
        return gen if gen is not None and gen.device == self.device else None

    def update_discriminator(self, roll: dict[str, torch.Tensor], first: Batch) -> dict[str, float]:
        c: GAILConfig = self.cfg
        (_, d_opt) = self.current_optimizers()
        n = roll["x"].shape[0]
        pol_a = roll["a"].clamp(-1.0, 1.0)
        losses, acc_e, acc_p = [], [], []
        for epoch in range(c.disc_epochs):
            perm = torch.randperm(n, device=self.device, generator=self._rollout_gen())
            for j, start in enumerate(range(0, n, c.batch_size)):
                idx = perm[start:start + c.batch_size]
                exp = first if (epoch == 0 and j == 0) else self.buffer.sample(c.batch_size, self._generator)
                xe = exp.obs.detach().clone().requires_grad_(c.grad_penalty > 0)
                le = self.disc_logit(xe, exp.actions)
                lp = self.disc_logit(roll["x"][idx], pol_a[idx])
                loss = F.binary_cross_entropy_with_logits(le, torch.ones_like(le)) + \
                    F.binary_cross_entropy_with_logits(lp, torch.zeros_like(lp))
                if c.grad_penalty > 0:
                    (g,) = torch.autograd.grad(le.sum(), xe, create_graph=True)
                    loss = loss + c.grad_penalty * g.square().sum(-1).mean()
                d_opt.zero_grad(set_to_none=True)
                self._backward(loss)
                d_opt.step()
                losses.append(loss.item())
                acc_e.append((le > 0).float().mean().item())
                acc_p.append((lp < 0).float().mean().item())
        return {"disc/loss": float(np.mean(losses)), "disc/acc_data": float(np.mean(acc_e)),
                "disc/acc_policy": float(np.mean(acc_p))}

    def update_policy(self, roll: dict[str, torch.Tensor]) -> dict[str, float]:
        c: GAILConfig = self.cfg
        (pi_opt, _) = self.current_optimizers()
        with torch.no_grad():
            reward = F.softplus(self.disc_logit(roll["x"], roll["a"].clamp(-1.0, 1.0)))
            values = self.critic(roll["x"]).squeeze(-1)
            next_values = self.critic(roll["next_x"]).squeeze(-1)
            # next_x is the state after each step: a truncation (terminal 0) bootstraps V of it
            adv = torch.as_tensor(gae(*(t.double().cpu().numpy() for t in (
                reward, values, next_values, roll["terminal"], roll["end"])), c.gamma, c.gae_lambda),
                dtype=torch.float32, device=self.device)
            returns = adv + values
            adv_n = (adv - adv.mean()) / (adv.std() + 1e-8)
        n = roll["x"].shape[0]
        stats = {"pi": [], "v": [], "ent": [], "clipfrac": []}
        for _ in range(c.ppo_epochs):
            perm = torch.randperm(n, device=self.device, generator=self._rollout_gen())
            for start in range(0, n, c.minibatch_size):
                idx = perm[start:start + c.minibatch_size]
                mean, log_std = self.dist(roll["x"][idx])
                logp = gaussian.log_prob(mean, log_std, roll["a"][idx])
                ratio = torch.exp(logp - roll["logp"][idx])
                a_hat = adv_n[idx]
                pi_loss = -torch.minimum(ratio * a_hat,
                                         ratio.clamp(1 - c.clip_ratio, 1 + c.clip_ratio) * a_hat).mean()
                v_loss = (self.critic(roll["x"][idx]).squeeze(-1) - returns[idx]).square().mean()
                entropy = gaussian.entropy(log_std).mean()
                loss = pi_loss + c.value_coef * v_loss - c.entropy_coef * entropy
                pi_opt.zero_grad(set_to_none=True)
                self._backward(loss)
                params = [p for g in pi_opt.param_groups for p in g["params"]]
                nn.utils.clip_grad_norm_(params, c.max_grad_norm)
                pi_opt.step()
                stats["pi"].append(pi_loss.item()), stats["v"].append(v_loss.item())
                stats["ent"].append(entropy.item())
                stats["clipfrac"].append(((ratio - 1).abs() > c.clip_ratio).float().mean().item())
        return {"ppo/pi_loss": float(np.mean(stats["pi"])), "ppo/value_loss": float(np.mean(stats["v"])),
                "ppo/entropy": float(np.mean(stats["ent"])), "ppo/clipfrac": float(np.mean(stats["clipfrac"])),
                "gail/reward_mean": reward.mean().item()}

    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        roll = self.rollout()
        metrics = self.update_discriminator(roll, batch)
        metrics.update(self.update_policy(roll))
        if not want_metrics:
            return None
        if self._finished_returns:
            metrics["gail/env_return"] = float(np.mean(self._finished_returns))
            self._finished_returns = []
        return metrics

    @torch.no_grad()
    def unit_action(self, obs: Any) -> np.ndarray:
        x, single = self._obs_batch(obs)
        out = self.actor(x).clamp(-1.0, 1.0).cpu().numpy()
        return out[0] if single else out
