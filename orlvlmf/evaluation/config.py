"""Config of the evaluation stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EvaluationConfig:
    """Policy rollouts in the env plugin."""

    episodes: int = 10
    seed: int = 1000
    save_videos: int = 0
