import numpy as np

from orlvlmf.env import make_env
from orlvlmf.env.check import check_env


def test_cartpole_contract():
    check_env("cartpole", image_size=40, steps=10).raise_if_failed()


def test_cartpole_spec_reward_and_clamps():
    env = make_env("cartpole", observations=("state",))
    assert env.horizon == 100 and env.task_text == \
        "to balance the brown pole on the black cart to be upright"
    env.reset(seed=0)
    total = 0.0
    for _ in range(100):
        obs, r, term, trunc, info = env.step([1.0])
        assert not term
        total += r
        x, _, th, _ = obs["state"]
        assert abs(np.rad2deg(th)) <= 30 + 1e-4 and abs(x) <= 1.92 + 1e-6
        assert r == -abs(np.rad2deg(np.float64(env.s[2])))
    assert trunc and total < -2000  # pushing one way: pole lies at the 30° clamp


def test_cartpole_expert_balances_random_does_not():
    env = make_env("cartpole", observations=("state",))
    returns = {}
    for pol in ("random", "expert"):
        rets = []
        for s in range(3):
            obs, _ = env.reset(seed=s)
            rng = np.random.default_rng(s)
            R = 0.0
            for _ in range(100):
                a = rng.uniform(-1, 1, 1) if pol == "random" else env.expert_action(obs)
                obs, r, *_ = env.step(a)
                R += r
            rets.append(R)
        returns[pol] = np.mean(rets)
    assert returns["expert"] > -150 and returns["random"] < -1000


def test_cartpole_image_shows_the_pole_angle():
    env = make_env("cartpole", observations=("image",), image_size=64)
    env.reset(seed=0)
    env.s[:] = [0.0, 0.0, 0.0, 0.0]
    upright = env.render()
    env.s[:] = [0.5, 0.0, np.deg2rad(30), 0.0]
    leaning = env.render()
    brown = np.array([202, 152, 101])
    def pole_cols(img):
        mask = np.abs(img.astype(int) - brown).sum(-1) < 60
        return np.nonzero(mask)[1].mean()
    assert pole_cols(leaning) > pole_cols(upright) + 3  # leans right in the image
    env.s[:] = [-0.5, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(env.render(), upright)  # cart kept at the centre
