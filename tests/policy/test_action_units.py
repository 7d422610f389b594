"""Actions outside [-1, 1]: learners train on them scaled and act in the data's units."""

import numpy as np
import pytest
import torch

from orlvlmf.data.dataset import DatasetWriter, OfflineDataset
from orlvlmf.policy.buffer import buffer_from_dataset
from orlvlmf.policy.checkpoint import load_learner
from orlvlmf.policy.errors import LearnerError
from orlvlmf.policy.normalization import dataset_action_bounds
from orlvlmf.policy.offline import holdout_split, offline_diagnostics
from orlvlmf.registry import REGISTRY

BC = {"name": "bc", "hidden": [64, 64], "batch_size": 64, "lr": 3e-3}


def _bc(action_dim=2):
    return REGISTRY.create("learners", "bc", BC, {"state": (2,)}, action_dim)


def test_bounds_map_both_ways_and_travel_with_the_checkpoint(tmp_path):
    learner = _bc()
    obs = np.zeros((3, 2), np.float32)
    np.testing.assert_array_equal(learner.act(obs), learner.unit_action(obs))  # identity by default
    learner.set_action_bounds([-2.0, 0.0], [2.0, 10.0])
    np.testing.assert_allclose(learner.to_unit_actions(np.array([[2.0, 10.0], [-2.0, 0.0], [0, 5]])),
                               [[1, 1], [-1, -1], [0, 0]])
    np.testing.assert_allclose(learner.act(obs), learner.unit_action(obs) * [2, 5] + [0, 5], rtol=1e-6)
    loaded = load_learner(learner.save(tmp_path / "p.ckpt"))
    np.testing.assert_allclose(loaded.action_bounds, ([-2, 0], [2, 10]))
    np.testing.assert_allclose(loaded.act(obs), learner.act(obs), rtol=1e-6)
    # a checkpoint written before the bounds existed loads as identity
    state = torch.load(tmp_path / "p.ckpt", weights_only=False)
    for k in ("action_center", "action_half_range"):
        del state["state_dict"][k]
    torch.save(state, tmp_path / "old.ckpt")
    np.testing.assert_allclose(load_learner(tmp_path / "old.ckpt").action_bounds, ([-1, -1], [1, 1]))
    with pytest.raises(LearnerError, match="low <= high"):
        learner.set_action_bounds([1.0, 0.0], [0.0, 1.0])
    learner.set_action_bounds([3.0, 0.0], [3.0, 1.0])  # a constant dimension keeps its value
    np.testing.assert_allclose(learner.act(obs)[:, 0], 3.0 + learner.unit_action(obs)[:, 0])


def test_action_bounds_from_metadata():
    assert dataset_action_bounds({"action_min": [-1, -0.5], "action_max": [1, 0.2]}, 2) is None
    lo, hi = dataset_action_bounds({"action_min": [-3, 0], "action_max": [3, 0.5]}, 2)
    np.testing.assert_array_equal(lo, [-3, 0]) and np.testing.assert_array_equal(hi, [3, 0.5])
    lo, hi = dataset_action_bounds({"action_min": [-1.5, 0], "action_max": [1.5, 0.5],
                            "action_space_low": [-2, -1], "action_space_high": [2, 1]}, 2)
    np.testing.assert_array_equal(lo, [-2, -1]) and np.testing.assert_array_equal(hi, [2, 1])


def test_bc_learns_actions_beyond_one_and_is_judged_on_held_out_episodes(tmp_path):
    """a = 3·tanh(s): a learner in unit space that acts in the data's units reaches |a| > 1; the
    held-out action error beats answering the mean action."""
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "d.h5") as w:
        for _ in range(10):
            s = rng.normal(size=(41, 2)).astype(np.float32)
            w.add_episode({"state": s}, 3 * np.tanh(s[:-1]))
    ds = OfflineDataset.open(tmp_path / "d.h5")
    bounds = dataset_action_bounds(ds.metadata, ds.action_dim)
    assert bounds is not None and bounds[1].max() > 2
    learner = _bc()
    learner.set_action_bounds(*bounds)
    train_idx, held_idx = holdout_split(ds, 0.2, seed=0)
    assert len(np.unique(ds.episode_index[held_idx])) == 2
    buffer = buffer_from_dataset(ds, "state", np.zeros(ds.num_transitions, np.float32),
                                 actions=learner.to_unit_actions(ds.actions), transitions=train_idx)
    sampled = buffer.sample(4096, torch.Generator().manual_seed(0)).actions
    assert buffer.num_transitions == len(train_idx) and float(sampled.abs().max()) <= 1.0 + 1e-6
    torch.manual_seed(0)
    learner.fit(buffer, 600, trainer={"accelerator": "cpu", "devices": 1, "progress": False}, log_every=0)
    out = offline_diagnostics(learner, ds, train_idx, held_idx)
    assert out["action_mae"] < 0.5 * out["mean_action_mae"]
    assert np.abs(learner.act(ds.load_all("state")[held_idx])).max() > 1.5
