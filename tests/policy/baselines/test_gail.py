import numpy as np
import pytest
import torch

from orlvlmf.env.rollout import evaluate_policy
from orlvlmf.policy.baselines.gail import gae
from orlvlmf.policy.checkpoint import load_learner
from orlvlmf.policy.errors import LearnerError
from orlvlmf.registry import REGISTRY
from tests.policy.baselines.helpers import TRAINER, cartpole_env, expert_buffer, random_return

torch.set_num_threads(1)

CFG = {"name": "gail", "rollout_steps": 500, "minibatch_size": 125,
       "batch_size": 125, "ppo_epochs": 5}


def test_gae_by_hand():
    r = np.array([1.0, 1.0, 1.0]); v = np.array([0.5, 0.5, 0.5]); nv = np.array([0.5, 0.5, 2.0])
    term = np.array([0.0, 1.0, 0.0]); ends = np.array([0.0, 1.0, 0.0])
    adv = gae(r, v, nv, term, ends, gamma=0.9, lam=0.5)
    d = [1 + 0.9 * 0.5 - 0.5, 1 - 0.5, 1 + 0.9 * 2.0 - 0.5]
    np.testing.assert_allclose(adv, [d[0] + 0.45 * d[1], d[1], d[2]])


def test_gail_interacts_with_the_env_and_imitates(tmp_path):
    env = cartpole_env()
    try:
        buf, obs = expert_buffer(env)
        torch.manual_seed(0)
        gail = REGISTRY.create("learners", "gail", CFG, {"state": (4,)}, 1)
        gail.fit(buf, 30, trainer=TRAINER, log_every=5, env_factory=cartpole_env)
        rows = gail.history
        assert gail.step == 30 and all("gail/env_return" in h for h in rows)
        assert rows[-1]["gail/env_return"] > rows[0]["gail/env_return"]
        assert rows[-1]["disc/acc_data"] > 0.5
        res = evaluate_policy(gail.act, env, 3, seed=0)
        assert res.return_mean > random_return(env) + 1000
        gail.save(tmp_path / "g.ckpt")
        np.testing.assert_allclose(load_learner(tmp_path / "g.ckpt").act(obs[:8]), gail.act(obs[:8]),
                                   atol=1e-6)
    finally:
        env.close()


def test_gail_without_env_says_how_to_set_it():
    env = cartpole_env()
    buf, _ = expert_buffer(env, episodes=1)
    env.close()
    gail = REGISTRY.create("learners", "gail", CFG, {"state": (4,)}, 1)
    with pytest.raises(LearnerError, match="interacts with the env: fit needs an env_factory"):
        gail.fit(buf, 1, trainer=TRAINER)
