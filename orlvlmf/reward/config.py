"""Config of the reward-model and relabel stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

from orlvlmf.config.loader import component_field


@dataclass
class RewardConfig:
    """Bradley-Terry reward model r_psi over a registered encoder."""

    observation: str = "image"  # image | point_cloud | state: what the reward model sees
    encoder: Dict[str, Any] = component_field("encoders", "resnet")
    ensemble: int = 3
    segment: int = 1
    ties: str = "drop"  # drop | half  (labels -1 left out, or trained as 0.5 targets)
    lr: float = 3e-4
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 3
    val_fraction: float = 0.2
    seed: int = 0


@dataclass
class RelabelConfig:
    """Scoring every transition with the ensemble mean of r_psi."""

    score: str = "next"  # next | current observation of a transition
    normalize: str = "minmax"  # none | minmax | iql
    batch_size: int = 256
