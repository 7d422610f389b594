"""Expert cartpole transitions for the baseline tests (the env plugin's scripted expert)."""

from __future__ import annotations

import numpy as np

TRAINER = {"accelerator": "cpu", "devices": 1}


def cartpole_env():
    from orlvlmf.env import make_env

    return make_env({"name": "cartpole"}, observations=("state",))


def expert_buffer(env, episodes: int = 10, seed: int = 100):
    """(buffer, obs) from ``episodes`` expert episodes of ``env``."""
    from orlvlmf.policy.buffer import TransitionBuffer

    obs, acts, nxt, terms = [], [], [], []
    for ep in range(episodes):
        o, _ = env.reset(seed=seed + ep)
        o = o["state"]
        while True:
            a = env.expert_action({"state": o})
            o2, _, te, tr, _ = env.step(a)
            obs.append(o), acts.append(a), nxt.append(o2["state"]), terms.append(te)
            o = o2["state"]
            if te or tr:
                break
    obs = np.asarray(obs, np.float32)
    return TransitionBuffer(obs, np.asarray(acts, np.float32), np.zeros(len(acts)), np.asarray(terms),
                            next_obs=np.asarray(nxt, np.float32)), obs


def random_return(env, episodes: int = 3) -> float:
    from orlvlmf.env.rollout import evaluate_policy

    rng = np.random.default_rng(0)
    return evaluate_policy(lambda o: rng.uniform(-1, 1, env.action_dim), env, episodes, seed=0).return_mean
