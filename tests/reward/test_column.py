"""The reward column a learner trains on: its sources, rewards.npz, normalisation."""

import numpy as np
import pytest

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.pipeline.stage import StageError
from orlvlmf.reward.column import normalization, reward_column, write_rewards


def test_reward_sources(tiny_dataset, tmp_path):
    ds = OfflineDataset.open(tiny_dataset)
    gt = ds.ground_truth().reward
    assert np.allclose(reward_column(ds, "ground_truth", None, 0.1), gt * 0.1)
    avg = reward_column(ds, "average", None)
    assert np.allclose(avg, gt.mean()) and avg.shape == gt.shape
    # minmax maps the true reward to [0, 1] (as relabel.normalize does the learned one); the
    # average is taken after it
    unit = reward_column(ds, "ground_truth", None, 2.0, true_normalize="minmax")
    assert np.allclose(unit, 2 * (gt - gt.min()) / (gt.max() - gt.min()), atol=1e-6)
    assert unit.min() == 0 and np.isclose(unit.max(), 2.0)
    assert np.allclose(reward_column(ds, "average", None, 1.0, "minmax"), unit.mean() / 2, atol=1e-6)
    with pytest.raises(StageError, match="train.true_reward_normalize must be one of"):
        reward_column(ds, "ground_truth", None, 1.0, "range")
    path = tmp_path / "rewards.npz"
    learned = np.linspace(0, 1, ds.num_transitions).astype(np.float32)
    write_rewards(path, learned, np.zeros_like(learned), method="none", shift=0.0, mult=1.0,
                  score="next", observation="image", ckpt_sha256="x", config_hash="y")
    assert np.allclose(reward_column(ds, "learned", path, 2.0), 2 * learned)
    with pytest.raises(StageError, match="train.reward must be one of"):
        reward_column(ds, "oracle", path)
    short = tmp_path / "short.npz"
    write_rewards(short, learned[:5], learned[:5], method="none", shift=0.0, mult=1.0, score="next",
                  observation="image", ckpt_sha256="x", config_hash="y")
    with pytest.raises(ValueError, match="relabel this dataset"):
        reward_column(ds, "learned", short)


def test_normalizations():
    raw = np.array([1.0, 3.0, 2.0, 6.0])
    ep = np.array([0, 0, 1, 1])
    assert normalization(raw, "none") == (0.0, 1.0)
    s, m = normalization(raw, "minmax")
    np.testing.assert_allclose((raw - s) * m, [0, 0.4, 0.2, 1])
    s, m = normalization(raw, "zscore")
    z = (raw - s) * m
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    s, m = normalization(raw, "iql", ep, scale=10.0)  # returns 4 and 8: span 4
    assert s == 0 and m == pytest.approx(10 / 4)
    assert normalization(np.ones(3), "minmax") == (1.0, 1.0)
    with pytest.raises(ValueError, match="none, minmax, zscore, iql"):
        normalization(raw, "rank")
