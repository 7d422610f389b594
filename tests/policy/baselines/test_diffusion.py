import numpy as np
import pytest
import torch

from orlvlmf.env.rollout import evaluate_policy
from orlvlmf.policy.checkpoint import load_learner
from orlvlmf.policy.errors import LearnerError
from orlvlmf.registry import REGISTRY
from tests.policy.baselines.helpers import TRAINER, cartpole_env, expert_buffer, random_return

torch.set_num_threads(1)

TINY = {"name": "diffusion", "hidden": [64, 64], "batch_size": 128, "lr": 1e-3,
        "num_train_timesteps": 20, "num_inference_steps": 20, "ema_rate": 0.9}


def test_diffusion_policy_learns_the_expert_actions_and_evaluates(tmp_path):
    env = cartpole_env()
    try:
        buf, obs = expert_buffer(env)
        torch.manual_seed(0)
        pol = REGISTRY.create("learners", "diffusion", TINY, {"state": (4,)}, 1)
        pol.fit(buf, 400, trainer=TRAINER, log_every=100)
        losses = [h["loss/diffusion"] for h in pol.history]
        assert losses[-1] < 0.5 * losses[0]
        pol.reset_noise()
        a = pol.act(obs[:64])
        assert a.shape == (64, 1) and np.all(np.abs(a) <= 1)
        # one noise stream: the next call gets fresh noise, a restarted stream repeats the samples
        assert not np.array_equal(pol.act(obs[:64]), a)
        pol.reset_noise()
        np.testing.assert_array_equal(pol.act(obs[:64]), a)
        res = evaluate_policy(pol.act, env, 2, seed=0)
        assert res.return_mean > random_return(env) + 1000
        pol.save(tmp_path / "p.ckpt")
        pol.reset_noise()
        np.testing.assert_allclose(load_learner(tmp_path / "p.ckpt").act(obs[:8]), pol.act(obs[:8]),
                                   atol=1e-5)
    finally:
        env.close()


def test_diffusion_checks_its_schedule():
    with pytest.raises(LearnerError, match="num_inference_steps"):
        REGISTRY.create("learners", "diffusion", {**TINY, "num_inference_steps": 50}, {"state": (4,)}, 1)
