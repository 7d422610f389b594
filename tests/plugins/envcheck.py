"""Shared checks every env plugin must pass."""

import numpy as np

from orlvlmf.env import make_env


def check_env(name, size=48, steps=5, observations=("state", "image"), **opts):
    env = make_env({"name": name, **opts}, observations=observations, image_size=size)
    try:
        obs, info = env.reset(seed=3)
        assert set(obs) == set(observations)
        assert obs["state"].shape == (env.state_dim,) and obs["state"].dtype == np.float32
        img = obs["image"]
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        assert img.std() > 5, "rendered image is (nearly) constant"
        assert isinstance(env.task_text, str) and env.task_text.startswith("to ")
        traj = [obs]
        rng = np.random.default_rng(0)
        acts = rng.uniform(-1, 1, size=(steps, env.action_dim))
        rewards = []
        for a in acts:
            obs, r, term, trunc, info = env.step(a)
            assert isinstance(r, float) and isinstance(info["success"], bool)
            rewards.append(r)
            traj.append(obs)
        assert not np.array_equal(traj[0]["state"], traj[-1]["state"]), "actions changed nothing"
        # determinism: same seed, same actions -> same observations and rewards
        obs2, _ = env.reset(seed=3)
        np.testing.assert_array_equal(obs2["image"], traj[0]["image"])
        for t, a in enumerate(acts):
            obs2, r2, *_ = env.step(a)
            np.testing.assert_allclose(obs2["state"], traj[t + 1]["state"], atol=1e-6)
            assert r2 == rewards[t]
        np.testing.assert_array_equal(obs2["image"], traj[-1]["image"])
        a = env.expert_action(obs2)
        assert a.shape == (env.action_dim,) and np.all(np.abs(a) <= 1)
        return env, traj
    finally:
        env.close()
