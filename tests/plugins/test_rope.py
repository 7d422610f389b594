import numpy as np
import pytest

from orlvlmf.env.check import check_env
from orlvlmf.env import EnvError, make_env


def test_rope_contract():
    check_env("rope", image_size=48, steps=3).raise_if_failed()  # state, image, point_cloud


def test_rope_reward_success_and_point_cloud():
    env = make_env({"name": "rope", "point_cloud_points": 100, "point_cloud_noise": 0.001},
                   observations=("state", "point_cloud"), horizon=40)
    try:
        L = env.cfg.length
        obs, _ = env.reset(seed=0)
        assert env.end_distance() < 0.6 * L  # crumpled start
        assert obs["point_cloud"].shape == (100, 3) and obs["state"].shape == (123,)
        for _ in range(env.horizon):
            obs, r, term, trunc, info = env.step(env.expert_action())
        assert r == pytest.approx(min(env.end_distance(), 1.1 * L))
        assert info["success"] == (env.end_distance() >= 0.95 * L)
        assert info["success"], "the scripted expert straightens the rope within 40 steps"
        # segment lengths stay ~L/segments: the cable neither stretches nor breaks
        v = obs["state"].reshape(-1, 3)
        seg = np.linalg.norm(np.diff(v, axis=0), axis=1)
        np.testing.assert_allclose(seg, L / env.cfg.segments, rtol=0.1)
    finally:
        env.close()


def test_rope_random_starts_differ_and_repeat():
    env = make_env("rope", observations=("state",))
    try:
        a = env.reset(seed=0)[0]["state"]
        b = env.reset(seed=1)[0]["state"]
        c = env.reset(seed=0)[0]["state"]
        assert np.abs(a - b).max() > 0.01
        np.testing.assert_array_equal(a, c)
    finally:
        env.close()


def test_rope_bad_options():
    with pytest.raises(EnvError, match="segments"):
        make_env({"name": "rope", "segments": 2}, observations=("state",))
    env = make_env({"name": "rope", "point_cloud_points": 5}, observations=("point_cloud",))
    with pytest.raises(EnvError, match="point_cloud_points"):
        env.reset(seed=0)
    env.close()
