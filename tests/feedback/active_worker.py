"""Label stage with ``pairs.strategy: disagreement`` against a VLM endpoint, run as its own process
(the kill -9 test of active rounds kills it and runs it again on the same run directory).

usage: python active_worker.py DATASET RUN_DIR API_BASE
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PAIRS = {"num_queries": 30, "min_gap": 2, "seed": 0, "strategy": "disagreement", "initial_queries": 10,
         "round_queries": 10, "pool_size": 200, "round_epochs": 3, "round_ensemble": 2}
REWARD = {"observation": "state", "encoder": {"name": "mlp", "hidden": [16]}, "batch_size": 16,
          "val_fraction": 0.2, "augment": False}


def stage_config(feedback: dict, pairs: dict | None = None, reward: dict | None = None):
    from omegaconf import OmegaConf

    from orlvlmf.config.schema import TrainerConfig
    from orlvlmf.feedback.config import LabelStoreConfig, PairsConfig
    from orlvlmf.reward.config import RewardConfig

    return OmegaConf.create({
        "task": None, "feedback": feedback,
        "pairs": OmegaConf.merge(OmegaConf.structured(PairsConfig), {**PAIRS, **(pairs or {})}),
        "labels": OmegaConf.structured(LabelStoreConfig),
        "reward": OmegaConf.merge(OmegaConf.structured(RewardConfig), {**REWARD, **(reward or {})}),
        "trainer": OmegaConf.merge(OmegaConf.structured(TrainerConfig), {"num_threads": 1, "progress": False})})


def stage_context(cfg, dataset, run_dir):
    from pathlib import Path

    from orlvlmf.pipeline.stage import StageContext

    run_dir = Path(run_dir)
    staging = run_dir / ".staging" / "label"
    staging.mkdir(parents=True, exist_ok=True)
    return StageContext(cfg=cfg, run_dir=run_dir, stage="label", seed=None, staging_dir=staging,
                        work_dir=run_dir / ".work" / "label", inputs={"collect/dataset.h5": Path(dataset)})


def main(argv: list[str]) -> int:
    import logging

    from orlvlmf.feedback.stage import LabelStage

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dataset, run_dir, api_base = argv
    feedback = {"name": "litellm", "model": "openai/fake-vlm", "api_base": api_base, "image_size": 32,
                "concurrency": 2, "timeout_s": 10.0, "backoff_s": 0.05}
    summary = LabelStage().run(stage_context(stage_config(feedback), dataset, run_dir))
    print(f"DONE pairs={summary['pairs']} cached={summary['cached']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
