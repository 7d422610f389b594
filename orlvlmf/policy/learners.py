"""Built-in learners (registry kind ``learners``); see :mod:`orlvlmf.policy.base` for the contract.

Light module: each learner is registered as a factory that imports its (torch/lightning) module
only when called, so checking a config does not import Lightning.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from orlvlmf.policy.config import IQLConfig
from orlvlmf.registry import register


@register("learners", "iql", config=IQLConfig)
def iql(cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
    """Implicit Q-Learning (:class:`orlvlmf.policy.iql.IQL`)."""
    from orlvlmf.policy.iql import IQL

    return IQL(cfg, obs_spec, action_dim)
