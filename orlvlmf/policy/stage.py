"""Stage ``train``: fit the configured learner (IQL by default) on the relabeled dataset.

Reward column by ``train.reward``: ``learned`` (``relabel/rewards.npz``), ``ground_truth`` or
``average`` (the dataset's true reward mapped by ``train.true_reward_normalize``, or its mean on
every transition), times ``train.reward_scale``.  Every ``train.eval_every`` steps the policy is rolled out in the env
(``train.eval_episodes`` episodes, mean action); metrics go to TensorBoard under
``<run>/tb/train/seed_<k>`` and to ``train_metrics.json``.  ``last.ckpt`` in the stage's work dir
is rewritten every ``train.checkpoint_every`` steps; an interrupted stage resumes from it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.policy.config import REWARD_ARTIFACTS, REWARD_SOURCES
from orlvlmf.registry import register


def select_rewards(ds: Any, source: str, rewards_path: Path | None, scale: float = 1.0,
                   true_normalize: str = "none") -> np.ndarray:
    """The (N,) reward column IQL trains on (see the module docstring)."""
    if source not in REWARD_SOURCES:
        raise StageError(f"train.reward must be one of {', '.join(REWARD_SOURCES)}, got '{source}'")
    n = ds.num_transitions
    if source in REWARD_ARTIFACTS:
        from orlvlmf.reward.relabel import load_rewards

        if rewards_path is None:
            ref = REWARD_ARTIFACTS[source]
            raise StageError(f"train.reward={source} needs {ref}: run `orlvlmf {ref.split('/')[0]}`")
        reward = load_rewards(rewards_path, n).reward.astype(np.float32)
    else:
        if not ds.has_ground_truth:
            raise StageError(f"train.reward={source} needs the dataset's ground-truth reward, which "
                             f"{ds.path} does not have; use train.reward=learned")
        from orlvlmf.reward.relabel import normalization

        raw = ds.ground_truth().reward
        try:
            shift, mult = normalization(raw, true_normalize, ds.episode_index,
                                        setting="train.true_reward_normalize")
        except ValueError as err:
            raise StageError(str(err)) from None
        gt = ((raw.astype(np.float64) - shift) * mult).astype(np.float32)
        reward = gt if source == "ground_truth" else np.full(n, gt.mean(), np.float32)
    return reward * np.float32(scale)


@register("stages", "train")
class TrainStage(Stage):
    # env and evaluation.seed: the periodic evaluation during training depends on them
    sections = ("policy", "train", "trainer", "env", "evaluation.seed")
    outputs = ("policy.ckpt", "train_metrics.json")
    per_seed = True
    description = "train the policy on the relabeled dataset"

    def input_refs(self, cfg) -> tuple[str, ...]:
        """The dataset, plus the reward column when ``train.reward`` is learned or clip."""
        extra = REWARD_ARTIFACTS.get(str(cfg.train.reward))
        return ("collect/dataset.h5",) + ((extra,) if extra else ())

    def run(self, ctx: StageContext) -> dict:
        import torch

        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.policy.buffer import buffer_from_dataset
        from orlvlmf.registry import REGISTRY

        cfg, tcfg = ctx.cfg, ctx.cfg.train
        torch.set_num_threads(max(1, int(cfg.trainer.num_threads)))
        seed = int(tcfg.seed) + int(ctx.seed or 0)
        ds = OfflineDataset.open(ctx.input("collect/dataset.h5"))
        ref = REWARD_ARTIFACTS.get(str(tcfg.reward))
        reward_path = ctx.inputs.get(ref) if ref else None
        reward = select_rewards(ds, str(tcfg.reward), reward_path, float(tcfg.reward_scale),
                                str(tcfg.true_reward_normalize))
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
