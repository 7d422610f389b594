"""Simulated VLM teacher: answers from ground-truth reward with the noise real VLMs show.

For one query showing frames with GT rewards r_1 (Image 1) and r_2 (Image 2), with
d = |r_1 - r_2| / R (R = max r - min r over the dataset) and closeness c(d) = exp(-d / s)
(s = ``proximity_scale``), the answer is drawn in this order::

    abstain   with P = abstain_p * c(d)                      -> -1
    unsure    with P = unsure_p * c(d)      (not abstained)  -> 0 w.p. position_bias, else 1
    sure                                                     -> y = rule(r_1, r_2, tie_threshold)
              wrong with P = 1 - (1 - flip_p * c(d)) (1 - error_p)   (only when y != -1) -> 1 - y

so the -1 rate and the flips grow as the two states get closer, an unsure answer names a position
rather than a frame (with ``position_bias`` != 0.5 the answer depends on the order shown), and
``error_p`` is a fixed error rate independent of d.  Each of the four decisions compares its own
uniform number u = sha256(seed | salt | pair key) with its probability: the same query (same two
images in the same order) gets the same answer on every run, raising one probability only adds
events of that kind, and (A, B) and (B, A) — two pair keys — are answered independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orlvlmf.feedback.backends.scripted import gt_labels, uniform_from_key
from orlvlmf.feedback.config import SimulatedVLMConfig

# what happened to each answer (``SimulatedAnswers.outcome``)
SURE, WRONG, UNSURE, ABSTAIN = 0, 1, 2, 3
OUTCOMES = ("sure", "wrong", "unsure", "abstain")
_SALTS = ("abstain", "unsure", "side", "flip", "error")


def check_config(cfg: SimulatedVLMConfig) -> None:
    """Raise ValueError naming the first out-of-range option."""
    for name in ("abstain_p", "unsure_p", "position_bias", "flip_p", "error_p"):
        v = getattr(cfg, name)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"feedback.{name} must be in [0, 1], got {v}")
    if cfg.proximity_scale <= 0:
        raise ValueError(f"feedback.proximity_scale must be > 0, got {cfg.proximity_scale}")
    if cfg.tie_threshold < 0:
        raise ValueError(f"feedback.tie_threshold must be >= 0, got {cfg.tie_threshold}")


def closeness(r1, r2, reward_range: float, proximity_scale: float) -> np.ndarray:
    """c(d) = exp(-d / s), d = |r_1 - r_2| / R: 1 for equal rewards, small for far ones."""
    gap = np.abs(np.asarray(r2, np.float64) - np.asarray(r1, np.float64)) / max(reward_range, 1e-12)
    return np.exp(-gap / proximity_scale)


def draws(keys: list[str], seed: int) -> np.ndarray:
    """(Q, 5) uniforms, one per decision (abstain, unsure, side, flip, error) of each query."""
    return np.asarray([[uniform_from_key(f"{salt}|{k}", seed) for salt in _SALTS] for k in keys],
                      np.float64).reshape(len(keys), len(_SALTS))


@dataclass
class SimulatedAnswers:
    label: np.ndarray  # (Q,) 0: Image 1 better, 1: Image 2 better, -1: no answer
    outcome: np.ndarray  # (Q,) SURE | WRONG | UNSURE | ABSTAIN
    closeness: np.ndarray  # (Q,) c(d)


def simulated_answers(cfg: SimulatedVLMConfig, r1, r2, keys: list[str],
                      reward_range: float) -> SimulatedAnswers:
    """Answers to queries showing frames with GT rewards ``r1`` (Image 1) and ``r2`` (Image 2).

    ``keys``: one pair key per query (it hashes both images and their order); see the module
    docstring for the rule.
    """
    check_config(cfg)
    r1 = np.asarray(r1, np.float64)
    r2 = np.asarray(r2, np.float64)
    if not (r1.shape == r2.shape == (len(keys),)):
        raise ValueError(f"r1, r2 and keys must have one entry per query, got {r1.shape}, "
                         f"{r2.shape} and {len(keys)}")
    c = closeness(r1, r2, reward_range, cfg.proximity_scale)
    u = draws(keys, cfg.seed)
    truth = gt_labels(r1, r2, cfg.tie_threshold)
    abstain = u[:, 0] < cfg.abstain_p * c
    unsure = ~abstain & (u[:, 1] < cfg.unsure_p * c)
    sure = ~abstain & ~unsure
    wrong = sure & (truth != -1) & ((u[:, 3] < cfg.flip_p * c) | (u[:, 4] < cfg.error_p))
    guess = np.where(u[:, 2] < cfg.position_bias, 0, 1)
    label = np.where(abstain, -1, np.where(unsure, guess, np.where(wrong, 1 - truth, truth)))
    outcome = np.select([abstain, unsure, wrong], [ABSTAIN, UNSURE, WRONG], SURE)
    return SimulatedAnswers(label.astype(np.int64), outcome.astype(np.int64), c)
