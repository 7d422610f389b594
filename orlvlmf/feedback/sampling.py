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


def gap_ok(i: np.ndarray, j: np.ndarray, episode: np.ndarray, step: np.ndarray, min_gap: int) -> np.ndarray:
    """Mask of candidate pairs (i, j) allowed as a query: i != j, ``min_gap`` apart in one episode."""
    return (i != j) & ((episode[i] != episode[j]) | (np.abs(step[i] - step[j]) >= min_gap))


class PairFilter:
    """Keeps offered candidate pairs, in order, that are new questions (see the module docstring).

    Its memory (index pairs and picture pairs kept so far) lets later offers, e.g. the rounds of
    active selection, never repeat a question kept before, in either order.
    """

    def __init__(self, dataset, image_key: str = "image", skip_identical: bool = True):
        self.digests = _Digests(dataset, image_key)
        self.skip_identical = skip_identical
        self.seen: set[tuple[int, int]] = set()
        self.seen_images: set[tuple[bytes, bytes]] = set()
        self.idx0: list[int] = []
        self.idx1: list[int] = []
        self.keys: list[str] = []

    def __len__(self) -> int:
        return len(self.idx0)

    def offer(self, cand: np.ndarray, limit: int | None = None) -> int:
        """Keep the new pairs of ``cand`` (M, 2) in order until ``limit`` are kept in all."""
        cand = np.asarray(cand, np.int64).reshape(-1, 2)
        if len(cand):
            self.digests.fill(cand.reshape(-1))  # pair keys need them; also the identical-image check
        before = len(self.idx0)
        for a, b in cand.tolist():
            if limit is not None and len(self.idx0) >= limit:
                break
            pair = (a, b) if a < b else (b, a)
            if pair in self.seen:
                continue
            da, db = self.digests[a], self.digests[b]
            if self.skip_identical and da == db:
                continue
            images = (da, db) if da < db else (db, da)
            if images in self.seen_images:
                continue
            self.seen.add(pair)
            self.seen_images.add(images)
            self.idx0.append(a)
            self.idx1.append(b)
            self.keys.append(pair_key_from_digests(da, db))
        return len(self.idx0) - before

    def sample(self, start: int = 0) -> PairSample:
        """The pairs kept from position ``start`` on."""
        return PairSample(np.asarray(self.idx0[start:], np.int64), np.asarray(self.idx1[start:], np.int64),
                          self.keys[start:])


def reverse_pair_keys(dataset, image_key: str, idx0: np.ndarray, idx1: np.ndarray) -> list[str]:
    """Pair keys of the swapped pairs (o'_idx1 shown first): the keys of the (B, A) queries."""
    digests = _Digests(dataset, image_key)
    idx0, idx1 = np.asarray(idx0, np.int64), np.asarray(idx1, np.int64)
    digests.fill(np.concatenate([idx0, idx1]))
    return [pair_key_from_digests(digests[b], digests[a]) for a, b in zip(idx0.tolist(), idx1.tolist())]


def check_pair_request(dataset, num_queries: int, min_gap: int, image_key: str) -> None:
    """Raise PairSamplingError naming the setting that makes a request impossible."""
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


def sample_pairs(dataset, num_queries: int, min_gap: int = 10, seed: int = 0,
                 image_key: str = "image", skip_identical: bool = True) -> PairSample:
    """Draw ``num_queries`` pairs (see the module docstring for the rules)."""
    check_pair_request(dataset, num_queries, min_gap, image_key)
    n = int(dataset.num_transitions)
    ep = np.asarray(dataset.episode_index)
    step = np.asarray(dataset.step_index)
    rng = np.random.default_rng(seed)
    kept = PairFilter(dataset, image_key, skip_identical)
    tried = 0
    last_gain = 0
    for chunk in range(MAX_CHUNKS):
        if chunk - last_gain > STALL_CHUNKS:  # nothing new for a long while: the pool is exhausted
            break
        cand = rng.integers(0, n, size=(CHUNK, 2), dtype=np.int64)
        tried += CHUNK
        if kept.offer(cand[gap_ok(cand[:, 0], cand[:, 1], ep, step, min_gap)], num_queries):
            last_gain = chunk
        if len(kept) == num_queries:
            return kept.sample()
    raise PairSamplingError(
        f"found only {len(kept)} valid pairs out of {tried} candidates for pairs.num_queries="
        f"{num_queries} (dataset: {n} transitions in {dataset.num_episodes} episodes, "
        f"min_gap={min_gap}, skip_identical={skip_identical}). Lower pairs.num_queries or "
        f"pairs.min_gap, or collect more varied data")


def member_preferences(r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """(E, P) P_e = sigmoid(r1_e - r0_e): each member's probability that a pair's second frame is
    preferred, from the (E, P) rewards ``r0``, ``r1`` the E members give the pairs' two frames."""
    r0 = np.asarray(r0, dtype=np.float64)
    r1 = np.asarray(r1, dtype=np.float64)
    if r0.shape != r1.shape or r0.ndim != 2 or r0.shape[0] < 2:
        raise ValueError(f"member rewards must be two (E >= 2, P) arrays, got {r0.shape} and {r1.shape}")
    return 1.0 / (1.0 + np.exp(-(r1 - r0)))


def disagreement(r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """Ensemble disagreement on P(first < second) of each pair.

    ``r0``, ``r1``: (E, P) rewards the E members give each pair's first and second frame.
    Returns (P,) std_e P_e with P_e = sigmoid(r1_e - r0_e) = P_e[second frame preferred].
    """
    return member_preferences(r0, r1).std(axis=0)


def mutual_information(r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """BALD score of each pair: what its label would tell about which member is right.

    ``r0``, ``r1`` as for :func:`disagreement`.  With P_e = sigmoid(r1_e - r0_e) and
    H(p) = -p log p - (1 - p) log(1 - p), returns (P,) H(mean_e P_e) - mean_e H(P_e) >= 0.
    Near P = 1/2, H(p) ~ log 2 - 2 (p - 1/2)^2, so the score is ~ 2 Var_e(P_e): while every member
    is unsure it ranks pairs as :func:`disagreement` does.  H bends more towards 0 and 1, so for
    the same spread of P a pair some member is sure of outranks a near-tie every member calls
    close to 1/2; members that are each sure and contradict one another score highest (log 2).
    """
    def entropy(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -(p * np.log(p) + (1 - p) * np.log1p(-p))

    p = member_preferences(r0, r1)
    return np.maximum(entropy(p.mean(axis=0)) - entropy(p).mean(axis=0), 0.0)


#: how the rounds of each active ``pairs.strategy`` score a candidate pair from the members' rewards
ROUND_SCORES = {"disagreement": disagreement, "bald": mutual_information}


def order_by_disagreement(idx0: np.ndarray, idx1: np.ndarray, ensemble_rewards: np.ndarray) -> np.ndarray:
    """Query order, most informative first, from a reward-model ensemble's predictions.

    ``ensemble_rewards``: (E, N) predicted reward of every transition by E members; pairs are
    ordered by :func:`disagreement`, largest first (stable order).
    """
    r = np.asarray(ensemble_rewards, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise ValueError(f"ensemble_rewards must be (E >= 2, N), got shape {r.shape}")
    return np.argsort(-disagreement(r[:, idx0], r[:, idx1]), kind="stable")
