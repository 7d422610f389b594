"""Config of the dataset stage: collect from an env plugin, or import existing data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from orlvlmf.config.structured import ranged


@dataclass
class DatasetKeys:
    """Which of the source's keys become ours (``None``: detected when unambiguous).

    ``state`` may also be a list of keys, concatenated in that order (robomimic splits the
    robot's state into ``robot0_eef_pos``, ``robot0_gripper_qpos``, ...).  ``reward`` names a
    recorded reward column: kept as the dataset's ground truth, for audits only.
    """

    image: Optional[str] = None
    state: Optional[Any] = None
    actions: Optional[str] = None
    reward: Optional[str] = None
    point_cloud: Optional[str] = None


@dataclass
class DatasetConfig:
    """Where the offline dataset comes from.

    ``source: collect`` rolls out the ``env`` with a collector of the given ``quality``;
    ``source: file`` opens an orlvlmf HDF5 dataset at ``path``; any other value names a
    registered dataset reader (kind ``datasets``: ``episodes``, ``lerobot``, ``robomimic``,
    ``rlds``, ``minari``) that imports ``path``.  ``keys`` maps our names to the source's;
    imported frames are resized to ``image_size`` × ``image_size`` (``null``: kept as stored).
    """

    source: str = "collect"
    path: Optional[str] = None
    keys: DatasetKeys = field(default_factory=DatasetKeys)
    quality: str = "random"  # random | medium | expert
    episodes: int = ranged(100, ge=1)
    horizon: Optional[int] = ranged(None, ge=1)  # None: the env's default
    observations: List[str] = field(default_factory=lambda: ["state", "image"])
    image_size: Optional[int] = ranged(128, ge=8, le=2048)
    seed: int = ranged(0, ge=0)
    workers: int = ranged(1, ge=1)  # processes rolling out episodes (the dataset is the same for any number)
