import numpy as np
import pytest
import torch

from orlvlmf.env.rollout import evaluate_policy
from orlvlmf.policy.checkpoint import load_learner
from orlvlmf.policy.errors import LearnerError
from orlvlmf.registry import REGISTRY
from tests.policy.baselines.helpers import TRAINER, cartpole_env, expert_buffer, random_return

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def env():
    e = cartpole_env()
    yield e
    e.close()


@pytest.mark.parametrize("loss", ["gaussian", "mse"])
def test_bc_clones_the_expert_and_evaluates(env, loss, tmp_path):
    buf, obs = expert_buffer(env)
    torch.manual_seed(0)
    bc = REGISTRY.create("learners", "bc", {"name": "bc", "loss": loss, "hidden": [64, 64],
                                            "batch_size": 128, "lr": 1e-3}, {"state": (4,)}, 1)
    acts = buf.data[:, 4:5].numpy().copy()
    before = float(np.mean((bc.act(obs) - acts) ** 2))
    bc.fit(buf, 400, trainer=TRAINER, log_every=100)
    assert bc.step == 400 and len(bc.history) == 4
    after = float(np.mean((bc.act(obs) - acts) ** 2))
    assert after < 0.05 * before
    res = evaluate_policy(bc.act, env, 3, seed=0)
    # random actions score about -2400 on cartpole, the scripted expert about -40
    assert res.return_mean > random_return(env) + 1000
    bc.save(tmp_path / "bc.ckpt")
    back = load_learner(tmp_path / "bc.ckpt")
    np.testing.assert_allclose(back.act(obs[:5]), bc.act(obs[:5]), atol=1e-6)
    assert back.act(obs[0]).shape == (1,)


def test_bc_rejects_bad_config_and_image_observations():
    with pytest.raises(LearnerError, match="policy.loss"):
        REGISTRY.create("learners", "bc", {"name": "bc", "loss": "l1"}, {"state": (4,)}, 1)
    with pytest.raises(LearnerError, match="flat observations"):
        REGISTRY.create("learners", "bc", {"name": "bc", "observation": "image"},
                        {"image": (8, 8, 3)}, 1)
    with pytest.raises(LearnerError, match="unknown key"):
        REGISTRY.create("learners", "bc", {"name": "bc", "hiden": [3]}, {"state": (4,)}, 1)
