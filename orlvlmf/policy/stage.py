"""Stage ``train``: fit the configured learner (IQL by default) on the relabeled dataset.

Reward column by ``train.reward``: ``learned`` (``relabel/rewards.npz``), ``ground_truth`` or
``average`` (the dataset's true reward mapped by ``train.true_reward_normalize``, or its mean on
every transition), times ``train.reward_scale``.  Every ``train.eval_every`` steps the policy is rolled out in the env
(``train.eval_episodes`` episodes, mean action; skipped with one line when the run has no env);
metrics go to TensorBoard under ``<run>/tb/train/seed_<k>`` and to ``train_metrics.json``.
``last.ckpt`` in the stage's work dir is rewritten every ``train.checkpoint_every`` steps; an
interrupted stage resumes from it.

Actions outside [-1, 1] (``action_min`` / ``action_max`` in the dataset's metadata; a declared
action space widens them) are scaled to [-1, 1] for training and the bounds are stored with the
policy, which acts in the data's units.  ``train.holdout_episodes`` keeps episodes out of
training for the offline diagnostics (``train_metrics.json["offline"]``): the policy's action
error against the data on them (beside that of always answering the training mean action),
and for IQL the Q(s, a), V(s) and advantage statistics on held-out and training transitions.
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


def action_bounds(metadata: dict, action_dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """[low, high] to scale the data's actions from, or None when they lie within [-1, 1]."""
    lo, hi = metadata.get("action_min"), metadata.get("action_max")
    if lo is None or hi is None:
        return None
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if np.all(lo >= -1.0 - 1e-6) and np.all(hi <= 1.0 + 1e-6):
        return None
    space_lo, space_hi = metadata.get("action_space_low"), metadata.get("action_space_high")
    if space_lo is not None and space_hi is not None and len(space_lo) == action_dim:
        lo, hi = np.minimum(lo, space_lo), np.maximum(hi, space_hi)
    return lo, hi


def holdout_split(ds: Any, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) transition indices: ``share`` of the episodes (at least one, never
    all) drawn with ``seed``."""
    if share <= 0 or ds.num_episodes < 2:
        return np.arange(ds.num_transitions), np.zeros(0, np.int64)
    n_out = min(ds.num_episodes - 1, max(1, int(round(share * ds.num_episodes))))
    out_eps = np.random.default_rng(seed).choice(ds.num_episodes, n_out, replace=False)
    held = np.isin(ds.episode_index, out_eps)
    return np.flatnonzero(~held), np.flatnonzero(held)


def offline_diagnostics(learner: Any, ds: Any, train_idx: np.ndarray, held_idx: np.ndarray,
                        batch: int = 256) -> dict:
    """The policy judged against the data without a simulator (see the module docstring)."""
    key = learner.observation_key
    flat = len(ds.observation_shape(key)) == 1
    column = ds.load_all(key) if flat else None

    def obs(idx: np.ndarray) -> np.ndarray:
        return column[idx] if flat else ds.observations(key, idx)

    def stats(x: np.ndarray) -> dict:
        return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}

    out: dict[str, Any] = {"held_out_episodes": int(len(np.unique(ds.episode_index[held_idx]))),
                           "held_out_transitions": int(len(held_idx))}
    if len(held_idx):
        pred = np.concatenate([learner.act(obs(held_idx[i:i + batch]))
                               for i in range(0, len(held_idx), batch)])
        true = ds.actions[held_idx]
        mean_action = ds.actions[train_idx].mean(0)
        out["action_mae"] = float(np.abs(pred - true).mean())
        out["action_mae_per_dim"] = np.abs(pred - true).mean(0).tolist()
        out["action_rmse"] = float(np.sqrt(np.square(pred - true).mean()))
        out["mean_action_mae"] = float(np.abs(mean_action - true).mean())
    if hasattr(learner, "q_and_v"):
        rng = np.random.default_rng(0)
        for name, idx in (("held_out", held_idx), ("train", train_idx)):
            if not len(idx):
                continue
            idx = np.sort(rng.choice(idx, min(len(idx), 2048), replace=False))
            qv = [learner.q_and_v(obs(idx[i:i + batch]), learner.to_unit_actions(ds.actions[idx[i:i + batch]]))
                  for i in range(0, len(idx), batch)]
            q, v = np.concatenate([a for a, _ in qv]), np.concatenate([b for _, b in qv])
            out[f"{name}_q"], out[f"{name}_v"], out[f"{name}_advantage"] = stats(q), stats(v), stats(q - v)
    return out


@register("stages", "train")
class TrainStage(Stage):
    # env and evaluation.seed: the periodic evaluation during training depends on them
    sections = ("policy", "train", "trainer", "env", "evaluation.seed")
    outputs = ("policy.ckpt", "train_metrics.json")
    per_seed = True
    description = "train the policy on the relabeled dataset"

    def missing_simulator(self, cfg) -> str | None:
        from orlvlmf.registry import REGISTRY

        cls = REGISTRY.config_class("learners", cfg.policy.name)
        fields = getattr(cls, "__dataclass_fields__", {})
        if "env" in fields and not (cfg.policy.get("env") or {}).get("name"):
            return (f"policy '{cfg.policy.name}' learns by interacting with a simulator and policy.env "
                    f"is empty: set it (in YAML `env: ${{env}}` under policy) or use a learner that "
                    f"learns from the data alone (iql, bc, diffusion)")
        return None

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
        bounds = action_bounds(ds.metadata, ds.action_dim)
        if bounds is not None:
            learner.set_action_bounds(*bounds)
            ctx.log(f"actions outside [-1, 1]: trained scaled to [-1, 1] from {_fmt(*bounds)}; the "
                    f"policy acts in the data's units")
        share = tcfg.holdout_episodes
        share = (0.1 if cfg.env is None else 0.0) if share is None else float(share)
        train_idx, held_idx = holdout_split(ds, share, seed)
        buffer = buffer_from_dataset(ds, learner.observation_key, reward,
                                     actions=learner.to_unit_actions(ds.actions), transitions=train_idx)

        evaluator = _PeriodicEval(cfg, learner, int(tcfg.eval_episodes))
        periodic = [(int(tcfg.eval_every), evaluator)] if int(tcfg.eval_every) > 0 else []
        if periodic and cfg.env is None:
            ctx.log("periodic evaluation skipped: the run has no env (imported data); the offline "
                    "diagnostics in train_metrics.json judge the policy instead")
            periodic = []
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
    """Rollouts during training; the env is built on first use (checked against the policy's
    shapes) and reused."""

    def __init__(self, cfg: Any, learner: Any, episodes: int):
        self.cfg, self.observation, self.episodes = cfg, learner.observation_key, max(1, episodes)
        self.shapes = (learner.action_dim, (learner.obs_spec.get("state") or (None,))[0])
        self.env = None
        self.seconds = 0.0
        self.start_step: int | None = None

    def __call__(self, learner: Any) -> dict[str, float]:
        from orlvlmf.evaluation.rollout import evaluate_policy

        t0 = time.perf_counter()
        if self.env is None:
            from orlvlmf.env import check_env_shapes, make_env

            env = make_env(self.cfg.env, observations=(self.observation,))
            try:
                check_env_shapes(env, *self.shapes, "the policy's training data")
            except Exception:
                env.close()
                raise
            self.env = env
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
