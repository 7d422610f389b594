"""Config of the dataset stage: collect from an env plugin, or read existing data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass
class DatasetConfig:
    """Where the offline dataset comes from.

    ``source: collect`` rolls out the ``env`` with a collector of the given ``quality``;
    ``source: file`` opens an orlvlmf HDF5 dataset at ``path``; any other value names a
    registered dataset reader (kind ``datasets``) that imports ``path`` (e.g. ``episodes`` for a
    directory of per-episode files, ``minari`` for a Minari dataset id or path).
    """

    source: str = "collect"
    path: Optional[str] = None
    quality: str = "random"  # random | medium | expert
    episodes: int = 100
    horizon: Optional[int] = None  # None: the env's default
    observations: List[str] = field(default_factory=lambda: ["state", "image"])
    image_size: int = 128
    seed: int = 0
    workers: int = 1  # processes rolling out episodes (the dataset is the same for any number)
