"""Collectors: roll an env out with a policy of a given quality and record episodes.

Qualities (per episode ``e``, with its own seeded RNG so a dataset is reproducible):

* ``random``  — a_t ~ U(-1, 1)^A every step;
* ``expert``  — the env's scripted expert with slight Gaussian action noise,
  a_t = clip(expert(s_t) + N(0, 0.1²), -1, 1) (with fixed object positions a noiseless expert
  would repeat one trajectory in every episode);
* ``medium``  — a per-episode mixture: with probability 1/2 the expert with Gaussian action noise
  a_t = clip(expert(s_t) + N(0, σ_e²), -1, 1), σ_e ~ U(0.5, 1.0); otherwise uniformly random.
  Its GT return/success lies between random and expert (measured in the collect summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

QUALITIES = ("random", "medium", "expert")
MEDIUM_EXPERT_FRACTION = 0.5
MEDIUM_NOISE = (0.5, 1.0)
EXPERT_NOISE = 0.1

DESCRIPTIONS = {
    "random": "uniform random actions in [-1, 1]",
    "expert": f"the env's scripted expert plus Gaussian action noise, std {EXPERT_NOISE}",
    "medium": (f"per episode: with p={MEDIUM_EXPERT_FRACTION} the scripted expert plus Gaussian "
               f"action noise, std ~ U{MEDIUM_NOISE}; otherwise uniform random actions"),
}


@dataclass
class Episode:
    observations: dict
    actions: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    reward: np.ndarray
    success: np.ndarray
    policy: str

    def writer_args(self) -> dict:
        return {"observations": self.observations, "actions": self.actions,
                "terminals": self.terminals, "timeouts": self.timeouts,
                "reward": self.reward, "success": self.success}


def episode_policy(env, quality: str, rng: np.random.Generator) -> tuple[Callable, str]:
    """The action function of one episode and a short label of what it is."""
    if quality not in QUALITIES:
        raise ValueError(f"dataset.quality must be one of {list(QUALITIES)}, got '{quality}'")
    A = env.action_dim
    if quality == "random":
        return (lambda obs: rng.uniform(-1.0, 1.0, size=A)), "random"
    def noisy_expert(sigma: float) -> Callable:
        def act(obs):
            return np.clip(env.expert_action(obs) + rng.normal(0.0, sigma, size=A), -1.0, 1.0)

        return act

    if quality == "expert":
        return noisy_expert(EXPERT_NOISE), "expert"
    if rng.random() < MEDIUM_EXPERT_FRACTION:
        sigma = float(rng.uniform(*MEDIUM_NOISE))
        return noisy_expert(sigma), f"expert+noise({sigma:.2f})"
    return (lambda obs: rng.uniform(-1.0, 1.0, size=A)), "random"


def episode_seeds(seed: int, episodes: int) -> list[tuple[int, int]]:
    """(env reset seed, policy seed) of each episode, derived from one dataset seed."""
    children = np.random.SeedSequence(seed).spawn(episodes)
    return [tuple(int(x) for x in c.generate_state(2) % (2**31 - 1)) for c in children]


def rollout(env, policy: Callable, reset_seed: int, label: str = "") -> Episode:
    """One episode of ``env.horizon`` steps (or until the env terminates)."""
    obs, _ = env.reset(seed=reset_seed)
    frames = {k: [v] for k, v in obs.items()}
    actions, rewards, success, terms, touts = [], [], [], [], []
    for _ in range(env.horizon):
        a = np.asarray(policy(obs), dtype=np.float32).reshape(-1)
        obs, r, terminated, truncated, info = env.step(a)
        for k, v in obs.items():
            frames[k].append(v)
        actions.append(a)
        rewards.append(r)
        success.append(bool(info.get("success", False)))
        terms.append(bool(terminated))
        touts.append(bool(truncated) and not terminated)
        if terminated or truncated:
            break
    if not (terms[-1] or touts[-1]):
        touts[-1] = True
    return Episode({k: np.stack(v) for k, v in frames.items()}, np.stack(actions),
                   np.array(terms), np.array(touts), np.array(rewards, np.float32),
                   np.array(success), label)


def episode(env, quality: str, reset_seed: int, policy_seed: int) -> Episode:
    """One episode of the given quality from its two seeds (see :func:`episode_seeds`)."""
    policy, label = episode_policy(env, quality, np.random.default_rng(policy_seed))
    return rollout(env, policy, reset_seed, label)


def collect(env, quality: str, episodes: int, seed: int) -> Iterator[Episode]:
    """Yield ``episodes`` episodes of the given quality; same seed → same episodes."""
    for reset_seed, policy_seed in episode_seeds(seed, episodes):
        yield episode(env, quality, reset_seed, policy_seed)


# -- several processes ----------------------------------------------------------------------------
_WORKER_ENV = None


def _init_worker(env_node: dict, make_kwargs: dict) -> None:
    global _WORKER_ENV
    from orlvlmf.env import make_env

    _WORKER_ENV = make_env(env_node, **make_kwargs)


def _worker_episode(job: tuple[str, int, int]) -> Episode:
    return episode(_WORKER_ENV, *job)


def collect_parallel(env_node: dict, make_kwargs: dict, quality: str, episodes: int, seed: int,
                     workers: int) -> Iterator[Episode]:
    """:func:`collect` with episodes rolled out in ``workers`` spawned processes.

    Each worker builds its own env; episodes come back in order and from the same seeds, so the
    dataset is identical to a serial collect.
    """
    import multiprocessing as mp

    jobs = [(quality, r, p) for r, p in episode_seeds(seed, episodes)]
    with mp.get_context("spawn").Pool(workers, _init_worker, (env_node, make_kwargs)) as pool:
        yield from pool.imap(_worker_episode, jobs, chunksize=1)
