"""IQL over registry encoders other than the state MLP: images (resnet) and point clouds (pointnet2)."""

import numpy as np
import pytest
import torch

from orlvlmf.policy.buffer import TransitionBuffer
from orlvlmf.registry import REGISTRY

torch.set_num_threads(1)

CASES = {
    "image": ({"name": "resnet", "model": "resnet10t", "random_shift": 0}, (32, 32, 3), np.uint8),
    "point_cloud": ({"name": "pointnet2", "num_points": 64, "npoints": [16, 8], "radii": [0.3, 0.6],
                     "nsamples": [8, 8], "mlps": [[16, 16], [16, 32]], "global_mlp": [32]},
                    (64, 3), np.float32),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_iql_trains_and_acts_on_non_state_observations(kind):
    encoder, shape, dtype = CASES[kind]
    rng = np.random.default_rng(0)
    n, e = 12, 2  # two episodes of 6 transitions: 14 frames
    frames = (rng.integers(0, 255, (n + e, *shape)) if dtype == np.uint8
              else rng.normal(size=(n + e, *shape))).astype(dtype)
    rows = np.arange(n) + np.repeat([0, 1], 6)
    buf = TransitionBuffer(frames, rng.uniform(-1, 1, (n, 2)), rng.normal(size=n), np.zeros(n, bool),
                           frame_rows=rows)
    torch.manual_seed(0)
    learner = REGISTRY.create("learners", "iql", {"name": "iql", "observation": kind, "encoder": encoder,
                                                  "head_hidden": [16], "batch_size": 4},
                              {kind: shape, "state": (5,)}, 2)
    before = {k: v.clone() for k, v in learner.state_dict().items()}
    learner.fit(buf, 2, log_every=1)
    assert learner.history[-1]["step"] == 2 and np.isfinite(learner.history[-1]["loss/q"])
    changed = [k for k, v in learner.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("value.net.encoder") for k in changed)
    assert any(k.startswith("actor.net.head") for k in changed)
    act = learner.act(frames[0])
    assert act.shape == (2,) and np.all(np.abs(act) <= 1)


def test_state_encoder_on_images_is_a_clear_error():
    with pytest.raises(ValueError, match="flat state vectors"):
        REGISTRY.create("learners", "iql", {"name": "iql", "observation": "image"},
                        {"image": (8, 8, 3)}, 1)
