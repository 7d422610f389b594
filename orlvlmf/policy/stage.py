"""Stage ``train``: fit the configured learner (IQL by default) on the relabeled dataset.

The reward column is ``train.reward``'s (:mod:`orlvlmf.reward.column`: learned, clip,
ground_truth or average), times ``train.reward_scale``.  Every ``train.eval_every`` steps the
policy is rolled out in the env (``train.eval_episodes`` episodes, mean action; see
:mod:`orlvlmf.env.rollout`); metrics go to TensorBoard under
``<run>/tb/train/seed_<k>`` and to ``train_metrics.json``.  ``last.ckpt`` in the stage's work dir
is rewritten every ``train.checkpoint_every`` steps; an interrupted stage resumes from it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from orlvlmf.pipeline.stage import Stage, StageContext, torch_threads
from orlvlmf.registry import register
from orlvlmf.reward import column


@register("stages", "train")
class TrainStage(Stage):
    # env and evaluation.seed: the periodic evaluation during training depends on them
    sections = ("policy", "train", "trainer", "env", "evaluation.seed")
    outputs = ("policy.ckpt", "train_metrics.json")
    per_seed = True
    description = "train the policy on the relabeled dataset"

    def input_refs(self, cfg) -> tuple[str, ...]:
        """The dataset, plus the reward column when ``train.reward`` is learned or clip."""
        extra = column.artifact(str(cfg.train.reward))
        return ("collect/dataset.h5",) + ((extra,) if extra else ())

    def run(self, ctx: StageContext) -> dict:
        import torch

        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.policy.buffer import buffer_from_dataset
        from orlvlmf.registry import REGISTRY

        cfg, tcfg = ctx.cfg, ctx.cfg.train
        torch.set_num_threads(torch_threads(cfg.trainer.num_threads))
        seed = int(tcfg.seed) + int(ctx.seed or 0)
        ds = OfflineDataset.open(ctx.input("collect/dataset.h5"))
        ref = column.artifact(str(tcfg.reward))
        reward = column.reward_column(ds, str(tcfg.reward), ctx.inputs.get(ref) if ref else None,
                                      float(tcfg.reward_scale), str(tcfg.true_reward_normalize))
        obs_spec = {k: ds.observation_shape(k) for k in ds.observation_keys}
        learner_cls = REGISTRY.get("learners", cfg.policy.name)  # imports first, then seed the init
        torch.manual_seed(seed)
        learner = learner_cls(cfg.policy, obs_spec, ds.action_dim)
        buffer = buffer_from_dataset(ds, learner.observation_key, reward)
        ds.close()

        evaluator = _PeriodicEval(cfg, learner.observation_key, int(tcfg.eval_episodes))
        periodic = [(int(tcfg.eval_every), evaluator)] if int(tcfg.eval_every) > 0 else []
        ckpt = Path(ctx.work_dir) / "last.ckpt"
        resumed = ckpt.exists()
        logger = _tb_logger(Path(ctx.run_dir) / "tb" / "train", f"seed_{ctx.seed or 0}", fresh=not resumed)
        t0 = time.perf_counter()
        try:
            learner.fit(buffer, int(tcfg.steps), trainer=cfg.trainer, logger=logger, periodic=periodic,
                        checkpoint=(ckpt, int(tcfg.checkpoint_every)), seed=seed,
                        log_every=int(tcfg.log_every))
        finally:
            evaluator.close()
            if logger is not None:
                logger.finalize("success")
        seconds = time.perf_counter() - t0
        learner.save(ctx.output("policy.ckpt"))
        evals = [h for h in learner.history if "eval/success_rate" in h]
        train_s = max(seconds - evaluator.seconds, 1e-9)
        metrics = {
            "learner": cfg.policy.name, "steps": learner.step, "seed": seed, "resumed": resumed,
            "reward": {"source": str(tcfg.reward), "scale": float(tcfg.reward_scale),
                       "mean": float(reward.mean()), "std": float(reward.std()),
                       "min": float(reward.min()), "max": float(reward.max())},
            "transitions": int(buffer.num_transitions), "seconds": round(seconds, 2),
            "eval_seconds": round(evaluator.seconds, 2),
            "steps_per_s": round(evaluator.steps_run(learner) / train_s, 1),
            "history": learner.history, "evals": evals,
        }
        ctx.output("train_metrics.json").write_text(json.dumps(metrics, indent=2))
        summary = {"steps": learner.step, "steps_per_s": metrics["steps_per_s"]}
        if evals:
            summary["eval_success"] = evals[-1]["eval/success_rate"]
            summary["eval_return"] = round(evals[-1]["eval/return_mean"], 3)
        return summary


class _PeriodicEval:
    """Rollouts during training; the env is built on first use and reused."""

    def __init__(self, cfg: Any, observation: str, episodes: int):
        self.cfg, self.observation, self.episodes = cfg, observation, max(1, episodes)
        self.env = None
        self.seconds = 0.0
        self.start_step: int | None = None

    def __call__(self, learner: Any) -> dict[str, float]:
        from orlvlmf.env.rollout import evaluate_policy

        t0 = time.perf_counter()
        if self.env is None:
            from orlvlmf.env import make_env

            self.env = make_env(self.cfg.env, observations=(self.observation,))
        res = evaluate_policy(learner.act, self.env, self.episodes, seed=int(self.cfg.evaluation.seed),
                              observation=self.observation)
        self.seconds += time.perf_counter() - t0
        return {"eval/success_rate": res.success_rate, "eval/return_mean": res.return_mean,
                "eval/return_std": res.return_std}

    def steps_run(self, learner: Any) -> int:
        return learner.step - (learner.fit_start_step or 0)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def _tb_logger(root: Path, version: str, fresh: bool):
    try:
        from lightning.pytorch.loggers import TensorBoardLogger
    except ImportError:  # pragma: no cover - tensorboard is a dependency
        return None
    if fresh:
        shutil.rmtree(root / version, ignore_errors=True)  # a fresh fit: old curves go
    return TensorBoardLogger(save_dir=str(root), name="", version=version, default_hp_metric=False)
