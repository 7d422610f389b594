"""The learners (registry kind ``learners``): each one's name, config and class, written once here.

Light module: a learner's class (torch, Lightning) is imported only when the learner is looked
up, so checking a ``policy:`` config node does not import Lightning.  See
:mod:`orlvlmf.policy.base` for the contract every learner implements.

IQL with average / ground-truth reward are reward sources of the train stage (``train.reward``),
not learners; the CLIP reward is the ``clip_reward`` stage (:mod:`orlvlmf.reward.clip_stage`).
"""

from __future__ import annotations

from orlvlmf.policy.baselines.config import BCConfig, DiffusionConfig, GAILConfig
from orlvlmf.policy.config import IQLConfig
from orlvlmf.registry import register_lazy

register_lazy("learners", "iql", "orlvlmf.policy.iql:IQL", config=IQLConfig)
register_lazy("learners", "bc", "orlvlmf.policy.baselines.bc:BC", config=BCConfig)
register_lazy("learners", "diffusion", "orlvlmf.policy.baselines.diffusion:DiffusionPolicy",
              config=DiffusionConfig)
register_lazy("learners", "gail", "orlvlmf.policy.baselines.gail:GAIL", config=GAILConfig)
