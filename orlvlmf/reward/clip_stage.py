"""Stage ``clip_reward``: the CLIP-reward baseline's ``rewards.npz`` (see :mod:`orlvlmf.reward.clip_reward`).

Reads the ``clip`` config section (:class:`~orlvlmf.reward.config.ClipRewardConfig`; its
defaults when the run config has none) and the env name (for the default goal sentence).  The
output is the ``clip`` reward column (:mod:`orlvlmf.reward.column`) that ``train`` reads.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import register


@register("stages", "clip_reward")
class ClipRewardStage(Stage):
    sections = ("clip", "env.name")
    inputs = ("collect/dataset.h5",)
    outputs = ("rewards.npz",)
    per_seed = False
    description = "score every frame by CLIP similarity to the goal sentence (CLIP-reward baseline)"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from orlvlmf.config.structured import build
        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.reward.clip_reward import ClipWeightsError, write_clip_rewards
        from orlvlmf.reward.config import ClipRewardConfig

        ctx.set_torch_threads()
        env_name = OmegaConf.select(ctx.cfg, "env.name", default=None)
        try:
            cfg = build(ClipRewardConfig, OmegaConf.select(ctx.cfg, "clip", default=None), "clip")
            full = OfflineDataset.open(ctx.input("collect/dataset.h5"))
            try:  # CLIP never sees the ground truth
                return write_clip_rewards(ctx.output("rewards.npz"), full.without_ground_truth(), cfg,
                                          env_name)
            finally:
                full.close()
        except (ClipWeightsError, ValueError) as err:
            raise StageError(f"clip_reward: {err}") from None
