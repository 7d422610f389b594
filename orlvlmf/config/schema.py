"""The run config: one section per pipeline stage, each a dataclass beside its code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import checked, component_field, plain_name, ranged
from orlvlmf.data.config import DatasetConfig
from orlvlmf.evaluation.config import EvaluationConfig
from orlvlmf.feedback.config import LabelStoreConfig, PairsConfig
from orlvlmf.policy.config import TrainConfig
from orlvlmf.reward.config import ClipRewardConfig, RelabelConfig, RewardConfig

DEFAULT_STAGES = ["collect", "label", "reward", "relabel", "train", "evaluate", "report"]


@dataclass
class TrainerConfig:
    """Lightning trainer settings shared by the reward model and the learners."""

    accelerator: str = "cpu"
    devices: Any = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_threads: int = ranged(2, ge=1)
    progress: bool = True


@dataclass
class RunConfig:
    """Everything ``orlvlmf fit`` needs; the task text lives with the env unless overridden."""

    name: str = checked("???", plain_name)  # one folder under run_dir
    run_dir: str = "runs"
    seeds: List[int] = ranged(default_factory=lambda: [0], ge=0, min_items=1)
    task: Optional[str] = None  # goal sentence for the VLM; None: the env's own
    stages: List[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    # no env (omitted or null): an imported dataset without a simulator; stages that need one are
    # skipped (or refused when asked for explicitly)
    env: Optional[Dict[str, Any]] = component_field("envs", None, optional=True)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    feedback: Dict[str, Any] = component_field("feedback", "scripted")
    labels: LabelStoreConfig = field(default_factory=LabelStoreConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    relabel: RelabelConfig = field(default_factory=RelabelConfig)
    clip: ClipRewardConfig = field(default_factory=ClipRewardConfig)  # the CLIP-reward baseline
    policy: Dict[str, Any] = component_field("learners", "iql")
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
