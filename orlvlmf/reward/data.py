"""Preference data for reward training: ``pairs.npz`` checked against the dataset, frames preloaded.

``pairs.npz`` (written by the label stage): ``idx0, idx1`` transition indices whose NEXT frame
o'_i was shown to the labeler, ``label`` in {0, 1, -1} (0: the idx0 frame is better).

A segment of length H for transition i is (o'_i, o'_{i+1}, ..., o'_{i+H-1}), indices clamped at
the end of i's episode (H = 1: just o'_i, the labeled frame).  The frames every kept pair needs are
read from the dataset once into one uint8/float tensor; batches are gathered from it by index
(no per-sample collate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orlvlmf.reward.losses import preference_targets


class PairsError(ValueError):
    """``pairs.npz`` cannot be used with this dataset."""


@dataclass
class Pairs:
    idx0: np.ndarray
    idx1: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


def load_pairs(path: str | Path, num_transitions: int, dataset_name: str = "the dataset") -> Pairs:
    """Read and check ``pairs.npz``: same lengths, integer indices inside the dataset, labels 0/1/-1."""
    path = Path(path)
    if not path.is_file():
        raise PairsError(f"pairs file {path} not found: run `orlvlmf label` first")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("idx0", "idx1", "label") if k not in z.files]
            if missing:
                raise PairsError(f"{path}: missing array(s) {missing}; expected idx0, idx1, label")
            idx0, idx1, label = (np.asarray(z[k]) for k in ("idx0", "idx1", "label"))
    except (OSError, ValueError) as err:
        if isinstance(err, PairsError):
            raise
        raise PairsError(f"{path}: not a readable .npz file ({err})") from None
    if not (idx0.ndim == idx1.ndim == label.ndim == 1 and len(idx0) == len(idx1) == len(label)):
        raise PairsError(f"{path}: idx0, idx1, label must be 1-D arrays of one length, got shapes "
                         f"{idx0.shape}, {idx1.shape}, {label.shape}")
    for name, a in (("idx0", idx0), ("idx1", idx1), ("label", label)):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise PairsError(f"{path}: '{name}' must hold integers, got dtype {a.dtype}")
    idx0, idx1, label = idx0.astype(np.int64), idx1.astype(np.int64), label.astype(np.int64)
    both = np.concatenate([idx0, idx1])
    outside = (both < 0) | (both >= num_transitions)
    if outside.any():
        bad = np.unique(both[outside])
        raise PairsError(
            f"{path}: {outside.sum()} label(s) refer to transitions missing from {dataset_name}, which has "
            f"{num_transitions} transitions (e.g. indices {bad[:5].tolist()}). The labels were made "
            f"for another dataset: rerun `orlvlmf label` on this one (or point dataset.path at the "
            f"dataset they were made for)")
    bad_labels = ~np.isin(label, (0, 1, -1))
    if bad_labels.any():
        raise PairsError(f"{path}: labels must be 0, 1 or -1; found {np.unique(label[bad_labels])[:5].tolist()}")
    return Pairs(idx0, idx1, label)


def segment_indices(start: np.ndarray, length: int, episode_starts: np.ndarray) -> np.ndarray:
    """(n, H) transition indices i, i+1, ..., i+H-1, clamped to the last transition of i's episode."""
    start = np.asarray(start, dtype=np.int64)
    if length < 1:
        raise ValueError(f"reward.segment must be >= 1, got {length}")
    ep = np.searchsorted(episode_starts, start, side="right") - 1
    last = episode_starts[ep + 1] - 1
    seg = start[:, None] + np.arange(length)[None, :]
    return np.minimum(seg, last[:, None])


@dataclass
class PreferenceTensors:
    """Preloaded frames and pair -> frame-row maps: ``frames[seg0[j]]`` is segment 0 of pair j."""

    frames: torch.Tensor  # (M, *obs_shape)
    seg0: torch.Tensor  # (n, H) rows into frames
    seg1: torch.Tensor  # (n, H)
    target: torch.Tensor  # (n,) P[sigma_1 > sigma_0]
    pair_index: np.ndarray  # (n,) position of each kept pair in pairs.npz

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, rows: np.ndarray) -> "PreferenceTensors":
        rows = np.asarray(rows, dtype=np.int64)
        t = torch.as_tensor(rows)
        return PreferenceTensors(self.frames, self.seg0[t], self.seg1[t], self.target[t], self.pair_index[rows])


def build_preference_tensors(ds: Any, pairs: Pairs, observation: str, segment: int = 1,
                             ties: str = "drop") -> PreferenceTensors:
    """Read the next-frames of every kept pair's segments from ``ds`` (ground truth never touched)."""
    keep, target = preference_targets(pairs.label, ties)
    if len(keep) == 0:
        raise PairsError(f"no usable preference pairs: all {len(pairs)} labels are ties (-1) and "
                         f"reward.ties=drop. Label more pairs, or set reward.ties=half")
    s0 = segment_indices(pairs.idx0[keep], segment, ds.episode_starts)
    s1 = segment_indices(pairs.idx1[keep], segment, ds.episode_starts)
    needed, inverse = np.unique(np.concatenate([s0.ravel(), s1.ravel()]), return_inverse=True)
    frames = torch.from_numpy(np.ascontiguousarray(ds.next_observations(observation, needed)))
    n = len(keep)
    inv = torch.as_tensor(inverse.reshape(2, n, segment))
    return PreferenceTensors(frames, inv[0], inv[1], torch.as_tensor(target), keep)


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train rows, validation rows) of ``n`` pairs; at least one of each when val_fraction > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"reward.val_fraction must be in [0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0:
        if n < 2:
            raise PairsError(f"only {n} usable pair(s): need at least 2 to hold some out for "
                             f"validation (or set reward.val_fraction=0)")
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class PairBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item is a whole batch: ``self[list_of_rows]`` -> dict of tensors.

    Use with ``DataLoader(pb, sampler=BatchSampler(...), batch_size=None)``: one gather per batch.
    """

    def __init__(self, data: PreferenceTensors):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, rows) -> dict[str, torch.Tensor]:
        r = torch.as_tensor(rows, dtype=torch.long)
        d = self.data
        return {"seg0": d.frames[d.seg0[r]], "seg1": d.frames[d.seg1[r]], "target": d.target[r]}


def pair_loader(data: PreferenceTensors, batch_size: int, shuffle: bool, seed: int = 0):
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

    if shuffle:
        gen = torch.Generator().manual_seed(seed)
        base = RandomSampler(range(len(data)), generator=gen)
    else:
        base = SequentialSampler(range(len(data)))
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=False)
    return DataLoader(PairBatches(data), sampler=sampler, batch_size=None, num_workers=0)
