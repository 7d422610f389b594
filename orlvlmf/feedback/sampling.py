"""Sample pairs of frames to ask about.

Each transition ``i`` is shown by its **next observation** ``o'_i`` (the frame the reward model
scores by default; for a simulator the GT reward r_i is computed on the state after the step).

Candidates ``(i, j)`` are drawn independently and uniformly over the N transitions from one
seeded stream, in fixed chunks, and kept in order when

* ``i != j`` and, if both come from one episode, ``|step_i - step_j| >= min_gap``;
* neither the unordered pair of indices nor the unordered pair of images was kept before
  (the same two pictures are one question, whichever transitions show them);
* the two images differ (byte-wise) when ``skip_identical`` is set.

Because the candidate stream does not depend on the number asked for, the first K pairs are the
same for any ``num_queries >= K`` (lowering the number keeps a prefix of the queries already paid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orlvlmf.feedback.images import image_digest, pair_key_from_digests

CHUNK = 256
MAX_CHUNKS = 4000
STALL_CHUNKS = 50


class PairSamplingError(ValueError):
    """Not enough valid pairs in the dataset for the request."""


@dataclass
class PairSample:
    idx0: np.ndarray  # (Q,) int64 transition indices (their next observations are shown)
    idx1: np.ndarray
    pair_keys: list[str]  # hash of both images' bytes and order


class _Digests:
    """Per-transition digests of the shown frame, read in batches and cached."""

    def __init__(self, dataset, image_key: str):
        self.dataset = dataset
        self.image_key = image_key
        self.cache: dict[int, bytes] = {}

    def fill(self, idx: np.ndarray) -> None:
        need = np.unique(np.asarray([i for i in idx.tolist() if i not in self.cache], np.int64))
        for s in range(0, len(need), 128):
            part = need[s:s + 128]
            frames = self.dataset.next_observations(self.image_key, part)
            for i, f in zip(part.tolist(), frames):
                self.cache[i] = image_digest(f)

    def __getitem__(self, i: int) -> bytes:
        return self.cache[i]


def sample_pairs(dataset, num_queries: int, min_gap: int = 10, seed: int = 0,
                 image_key: str = "image", skip_identical: bool = True) -> PairSample:
    """Draw ``num_queries`` pairs (see the module docstring for the rules)."""
    if num_queries <= 0:
        raise PairSamplingError(f"pairs.num_queries must be positive, got {num_queries}")
    if min_gap < 0:
        raise PairSamplingError(f"pairs.min_gap must be >= 0, got {min_gap}")
    if image_key not in dataset.observation_keys:
        raise PairSamplingError(
            f"pairs.image_key '{image_key}' is not an observation of this dataset (it has "
            f"{list(dataset.observation_keys)}); the labeler needs image frames: set "
            f"pairs.image_key to an image key, or collect with dataset.observations including it")
    n = int(dataset.num_transitions)
    if n < 2:
        raise PairSamplingError(f"the dataset has {n} transition(s); at least 2 are needed for pairs")
    ep = np.asarray(dataset.episode_index)
    step = np.asarray(dataset.step_index)
    rng = np.random.default_rng(seed)
    digests = _Digests(dataset, image_key)
    seen: set[tuple[int, int]] = set()
    seen_images: set[tuple[bytes, bytes]] = set()
    idx0: list[int] = []
    idx1: list[int] = []
    keys: list[str] = []
    tried = 0
    last_gain = 0
    for chunk in range(MAX_CHUNKS):
        if chunk - last_gain > STALL_CHUNKS:  # nothing new for a long while: the pool is exhausted
            break
        cand = rng.integers(0, n, size=(CHUNK, 2), dtype=np.int64)
        tried += CHUNK
        i, j = cand[:, 0], cand[:, 1]
        ok = (i != j) & ((ep[i] != ep[j]) | (np.abs(step[i] - step[j]) >= min_gap))
        cand = cand[ok]
        if len(cand):
            digests.fill(cand.reshape(-1))  # pair keys need them; also the identical-image check
        for a, b in cand.tolist():
            pair = (a, b) if a < b else (b, a)
            if pair in seen:
                continue
            da, db = digests[a], digests[b]
            if skip_identical and da == db:
                continue
            images = (da, db) if da < db else (db, da)
            if images in seen_images:
                continue
            seen.add(pair)
            seen_images.add(images)
            last_gain = chunk
            idx0.append(a)
            idx1.append(b)
            keys.append(pair_key_from_digests(da, db))
            if len(idx0) == num_queries:
                return PairSample(np.asarray(idx0, np.int64), np.asarray(idx1, np.int64), keys)
    raise PairSamplingError(
        f"found only {len(idx0)} valid pairs out of {tried} candidates for pairs.num_queries="
        f"{num_queries} (dataset: {n} transitions in {dataset.num_episodes} episodes, "
        f"min_gap={min_gap}, skip_identical={skip_identical}). Lower pairs.num_queries or "
        f"pairs.min_gap, or collect more varied data")


def order_by_disagreement(idx0: np.ndarray, idx1: np.ndarray, ensemble_rewards: np.ndarray) -> np.ndarray:
    """Query order, most informative first, from a reward-model ensemble's predictions.

    ``ensemble_rewards``: (E, N) predicted reward of every transition by E members.  For each pair
    the members' preference probabilities P_e = sigmoid(r_e[idx1] - r_e[idx0]) are computed; the
    pairs are ordered by their standard deviation over members, largest first (stable order).
    """
    r = np.asarray(ensemble_rewards, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise ValueError(f"ensemble_rewards must be (E >= 2, N), got shape {r.shape}")
    p = 1.0 / (1.0 + np.exp(-(r[:, idx1] - r[:, idx0])))
    return np.argsort(-p.std(axis=0), kind="stable")
