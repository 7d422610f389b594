"""Scripted teacher: preferences from the ground-truth reward, with optional noise (no network).

label = 0 if r0 - r1 > tie_threshold, 1 if r1 - r0 > tie_threshold, else -1, where r_k is the GT
reward of transition idx_k (computed on the state its next observation shows).

Noise for the paper's ablation flips non-tie labels:
  * ``flip``:      P(flip) = p
  * ``proximity``: P(flip) = p * exp(-d / s),  d = |r0 - r1| / (max r - min r)
    (``flip_p`` = p, ``proximity_scale`` = s): the closer the two states' rewards, the likelier
    the flip, up to p for equal rewards.
The uniform number u compared with P(flip) is derived from (pair key, noise_seed), so a query
gets the same answer on every run, and raising p only adds flips.
"""

from __future__ import annotations

import hashlib

import numpy as np

from orlvlmf.feedback.backends.base import Answer, PairSource, Query
from orlvlmf.feedback.config import ScriptedConfig
from orlvlmf.registry import register

NOISE_KINDS = ("none", "flip", "proximity")


def gt_labels(r0: np.ndarray, r1: np.ndarray, tie_threshold: float = 0.0) -> np.ndarray:
    """Noiseless labels: 0 (first better), 1 (second better), -1 (within the tie threshold)."""
    d = np.asarray(r1, np.float64) - np.asarray(r0, np.float64)
    return np.where(d > tie_threshold, 1, np.where(-d > tie_threshold, 0, -1)).astype(np.int64)


def flip_probability(cfg: ScriptedConfig, r0: np.ndarray, r1: np.ndarray, reward_range: float) -> np.ndarray:
    gap = np.abs(np.asarray(r1, np.float64) - np.asarray(r0, np.float64))
    if cfg.noise == "none":
        return np.zeros_like(gap)
    if cfg.noise == "flip":
        return np.full_like(gap, cfg.flip_p)
    d = gap / max(reward_range, 1e-12)
    return cfg.flip_p * np.exp(-d / cfg.proximity_scale)


def uniform_from_key(key: str, seed: int) -> float:
    h = hashlib.sha256(f"{seed}|{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


@register("feedback", "scripted", config=ScriptedConfig)
class ScriptedTeacher:
    """A teacher (:mod:`.base`): answers from GT reward; see the module docstring for the rule
    and the noise models."""

    needs_ground_truth = True

    def __init__(self, **options):
        self.cfg = ScriptedConfig(**options)
        c = self.cfg
        if c.noise not in NOISE_KINDS:
            raise ValueError(f"feedback.noise must be one of {', '.join(NOISE_KINDS)}, got '{c.noise}'")
        if not 0.0 <= c.flip_p <= 1.0:
            raise ValueError(f"feedback.flip_p must be in [0, 1], got {c.flip_p}")
        if c.noise == "proximity" and c.proximity_scale <= 0:
            raise ValueError(f"feedback.proximity_scale must be > 0, got {c.proximity_scale}")
        if c.tie_threshold < 0:
            raise ValueError(f"feedback.tie_threshold must be >= 0, got {c.tie_threshold}")

    @property
    def model(self) -> str:
        c = self.cfg
        return f"gt(tie={c.tie_threshold:g}, noise={c.noise}, p={c.flip_p:g})"

    def identity(self) -> dict:
        c = self.cfg
        ident = {"backend": "scripted", "tie_threshold": c.tie_threshold, "noise": c.noise}
        if c.noise != "none":
            ident |= {"flip_p": c.flip_p, "noise_seed": c.noise_seed}
        if c.noise == "proximity":
            ident["proximity_scale"] = c.proximity_scale
        return ident

    def answer(self, queries: list[Query], source: PairSource) -> list[Answer]:
        """The labels of ``queries`` (a teacher: all at once, no cost)."""
        if not queries:
            return []
        reward, rng = source.teacher_reward("the scripted teacher")
        i0 = np.asarray([q.idx0 for q in queries])
        i1 = np.asarray([q.idx1 for q in queries])
        r0, r1 = reward[i0], reward[i1]
        labels = gt_labels(r0, r1, self.cfg.tie_threshold)
        p = flip_probability(self.cfg, r0, r1, rng)
        u = np.asarray([uniform_from_key(q.pair_key, self.cfg.noise_seed) for q in queries])
        flip = (labels >= 0) & (u < p)
        labels = np.where(flip, 1 - labels, labels)
        return [Answer(int(lab), f"gt reward {a:.6g} vs {b:.6g}" + (" (flipped by noise)" if f else ""),
                       str(lab))
                for lab, f, a, b in zip(labels.tolist(), flip.tolist(), r0.tolist(), r1.tolist())]
