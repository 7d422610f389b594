"""Render the example frames in this folder: per env, an expert episode at 224 px.

    python docs/envs/render_examples.py

Writes ``<env>.png``: frames at the start, 1/4, 1/2 and the end of a scripted-expert episode,
side by side, plus ``<env>_random.png``: the same times of a uniformly random episode, and
``metaworld_auto.png``: the start of ten generic ``metaworld`` tasks through their ``auto`` camera.
``python docs/envs/render_examples.py metaworld`` writes only the last.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

HERE = Path(__file__).resolve().parent


def strip(name: str, policy: str, size: int = 224, seed: int = 0) -> np.ndarray:
    from orlvlmf.env import make_env

    env = make_env(name, observations=("image",), image_size=size)
    rng = np.random.default_rng(seed)
    try:
        obs, _ = env.reset(seed=seed)
        marks = {0, env.horizon // 4, env.horizon // 2, env.horizon}
        frames = [obs["image"]]
        for t in range(1, env.horizon + 1):
            a = env.expert_action(obs) if policy == "expert" else rng.uniform(-1, 1, env.action_dim)
            obs, *_ = env.step(a)
            if t in marks:
                frames.append(obs["image"])
        return np.concatenate(frames, axis=1)
    finally:
        env.close()


AUTO_TASKS = ("door-open-v3", "drawer-close-v3", "button-press-topdown-v3", "push-v3", "pick-place-v3",
              "window-open-v3", "hammer-v3", "basketball-v3", "peg-insert-side-v3", "faucet-open-v3")


def auto_grid(size: int = 160) -> np.ndarray:
    """The first frame of each of AUTO_TASKS (``metaworld`` env, ``auto`` camera), 2 rows of 5."""
    from orlvlmf.env import make_env

    frames = []
    for task in AUTO_TASKS:
        env = make_env({"name": "metaworld", "task": task}, observations=("image",), image_size=size)
        try:
            frames.append(env.reset(seed=0)[0]["image"])
        finally:
            env.close()
    return np.concatenate([np.concatenate(frames[:5], axis=1), np.concatenate(frames[5:], axis=1)])


def main() -> None:
    from PIL import Image

    Image.fromarray(auto_grid()).save(HERE / "metaworld_auto.png", optimize=True)
    print("wrote", HERE / "metaworld_auto.png")
    if sys.argv[1:] == ["metaworld"]:
        return
    for name in ("cartpole", "drawer-open", "soccer", "rope"):
        for policy in ("expert", "random"):
            img = strip(name, policy)
            suffix = "" if policy == "expert" else "_random"
            Image.fromarray(img).save(HERE / f"{name}{suffix}.png", optimize=True)
            print("wrote", HERE / f"{name}{suffix}.png")


if __name__ == "__main__":
    main()
