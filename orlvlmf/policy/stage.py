"""Stage ``train``: fit the configured learner (IQL by default) on the relabeled dataset.

The reward column is ``train.reward``'s (:mod:`orlvlmf.reward.column`: learned, clip,
ground_truth or average), times ``train.reward_scale``.  Every ``train.eval_every`` steps the
policy is rolled out in the env (``train.eval_episodes`` episodes, mean action, see
:mod:`orlvlmf.env.rollout`; skipped with one line when the run has no env);
metrics go to TensorBoard under ``<run>/tb/train/seed_<k>`` and to ``train_metrics.json``.
``last.ckpt`` in the stage's work dir is rewritten every ``train.checkpoint_every`` steps; an
interrupted stage resumes from it.

Actions outside [-1, 1] are scaled to [-1, 1] for training and the policy acts in the data's
units (:mod:`orlvlmf.policy.normalization`).  ``train.holdout_episodes`` keeps episodes out of
training for the offline diagnostics in ``train_metrics.json["offline"]``
(:mod:`orlvlmf.policy.offline`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from orlvlmf.pipeline.stage import Stage, StageContext
from orlvlmf.registry import register
from orlvlmf.reward import column


@register("stages", "train")
class TrainStage(Stage):
    # env and evaluation.seed: the periodic evaluation during training depends on them
    sections = ("policy", "train", "trainer", "env", "evaluation.seed")
    outputs = ("policy.ckpt", "train_metrics.json")
    per_seed = True
    description = "train the policy on the relabeled dataset"

    def missing_simulator(self, cfg) -> str | None:
        from orlvlmf.policy.base import needs_env
        from orlvlmf.registry import REGISTRY

        if cfg.env is None and needs_env(REGISTRY.config_class("learners", cfg.policy.name)):
            return (f"policy '{cfg.policy.name}' learns by interacting with a simulator and this run "
                    f"has no env: set env, or use a learner that learns from the data alone "
                    f"(iql, bc, diffusion)")
        return None

    def input_refs(self, cfg) -> tuple[str, ...]:
        """The dataset, plus the reward column when ``train.reward`` is learned or clip."""
        extra = column.artifact(str(cfg.train.reward))
        return ("collect/dataset.h5",) + ((extra,) if extra else ())

    def run(self, ctx: StageContext) -> dict:
        import torch

        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.env import check_env_shapes, make_env
        from orlvlmf.policy.buffer import buffer_from_dataset
        from orlvlmf.policy.normalization import dataset_action_bounds
        from orlvlmf.policy.offline import holdout_split, offline_diagnostics
        from orlvlmf.registry import REGISTRY

        cfg, tcfg = ctx.cfg, ctx.cfg.train
        ctx.set_torch_threads()
        seed = int(tcfg.seed) + int(ctx.seed or 0)
        ds = OfflineDataset.open(ctx.input("collect/dataset.h5"))
        ref = column.artifact(str(tcfg.reward))
        reward = column.reward_column(ds, str(tcfg.reward), ctx.inputs.get(ref) if ref else None,
                                      float(tcfg.reward_scale), str(tcfg.true_reward_normalize))
        obs_spec = {k: ds.observation_shape(k) for k in ds.observation_keys}
        learner_cls = REGISTRY.get("learners", cfg.policy.name)  # imports first, then seed the init
        torch.manual_seed(seed)
        learner = learner_cls(cfg.policy, obs_spec, ds.action_dim)
        bounds = dataset_action_bounds(ds.metadata, ds.action_dim)
        if bounds is not None:
            learner.set_action_bounds(*bounds)
            ctx.log(f"actions outside [-1, 1]: trained scaled to [-1, 1] from {_fmt(*bounds)}; the "
                    f"policy acts in the data's units")
        share = tcfg.holdout_episodes
        share = (0.1 if cfg.env is None else 0.0) if share is None else float(share)
        train_idx, held_idx = holdout_split(ds, share, seed)
        buffer = buffer_from_dataset(ds, learner.observation_key, reward,
                                     actions=learner.to_unit_actions(ds.actions), transitions=train_idx)

        def env_factory():
            """The run's env, checked against the policy's shapes: for the periodic evaluation and
            for learners that interact with it (GAIL)."""
            env = make_env(cfg.env, observations=(learner.observation_key,))
            try:
                check_env_shapes(env, learner.action_dim, (learner.obs_spec.get("state") or (None,))[0],
                                 "the policy's training data")
            except Exception:
                env.close()
                raise
            return env

        evaluator = _PeriodicEval(env_factory, learner.observation_key, int(tcfg.eval_episodes),
                                  int(cfg.evaluation.seed))
        periodic = [(int(tcfg.eval_every), evaluator)] if int(tcfg.eval_every) > 0 else []
        if periodic and cfg.env is None:
            ctx.log("periodic evaluation skipped: the run has no env (imported data); the offline "
                    "diagnostics in train_metrics.json judge the policy instead")
            periodic = []
        ckpt = Path(ctx.work_dir) / "last.ckpt"
        resumed = ctx.resumable(ckpt)  # an unreadable one is set aside: a fresh start
        logger = _tb_logger(Path(ctx.run_dir) / "tb" / "train", f"seed_{ctx.seed or 0}", fresh=not resumed)
        t0 = time.perf_counter()
        try:
            learner.fit(buffer, int(tcfg.steps), trainer=cfg.trainer, logger=logger, periodic=periodic,
                        checkpoint=(ckpt, int(tcfg.checkpoint_every)), seed=seed,
                        log_every=int(tcfg.log_every),
                        env_factory=env_factory if cfg.env is not None else None)
        finally:
            evaluator.close()
            if logger is not None:
                logger.finalize("success")
        seconds = time.perf_counter() - t0
        learner.save(ctx.output("policy.ckpt"))
        offline = offline_diagnostics(learner, ds, train_idx, held_idx)
        ds.close()
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
            "history": learner.history, "evals": evals, "offline": offline,
            "action_bounds": None if bounds is None else [b.tolist() for b in bounds],
        }
        ctx.output("train_metrics.json").write_text(json.dumps(metrics, indent=2))
        summary = {"steps": learner.step, "steps_per_s": metrics["steps_per_s"]}
        if evals:
            summary["eval_success"] = evals[-1]["eval/success_rate"]
            summary["eval_return"] = round(evals[-1]["eval/return_mean"], 3)
        if "action_mae" in offline:
            summary["heldout_action_mae"] = round(offline["action_mae"], 4)
        return summary


def _fmt(low: np.ndarray, high: np.ndarray) -> str:
    return " × ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in zip(low, high))


class _PeriodicEval:
    """Rollouts during training; the env is built on first use and reused."""

    def __init__(self, env_factory: Callable[[], Any], observation: str, episodes: int, seed: int):
        self.env_factory, self.observation = env_factory, observation
        self.episodes, self.seed = max(1, episodes), seed
        self.env = None
        self.seconds = 0.0

    def __call__(self, learner: Any) -> dict[str, float]:
        from orlvlmf.env.rollout import evaluate_policy

        t0 = time.perf_counter()
        if self.env is None:
            self.env = self.env_factory()
        res = evaluate_policy(learner.act, self.env, self.episodes, seed=self.seed,
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
