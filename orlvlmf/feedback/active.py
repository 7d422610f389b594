"""Active query selection: spend queries where the reward ensemble is unsure.

With ``pairs.strategy: disagreement`` labeling runs in rounds (:func:`round_sizes`): round 0 asks
the first ``initial`` pairs of the uniform sampler (the same pairs the uniform strategy asks
first); each later round trains the reward ensemble briefly on the labels so far, draws a pool of
candidate pairs (:func:`candidate_pool`), scores them by the members' disagreement on
P(A < B) (:func:`orlvlmf.feedback.sampling.disagreement`) and asks the ``batch`` most contested new
ones (:func:`select_most_contested`), until ``num_queries`` pairs are asked.

Every round's pairs are written to a :class:`RoundLog` *before* they are asked, so a run killed
in any round resumes with the same pairs (their answers come from the store, never paid twice)
and the pairs file records the round of each pair.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from orlvlmf.feedback.sampling import PairFilter, PairSample, gap_ok

LOG_FORMAT = "orlvlmf.active_rounds/1"


def round_sizes(num_queries: int, initial: int, batch: int) -> list[int]:
    """Pairs asked per round: ``initial``, then ``batch`` per round up to ``num_queries`` in all."""
    if initial < 1 or batch < 1:
        raise ValueError(f"the initial round and the batch per round must hold >= 1 pair, got "
                         f"{initial} and {batch}")
    if num_queries < 1:
        raise ValueError(f"pairs.num_queries must be positive, got {num_queries}")
    sizes = [min(initial, num_queries)]
    while sum(sizes) < num_queries:
        sizes.append(min(batch, num_queries - sum(sizes)))
    return sizes


def candidate_pool(episode: np.ndarray, step: np.ndarray, size: int, min_gap: int, seed: int,
                   exclude: set[tuple[int, int]] = frozenset()) -> np.ndarray:
    """(M <= size, 2) index pairs drawn uniformly, allowed by the gap rule, unique as unordered
    pairs and not in ``exclude`` (unordered pairs as (min, max)).  No image is read."""
    episode = np.asarray(episode)
    step = np.asarray(step)
    n = len(episode)
    rng = np.random.default_rng(seed)
    kept: dict[tuple[int, int], None] = {}
    for _ in range(50):  # 50 draws of 2 x size candidates: enough unless the pool is exhausted
        cand = rng.integers(0, n, size=(2 * size, 2), dtype=np.int64)
        cand = cand[gap_ok(cand[:, 0], cand[:, 1], episode, step, min_gap)]
        for a, b in cand.tolist():
            key = (a, b) if a < b else (b, a)
            if key not in exclude and key not in kept:
                kept[key] = None
                if len(kept) == size:
                    return np.asarray(list(kept), np.int64)
    return np.asarray(list(kept), np.int64).reshape(-1, 2)


def select_most_contested(pool: np.ndarray, scores: np.ndarray, kept: PairFilter,
                          k: int) -> tuple[PairSample, np.ndarray]:
    """The ``k`` highest-scoring pool pairs that are new questions to ``kept`` (which remembers
    them), with their scores.  Ties keep the pool's order."""
    pool = np.asarray(pool, np.int64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64)
    if len(scores) != len(pool):
        raise ValueError(f"one score per pool pair expected, got {len(scores)} for {len(pool)}")
    order = np.argsort(-scores, kind="stable")
    start = len(kept)
    kept.offer(pool[order], limit=start + k)
    chosen = kept.sample(start)
    by_pair = {(a, b): s for (a, b), s in zip(pool.tolist(), scores.tolist())}
    return chosen, np.asarray([by_pair[(a, b)] for a, b in zip(chosen.idx0.tolist(), chosen.idx1.tolist())])


@dataclass
class Round:
    round: int
    idx0: list[int]
    idx1: list[int]
    pair_keys: list[str]
    pool: int = 0  # candidates scored (0 for the uniform round 0)
    pool_score: float | None = None  # mean disagreement over the pool
    chosen_score: float | None = None  # mean disagreement of the pairs chosen


@dataclass
class RoundLog:
    """Pairs of each round, in order; saved atomically as JSON.

    ``plan`` holds the settings that decide the rounds (strategy, initial, batch, pool size,
    seeds, ...): a log written under another plan is not resumed.  ``num_queries`` is not part of
    the plan, so raising it continues the rounds already asked.
    """

    plan: dict
    rounds: list[Round] = field(default_factory=list)

    def add(self, rnd: Round) -> None:
        if rnd.round != len(self.rounds):
            raise ValueError(f"round {rnd.round} added after {len(self.rounds)} rounds")
        self.rounds.append(rnd)

    @property
    def num_pairs(self) -> int:
        return sum(len(r.idx0) for r in self.rounds)

    def pairs(self) -> tuple[PairSample, np.ndarray]:
        """All pairs in order and the (Q,) round of each (the pairs file's ``round`` array)."""
        idx0 = [i for r in self.rounds for i in r.idx0]
        idx1 = [i for r in self.rounds for i in r.idx1]
        keys = [k for r in self.rounds for k in r.pair_keys]
        rnd = [r.round for r in self.rounds for _ in r.idx0]
        return (PairSample(np.asarray(idx0, np.int64), np.asarray(idx1, np.int64), keys),
                np.asarray(rnd, np.int64))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"format": LOG_FORMAT, "plan": self.plan,
                                   "rounds": [asdict(r) for r in self.rounds]}))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path, plan: dict) -> "RoundLog":
        """The log at ``path`` when it was written under ``plan``, else an empty one."""
        path = Path(path)
        if not path.is_file():
            return cls(plan)
        try:
            blob = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return cls(plan)  # a torn file is never left (atomic save); anything else: start over
        if blob.get("format") != LOG_FORMAT or blob.get("plan") != json.loads(json.dumps(plan)):
            return cls(plan)
        log = cls(plan)
        for r in blob["rounds"]:
            log.add(Round(**r))
        return log
