"""Config of the policy-training stage (the learner itself is a registered component)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """How long and how often: learner hyperparameters live in the learner's own config."""

    steps: int = 30000
    eval_every: int = 5000
    checkpoint_every: int = 5000
    reward: str = "learned"  # learned | ground_truth | average
    seed: int = 0
