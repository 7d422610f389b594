"""Fixtures of the reward tests: tiny synthetic datasets whose GT reward is a known function of o'_i."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from orlvlmf.data.dataset import DatasetWriter


def blob_images(x: np.ndarray, size: int = 32) -> np.ndarray:
    """(T,) positions in [0, 1] -> (T, size, size, 3) uint8 frames with a bright square at x."""
    frames = np.full((len(x), size, size, 3), 30, np.uint8)
    col = np.clip((x * (size - 6)).astype(int), 0, size - 6)
    for t, c in enumerate(col):
        frames[t, size // 2 - 3:size // 2 + 3, c:c + 6] = (250, 200, 40)
    return frames


def blob_points(x: np.ndarray, n: int = 64, seed: int = 0) -> np.ndarray:
    """(T,) stretch in [0, 1] -> (T, n, 3) rope-like clouds whose extent grows with x."""
    rng = np.random.default_rng(seed)
    s = np.linspace(-0.5, 0.5, n)
    out = np.zeros((len(x), n, 3), np.float32)
    for t, v in enumerate(x):
        out[t, :, 0] = s * (0.1 + 0.9 * v)
        out[t, :, 1] = 0.05 * np.sin(s * 8) * (1 - v)
        out[t] += rng.normal(0, 0.003, (n, 3))
    return out


def make_dataset(path: Path, episodes: int = 8, horizon: int = 25, image_size: int = 32,
                 seed: int = 0, gt: bool = True) -> Path:
    """Random walks of a position x in [0, 1]; GT reward r_i = x of the next frame o'_i."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, metadata={"env": "synthetic"}) as w:
        for _ in range(episodes):
            a = rng.uniform(-1, 1, (horizon, 1)).astype(np.float32)
            x = np.clip(np.concatenate([[rng.uniform()], rng.uniform()
                                        + np.cumsum(a[:, 0]) * 0.1]), 0, 1)
            x = np.clip(x, 0, 1)
            obs = {"image": blob_images(x, image_size), "state": np.stack([x, x ** 2], 1).astype(np.float32),
                   "point_cloud": blob_points(x, seed=int(rng.integers(1 << 30)))}
            w.add_episode(observations=obs, actions=a, reward=x[1:] if gt else None,
                          success=(x[1:] > 0.9) if gt else None)
    return path


def scripted_pairs(gt_reward: np.ndarray, n: int, seed: int = 0, tie_eps: float = 0.0):
    """Pairs labeled by the noiseless teacher: 0 if r[idx0] > r[idx1], 1 if less, -1 within tie_eps."""
    rng = np.random.default_rng(seed)
    idx0 = rng.integers(0, len(gt_reward), n)
    idx1 = rng.integers(0, len(gt_reward), n)
    d = gt_reward[idx1] - gt_reward[idx0]
    label = np.where(np.abs(d) <= tie_eps, -1, (d > 0).astype(np.int64))
    return idx0, idx1, label


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """8 episodes x 25 steps with image (32 px), state (2,) and point_cloud (64, 3) observations."""
    return make_dataset(tmp_path_factory.mktemp("reward_ds") / "dataset.h5")


@pytest.fixture(scope="session")
def tiny_pairs(tiny_dataset, tmp_path_factory) -> Path:
    """pairs.npz of 240 noiseless scripted labels on the tiny dataset (ties within 0.01 -> -1)."""
    from orlvlmf.data.dataset import OfflineDataset

    with OfflineDataset.open(tiny_dataset) as ds:
        gt = ds.ground_truth().reward
    idx0, idx1, label = scripted_pairs(gt, 240, seed=1, tie_eps=0.01)
    path = tmp_path_factory.mktemp("reward_pairs") / "pairs.npz"
    np.savez(path, idx0=idx0, idx1=idx1, label=label)
    return path
