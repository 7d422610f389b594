"""Baseline learners (registry kind ``learners``): ``bc``, ``diffusion``, ``gail``.

Light module: each is registered as a factory importing its torch module only when called, like
:mod:`orlvlmf.policy.learners`.  IQL with average / ground-truth reward are reward sources of the
train stage (``train.reward``), not learners; the CLIP reward is the ``clip_reward`` stage
(:mod:`orlvlmf.reward.clip_stage`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from orlvlmf.policy.baselines.config import BCConfig, DiffusionConfig, GAILConfig
from orlvlmf.registry import register


@register("learners", "bc", config=BCConfig)
def bc(cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
    """Behaviour cloning (:class:`orlvlmf.policy.baselines.bc.BC`)."""
    from orlvlmf.policy.baselines.bc import BC

    return BC(cfg, obs_spec, action_dim)


@register("learners", "diffusion", config=DiffusionConfig)
def diffusion(cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
    """Diffusion Policy (:class:`orlvlmf.policy.baselines.diffusion.DiffusionPolicy`)."""
    from orlvlmf.policy.baselines.diffusion import DiffusionPolicy

    return DiffusionPolicy(cfg, obs_spec, action_dim)


@register("learners", "gail", config=GAILConfig)
def gail(cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
    """GAIL with PPO in the env (:class:`orlvlmf.policy.baselines.gail.GAIL`)."""
    from orlvlmf.policy.baselines.gail import GAIL

    return GAIL(cfg, obs_spec, action_dim)
