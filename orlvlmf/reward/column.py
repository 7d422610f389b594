"""The reward column a learner trains on: its sources, its file (``rewards.npz``) and its normalisation.

Sources (``train.reward``), one (N,) float32 value per transition of the dataset:

=============  ==============================================================================
learned        ``relabel/rewards.npz``: the reward model's ensemble mean r(o'_i), normalised by
               ``relabel.normalize`` (written by the relabel stage, :mod:`orlvlmf.reward.relabel`)
clip           ``clip_reward/rewards.npz``: cos(f_img(o'_i), f_txt(goal)), normalised by
               ``clip.normalize`` (the CLIP baseline, :mod:`orlvlmf.reward.clip_reward`)
ground_truth   the dataset's true reward, mapped by ``train.true_reward_normalize``
average        the mean of that mapped true reward, on every transition
=============  ==============================================================================

The train stage multiplies the column by ``train.reward_scale``.  Normalisation::

    reward = (raw - shift) * mult
    none: (0, 1) · minmax: [min, max] -> [0, 1] · zscore: mean 0, std 1 ·
    iql: r / (max_e R_e - min_e R_e) over episode returns R_e = sum_{i in e} r_i (IQL's scaling)

``rewards.npz`` (the dataset file itself is never modified):

    reward        (N,) float32   the normalised column to train on
    reward_raw    (N,) float32   before normalisation
    reward_std    (N,) float32   ensemble std (member disagreement; zeros for CLIP)
    norm_method, norm_shift, norm_mult, score, observation     how it was made
    reward_ckpt_sha256, config_hash, num_transitions, format    provenance
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.data.dataset import episode_returns
from orlvlmf.pipeline.stage import StageError

REWARDS_FORMAT = "orlvlmf.rewards/1"
NORMALIZERS = ("none", "minmax", "zscore", "iql")
SOURCES = ("learned", "ground_truth", "average", "clip")
#: source → the upstream ``stage/artifact`` holding its column (the others read the dataset's GT)
ARTIFACTS = {"learned": "relabel/rewards.npz", "clip": "clip_reward/rewards.npz"}


def normalization(raw: np.ndarray, method: str, episode_index: np.ndarray | None = None,
                  scale: float = 1.0, setting: str = "relabel.normalize") -> tuple[float, float]:
    """(shift, mult) so that reward = (raw - shift) * mult (see the module docstring), × ``scale``.

    ``setting`` is the config key that chose ``method``, named in the errors.
    """
    raw = np.asarray(raw, np.float64)
    if method == "none":
        shift, mult = 0.0, 1.0
    elif method == "minmax":
        span = float(raw.max() - raw.min())
        shift, mult = float(raw.min()), (1.0 / span if span > 0 else 1.0)
    elif method == "zscore":
        std = float(raw.std())
        shift, mult = float(raw.mean()), (1.0 / std if std > 0 else 1.0)
    elif method == "iql":
        if episode_index is None:
            raise ValueError(f"{setting}=iql needs the episode index of every transition")
        returns = episode_returns(raw, episode_index)
        span = float(returns.max() - returns.min())
        shift, mult = 0.0, (1.0 / span if span > 0 else 1.0)
    else:
        raise ValueError(f"{setting} must be one of {', '.join(NORMALIZERS)}, got '{method}'")
    return shift, mult * float(scale)


def write_rewards(path: str | Path, raw: np.ndarray, std: np.ndarray, *, method: str, shift: float,
                  mult: float, score: str, observation: str, ckpt_sha256: str, config_hash: str) -> None:
    """Write ``rewards.npz``: ``reward = (raw - shift) * mult`` with ``raw``, ``std`` and provenance."""
    reward = ((raw.astype(np.float64) - shift) * mult).astype(np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, reward=reward, reward_raw=raw.astype(np.float32), reward_std=std.astype(np.float32),
                 norm_method=np.array(method), norm_shift=np.float64(shift), norm_mult=np.float64(mult),
                 score=np.array(score), observation=np.array(observation),
                 reward_ckpt_sha256=np.array(ckpt_sha256), config_hash=np.array(config_hash),
                 num_transitions=np.int64(len(reward)), format=np.array(REWARDS_FORMAT))


@dataclass
class RewardColumn:
    """A reward column read back from ``rewards.npz``."""

    reward: np.ndarray
    reward_raw: np.ndarray
    reward_std: np.ndarray
    provenance: dict[str, Any]


def load_rewards(path: str | Path, num_transitions: int | None = None) -> RewardColumn:
    """Read ``rewards.npz``; with ``num_transitions`` check it belongs to a dataset of that size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rewards file {path} not found: run `orlvlmf relabel` first")
    with np.load(path, allow_pickle=False) as z:
        if "format" not in z.files or str(z["format"]) != REWARDS_FORMAT:
            raise ValueError(f"{path} is not an orlvlmf rewards file (expected format {REWARDS_FORMAT})")
        col = RewardColumn(z["reward"], z["reward_raw"], z["reward_std"],
                           {k: z[k].item() for k in z.files if z[k].ndim == 0})
    if num_transitions is not None and len(col.reward) != num_transitions:
        raise ValueError(f"{path} holds {len(col.reward)} rewards but the dataset has {num_transitions} "
                         f"transitions: relabel this dataset (`orlvlmf relabel`)")
    return col


def artifact(source: str) -> str | None:
    """The ``stage/artifact`` a source's column is read from (``None``: the dataset's GT)."""
    return ARTIFACTS.get(source)


def reward_column(ds: Any, source: str, rewards_path: Path | None, scale: float = 1.0,
                  true_normalize: str = "none") -> np.ndarray:
    """The (N,) column of ``source`` for dataset ``ds``, times ``scale`` (see the module docstring).

    ``rewards_path``: the source's artifact (``learned``, ``clip``); ``true_normalize``: how the
    true reward is mapped (``ground_truth``, ``average``).
    """
    if source not in SOURCES:
        raise StageError(f"train.reward must be one of {', '.join(SOURCES)}, got '{source}'")
    n = ds.num_transitions
    if source in ARTIFACTS:
        if rewards_path is None:
            ref = ARTIFACTS[source]
            raise StageError(f"train.reward={source} needs {ref}: run `orlvlmf {ref.split('/')[0]}`")
        reward = load_rewards(rewards_path, n).reward.astype(np.float32)
    else:
        if not ds.has_ground_truth:
            raise StageError(f"train.reward={source} needs the dataset's ground-truth reward, which "
                             f"{ds.path} does not have; use train.reward=learned")
        raw = ds.ground_truth().reward
        try:
            shift, mult = normalization(raw, true_normalize, ds.episode_index,
                                        setting="train.true_reward_normalize")
        except ValueError as err:
            raise StageError(str(err)) from None
        gt = ((raw.astype(np.float64) - shift) * mult).astype(np.float32)
        reward = gt if source == "ground_truth" else np.full(n, gt.mean(), np.float32)
    return reward * np.float32(scale)
