"""Relabel every transition with the learned reward; write it as a new column with provenance.

    raw_i  = mean_k r_k(o'_i)           (``score: next``, the frame the labeler saw; or o_i)
    reward = (raw - shift) * mult       (normalisation, see :class:`RelabelConfig`)

``rewards.npz`` (the relabel artifact; the dataset file is never modified):

    reward        (N,) float32   the learned reward to train on (normalised)
    reward_raw    (N,) float32   ensemble mean before normalisation
    reward_std    (N,) float32   ensemble std (member disagreement)
    norm_method, norm_shift, norm_mult, score, observation     how it was made
    reward_ckpt_sha256, config_hash, num_transitions, format    provenance
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.reward.inference import score_batches
from orlvlmf.reward.model import RewardNet

REWARDS_FORMAT = "orlvlmf.rewards/1"
NORMALIZERS = ("none", "minmax", "zscore", "iql")


def normalization(raw: np.ndarray, method: str, episode_index: np.ndarray | None = None,
                  scale: float = 1.0, setting: str = "relabel.normalize") -> tuple[float, float]:
    """(shift, mult) so that reward = (raw - shift) * mult.

    none: (0, 1) · minmax: [min, max] -> [0, 1] · zscore: mean 0, std 1 ·
    iql: r / (max_R - min_R) over episode returns R_e = sum_{i in e} r_i.  All times ``scale``.
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
        returns = np.bincount(episode_index, weights=raw)
        span = float(returns.max() - returns.min())
        shift, mult = 0.0, (1.0 / span if span > 0 else 1.0)
    else:
        raise ValueError(f"{setting} must be one of {', '.join(NORMALIZERS)}, got '{method}'")
    return shift, mult * float(scale)


def relabel_dataset(net: RewardNet, ds: Any, observation: str, score: str = "next",
                    batch_size: int = 256, precision: str = "32") -> tuple[np.ndarray, np.ndarray]:
    """(ensemble mean, ensemble std) of r over every transition of ``ds``, in dataset order."""
    if precision not in ("32", "bf16"):
        raise ValueError(f"relabel.precision must be '32' or 'bf16', got '{precision}'")
    if score not in ("next", "current"):
        raise ValueError(f"relabel.score must be 'next' or 'current', got '{score}'")
    ds.require([observation])
    shape = tuple(ds.observation_shape(observation))
    if list(shape) != list(net.spec["obs_shape"]):
        raise ValueError(f"the reward model was trained on '{observation}' of shape "
                         f"{tuple(net.spec['obs_shape'])}, but {ds.path} stores {shape}: retrain it on "
                         f"this dataset (`orlvlmf reward`)")
    get = ds.next_observations if score == "next" else ds.observations
    return score_batches(net, lambda a, b: get(observation, np.arange(a, b)), ds.num_transitions,
                         batch_size, bf16=precision == "bf16")


def write_rewards(path: str | Path, mean: np.ndarray, std: np.ndarray, *, method: str, shift: float,
                  mult: float, score: str, observation: str, ckpt_sha256: str, config_hash: str) -> None:
    reward = ((mean.astype(np.float64) - shift) * mult).astype(np.float32)
    with open(path, "wb") as fh:
        np.savez(fh, reward=reward, reward_raw=mean.astype(np.float32), reward_std=std.astype(np.float32),
                 norm_method=np.array(method), norm_shift=np.float64(shift), norm_mult=np.float64(mult),
                 score=np.array(score), observation=np.array(observation),
                 reward_ckpt_sha256=np.array(ckpt_sha256), config_hash=np.array(config_hash),
                 num_transitions=np.int64(len(reward)), format=np.array(REWARDS_FORMAT))


@dataclass
class RewardColumn:
    """A relabeled reward column read back from ``rewards.npz``."""

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
