"""Configs of the policy stage: ``train`` (how long, which reward) and the learners' own nodes.

Light module: no torch.  ``policy: {name: iql, ...}`` is checked against :class:`IQLConfig`
(registered with the ``iql`` learner in :mod:`orlvlmf.policy.learners`).  The reward column
the learner trains on is :mod:`orlvlmf.reward.column`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import component_field, ranged


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

    steps: int = ranged(30000, ge=1)
    eval_every: int = ranged(5000, ge=0)  # 0: evaluate only at the end (the evaluate stage)
    eval_episodes: int = ranged(5, ge=1)  # rollouts per periodic evaluation during training
    checkpoint_every: int = ranged(5000, ge=0)  # 0: no resumable checkpoint
    log_every: int = ranged(250, ge=1)
    reward: str = "learned"  # learned | clip | ground_truth | average
    true_reward_normalize: str = "minmax"  # none | minmax | zscore | iql (for ground_truth/average)
    reward_scale: float = ranged(1.0, gt=0)
    seed: int = ranged(0, ge=0)  # added to the run seed
    holdout_episodes: Optional[float] = ranged(None, ge=0, lt=1)


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
    head_hidden: List[int] = ranged(default_factory=lambda: [256, 256], ge=1)  # after image/cloud encoders
    expectile: float = ranged(0.7, gt=0, lt=1)  # tau
    beta: float = ranged(3.0, ge=0)  # inverse temperature of the AWR weights
    gamma: float = ranged(0.99, ge=0, lt=1)
    lr: float = ranged(3e-4, gt=0)  # V, Q and actor
    batch_size: int = ranged(256, ge=1)
    target_rate: float = ranged(0.005, gt=0, le=1)  # Polyak rate of the target twin Q
    adv_clip: float = ranged(100.0, gt=0)  # exp(beta * A) is clipped at this value
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    actor_cosine_decay: bool = True
    normalize_observations: bool = True
