"""Active query selection: spend queries where the reward ensemble is unsure.

With ``pairs.strategy: disagreement`` labeling runs in rounds (:func:`round_sizes`): round 0 asks
the first ``initial`` pairs of the uniform sampler (the same pairs the uniform strategy asks
first); each later round trains the reward ensemble briefly on the labels so far, draws a pool of
candidate pairs (:func:`candidate_pool`), scores them by the members' disagreement on
P(A < B) (:func:`orlvlmf.feedback.sampling.disagreement`, the std of the members' P) and asks the
``batch`` most contested new ones (:func:`select_most_contested`), until ``num_queries`` pairs are
asked.  ``pairs.strategy: bald`` runs the same rounds but scores a pair by the mutual information of
its label and the member (:func:`orlvlmf.feedback.sampling.mutual_information`): for the same spread
of P it ranks a pair some member is sure of above a near-tie every member calls close to 1/2.  With
``pairs.explore_fraction`` f > 0 only the top (1 - f) of each later round's pairs are the most
contested and the rest are drawn at random from the pool: on drawer-open the pure top-k rule
spends its rounds from the fourth on mostly on near-ties (78–81 % of their pairs differ by < 5 % of
the reward range, against 58–61 % of uniform pairs; ``docs/results/label_quality.md``).

Every round's pairs are written to a :class:`RoundLog` *before* they are asked, so a run killed
in any round resumes with the same pairs (their answers come from the store, never paid twice)
and the pairs file records the round of each pair.  :func:`label_in_rounds` runs the rounds; the
brief fit and the members' rewards come from the caller's ``score`` (the label stage gets it from
the reward stage, :mod:`orlvlmf.reward.active`, as feedback sits below reward).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from orlvlmf.feedback.backends.base import PairSource
from orlvlmf.feedback.labeling import LabelingResult, label_pairs
from orlvlmf.feedback.labeling.records import LabelingStats
from orlvlmf.feedback.sampling import ROUND_SCORES, PairFilter, PairSample, gap_ok, sample_pairs
from orlvlmf.feedback.store import LabelStore

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


def select_most_contested(pool: np.ndarray, scores: np.ndarray, kept: PairFilter, k: int,
                          explore: float = 0.0, seed: int = 0) -> tuple[PairSample, np.ndarray]:
    """``k`` pool pairs that are new questions to ``kept`` (which remembers them), with their
    scores: the ``k - round(explore * k)`` highest-scoring ones (ties keep the pool's order), then
    the rest drawn uniformly (``seed``) from the pool pairs left."""
    pool = np.asarray(pool, np.int64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64)
    if len(scores) != len(pool):
        raise ValueError(f"one score per pool pair expected, got {len(scores)} for {len(pool)}")
    if not 0.0 <= explore <= 1.0:
        raise ValueError(f"explore must be a share in [0, 1], got {explore}")
    order = np.argsort(-scores, kind="stable")
    start = len(kept)
    kept.offer(pool[order], limit=start + k - int(round(explore * k)))
    kept.offer(pool[np.random.default_rng(seed).permutation(len(pool))], limit=start + k)
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
    pool_score: float | None = None  # mean score (the strategy's) over the pool
    chosen_score: float | None = None  # mean score of the pairs chosen


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


@dataclass
class RoundPlan:
    """The settings that decide the rounds (saved in the :class:`RoundLog`; ``num_pairs`` is not
    part of it, so raising it continues the rounds already asked)."""

    num_pairs: int
    initial: int  # pairs in round 0
    batch: int  # pairs per later round
    pool: int  # candidates scored per round
    seed: int
    min_gap: int
    image_key: str
    skip_identical: bool = True
    extra: dict = field(default_factory=dict)  # what else decides the rounds (backend, reward model)
    explore: float = 0.0  # share of each later round drawn at random from the pool
    strategy: str = "disagreement"  # the score of a candidate: a key of sampling.ROUND_SCORES

    def __post_init__(self):
        if self.strategy not in ROUND_SCORES:
            raise ValueError(f"rounds score candidates by one of {', '.join(ROUND_SCORES)}, "
                             f"got '{self.strategy}'")

    def log_plan(self) -> dict:
        d = asdict(self)
        d.pop("num_pairs")
        if not d["explore"]:
            d.pop("explore")  # logs written before the option existed still resume
        return d


#: score(idx0, idx1, label of the answered pairs, pool (M, 2), round k) -> (r0, r1), each (E, M)
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def _add_stats(total: LabelingStats, s: LabelingStats) -> None:
    for k in ("requested", "sent", "answered", "failed", "retries", "calls", "cost_usd", "seconds"):
        setattr(total, k, getattr(total, k) + getattr(s, k))
    total.stop_reason = s.stop_reason
    for kind, n in s.errors.items():
        total.errors[kind] = total.errors.get(kind, 0) + n


def label_in_rounds(dataset, source: PairSource, backend, store: LabelStore, plan: RoundPlan,
                    log_path: str | Path, score: Scorer, both_orders: bool = False,
                    log=print) -> tuple[LabelingResult, np.ndarray]:
    """Label ``plan.num_pairs`` pairs in rounds (see the module docstring).

    Returns the labeling of every pair asked (stats summed over the rounds; ``cached``: answers
    that were in the store before this call) and the (P,) round of each pair.  Stops after the
    round whose labeling stopped early (budget, abort): the caller reports it; a rerun resumes.
    """
    rounds = RoundLog.load(log_path, plan.log_plan())
    kept = PairFilter(dataset, plan.image_key, plan.skip_identical)
    if rounds.rounds:
        done, _ = rounds.pairs()
        kept.offer(np.stack([done.idx0, done.idx1], 1))
        log(f"resuming active labeling after {len(rounds.rounds)} logged round(s), {rounds.num_pairs} pairs")
    else:
        first = sample_pairs(dataset, min(plan.initial, plan.num_pairs), plan.min_gap, plan.seed,
                             plan.image_key, plan.skip_identical)
        kept.offer(np.stack([first.idx0, first.idx1], 1))
        rounds.add(Round(0, first.idx0.tolist(), first.idx1.tolist(), list(first.pair_keys)))
        rounds.save(log_path)
    total = LabelingStats()
    ep, step = np.asarray(dataset.episode_index), np.asarray(dataset.step_index)
    while True:
        pairs, rnd = rounds.pairs()
        n = min(plan.num_pairs, len(rnd))
        pairs = PairSample(pairs.idx0[:n], pairs.idx1[:n], pairs.pair_keys[:n])
        res = label_pairs(pairs, source, backend, store, log=log, both_orders=both_orders)
        _add_stats(total, res.stats)
        if res.stats.stop_reason != "done" or rounds.num_pairs >= plan.num_pairs:
            break
        k = len(rounds.rounds)
        m = res.answered
        asked = {(min(a, b), max(a, b)) for a, b in zip(kept.idx0, kept.idx1)}
        pool = candidate_pool(ep, step, plan.pool, plan.min_gap, seed=plan.seed * 7919 + k, exclude=asked)
        if not len(pool):
            log(f"round {k}: no candidate pair is left to ask; stopping at {rounds.num_pairs} pairs")
            break
        r0, r1 = score(res.idx0[m], res.idx1[m], res.label[m], pool, k)
        scores = ROUND_SCORES[plan.strategy](r0, r1)
        chosen, s = select_most_contested(pool, scores, kept, min(plan.batch, plan.num_pairs - rounds.num_pairs),
                                         explore=plan.explore, seed=plan.seed * 7919 + k)
        if not len(chosen.idx0):
            log(f"round {k}: every candidate was asked before; stopping at {rounds.num_pairs} pairs")
            break
        rounds.add(Round(k, chosen.idx0.tolist(), chosen.idx1.tolist(), list(chosen.pair_keys),
                         pool=len(pool), pool_score=float(scores.mean()), chosen_score=float(s.mean())))
        rounds.save(log_path)
        log(f"round {k}: {len(chosen.idx0)} pairs chosen from {len(pool)} candidates (mean {plan.strategy} "
            f"{float(s.mean()):.3f} vs {float(scores.mean()):.3f} over the pool)")
    answered_queries = sum(r["status"] == "answered" for r in store.lookup(res.query_keys).values())
    total.requested = len(set(res.query_keys))
    cached = max(0, answered_queries - total.answered)
    return dataclasses.replace(res, stats=total, cached=cached), rnd[:len(res.idx0)]
