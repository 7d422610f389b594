"""Config of the labeling stage: which pairs are asked about, and the label store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class PairsConfig:
    """Pairs of frames sampled from the dataset for preference queries."""

    num_queries: int = 2000
    min_gap: int = 10  # minimum time gap between two frames of one episode
    seed: int = 0


@dataclass
class LabelStoreConfig:
    """SQLite label store; ``shared_path`` lets several runs reuse identical queries."""

    shared_path: Optional[str] = None
