"""Configs of the reward stages: ``reward`` (the reward model), ``relabel`` and ``clip`` (the CLIP
baseline's ``clip_reward`` stage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import component_field, ranged


@dataclass
class RewardConfig:
    """Bradley-Terry reward model r_psi: an ensemble of (registered encoder + scalar head).

    ``observation`` is the dataset key the reward model sees (``image``, ``point_cloud`` or
    ``state``); it need not be the one the labeler saw (labels made on images can train a
    point-cloud reward).  The encoder node selects a registered encoder and its options, e.g.
    ``encoder: {name: resnet, model: resnet10t, image_size: 64}``.
    """

    observation: str = "image"  # image | point_cloud | state: what the reward model sees
    encoder: Dict[str, Any] = component_field("encoders", "resnet")
    head_hidden: List[int] = ranged(default_factory=list, ge=1)  # [] = linear head on the features
    ensemble: int = ranged(3, ge=1)
    segment: int = ranged(1, ge=1)  # H: frames per segment (o'_i, o'_{i+1}, ... clamped at the episode end)
    ties: str = "drop"  # drop | half  (labels -1 left out, or trained as 0.5 targets)
    # drawer-open random data, 2000 pairs, K=3: cosine from 1e-3 over 15 epochs reached 0.91 held-out
    # accuracy where a constant 3e-4 (10 epochs) reached 0.89 and a constant 1e-3 overfit (0.87)
    lr: float = ranged(1e-3, gt=0)
    lr_schedule: str = "cosine"  # cosine (to 0 over max_epochs) | constant
    weight_decay: float = ranged(0.0, ge=0)
    batch_size: int = ranged(64, ge=1)
    max_epochs: int = ranged(15, ge=1)
    patience: int = ranged(5, ge=0)  # epochs without a better validation accuracy before stopping
    val_fraction: float = ranged(0.2, ge=0, lt=1)
    augment: bool = True  # training-time augmentation of the encoder (random shift / subset)
    gt_eval_transitions: int = ranged(1000, ge=0)  # held-out transitions for GT correlations (0: off)
    gt_eval_every: int = ranged(5, ge=0)  # epochs between GT correlations in TensorBoard (final always)
    seed: int = ranged(0, ge=0)  # added to the run seed


@dataclass
class RelabelConfig:
    """Scoring every transition with the ensemble mean of r_psi.

    ``score: next`` scores o'_i, the frame the labeler was shown for transition i (consistent
    with ``pairs.npz``); ``current`` scores o_i.  ``normalize``: ``none``; ``minmax`` maps the
    rewards to [0, 1]; ``zscore`` to zero mean and unit variance; ``iql`` divides by the span of
    episode returns, r / (max_return - min_return) (IQL's locomotion scaling, without its x1000:
    use ``scale``).  The result is multiplied by ``scale``.
    """

    score: str = "next"  # next | current observation of a transition
    normalize: str = "minmax"  # none | minmax | zscore | iql
    scale: float = ranged(1.0, gt=0)
    batch_size: int = ranged(64, ge=1)  # ResNet-18 at 128 px on 2 CPU cores: 32-64 beat 256 (activations fit in cache)
    precision: str = "32"  # 32 | bf16 (autocast: ~half the CPU time with AVX512-BF16; ~1e-2 rel. error)


@dataclass
class ClipRewardConfig:
    """The ``clip`` section: which CLIP model scores which frames against which sentence.

    ``weights``: local open_clip checkpoint (``open_clip_pytorch_model.bin`` / ``.safetensors``);
    when unset, the environment variable ``ORLVLMF_CLIP_WEIGHTS`` is read, then the hub cache.
    ``normalize`` / ``scale``: as ``relabel.normalize`` (none | minmax | zscore | iql).
    """

    model: str = "ViT-B-32"
    pretrained: Optional[str] = "openai"
    weights: Optional[str] = None
    model_config: Optional[Dict[str, Any]] = None  # open_clip.CLIP kwargs (embed_dim, vision_cfg, text_cfg)
    sentence: Optional[str] = None  # None: CLIP_SENTENCES[env.name]
    observation: str = "image"
    score: str = "next"  # next: o'_i (as the reward model) | current: o_i
    batch_size: int = ranged(64, ge=1)
    normalize: str = "none"
    scale: float = ranged(1.0, gt=0)
