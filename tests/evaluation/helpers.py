"""An independent rollout loop (no orlvlmf.evaluation code) to check what the stages report."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def replay_returns(ckpt: Path, env_name: str, seeds: list[int]) -> list[tuple[float, bool, int]]:
    """(GT return, success at any step, steps) of the saved policy's mean action, one per seed."""
    from orlvlmf.env import make_env
    from orlvlmf.policy.checkpoint import load_learner

    learner = load_learner(ckpt)
    key = learner.observation_key
    env = make_env(env_name, observations=(key,))
    out = []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            total, success, steps, done = 0.0, False, 0, False
            while not done:
                obs, r, term, trunc, info = env.step(np.asarray(learner.act(obs[key]), np.float32))
                total, steps = total + float(r), steps + 1
                success = success or bool(info.get("success", False))
                done = term or trunc
            out.append((total, success, steps))
    finally:
        env.close()
    return out
