"""Configs of the policy stage: ``train`` (how long, which reward) and the learners' own nodes.

Light module: no torch.  ``policy: {name: iql, ...}`` is checked against :class:`IQLConfig`
(registered with the ``iql`` learner in :mod:`orlvlmf.policy.learners`).  The reward column
the learner trains on is :mod:`orlvlmf.reward.column`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import component_field


@dataclass
class TrainConfig:
    """How long, how often, and on which reward column (learner hyperparameters live in the
    learner's own config).

    ``reward`` picks the column (see :mod:`orlvlmf.reward.column`): ``learned`` (the relabeling,
    ``relabel/rewards.npz``), ``clip`` (``clip_reward/rewards.npz``), ``ground_truth`` (the
    dataset's true reward: the "IQL GT reward" baseline) or ``average`` (its mean on every
    transition: "IQL avg. reward").  ``true_reward_normalize`` maps the true reward the way
    ``relabel.normalize`` maps the learned one (default ``minmax``: [min, max] of the dataset ->
    [0, 1], so IQL-GT and ours train on the same span; MetaWorld's 0–10 reward becomes the ×0.1 the
    IQL references use); the average is taken after it.  ``reward_scale`` multiplies the column.
    ``holdout_episodes``: share of the episodes kept out of training for the offline diagnostics in
    ``train_metrics.json`` (action error against the data, Q / V); ``null``: 0.1 when the run has
    no env to evaluate in, else 0 (simulator runs train on every episode).
    """

    steps: int = 30000
    eval_every: int = 5000  # 0: evaluate only at the end (the evaluate stage)
    eval_episodes: int = 5  # rollouts per periodic evaluation during training
    checkpoint_every: int = 5000
    log_every: int = 250
    reward: str = "learned"  # learned | clip | ground_truth | average
    true_reward_normalize: str = "minmax"  # none | minmax | zscore | iql (for ground_truth/average)
    reward_scale: float = 1.0
    seed: int = 0  # added to the run seed
    holdout_episodes: Optional[float] = None


@dataclass
class IQLConfig:
    """Implicit Q-Learning (Kostrikov et al. 2021) with its D4RL-locomotion defaults.

    ``observation`` names the dataset key the nets read; ``encoder`` is a registered observation
    encoder, one instance per net.  A state encoder (``mlp``) is the whole net body (Q's input is
    [s, a]): with its default ``hidden: [256, 256]`` every net is the paper's 2×256 MLP.  Image /
    point-cloud encoders (``resnet``, ``pointnet2``) feed heads with ``head_hidden`` layers.
    """

    observation: str = "state"
    encoder: Dict[str, Any] = component_field("encoders", "mlp")
    head_hidden: List[int] = field(default_factory=lambda: [256, 256])  # after image/cloud encoders
    expectile: float = 0.7  # tau
    beta: float = 3.0  # inverse temperature of the AWR weights
    gamma: float = 0.99
    lr: float = 3e-4  # V, Q and actor
    batch_size: int = 256
    target_rate: float = 0.005  # Polyak rate of the target twin Q
    adv_clip: float = 100.0  # exp(beta * A) is clipped at this value
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    actor_cosine_decay: bool = True
    normalize_observations: bool = True
