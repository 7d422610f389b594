"""Pipeline stages ``reward`` (train r_psi on the labeled pairs) and ``relabel`` (score every transition).

Seeds: the reward stage runs once per run seed; its training seed is ``seed + reward.seed``.
GT held-out metrics use transitions that appear in no labeled pair, scored on o'_i like the labels.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from orlvlmf.pipeline.manifest import atomic_write_text, canonical_hash, content_hash
from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import register
from orlvlmf.reward.active import BRIEF_FIT_SETS


def _section(ctx: StageContext, name: str) -> dict[str, Any]:
    return OmegaConf.to_container(ctx.cfg[name], resolve=True)


def _check_reward_cfg(cfg: dict[str, Any]) -> None:
    """The ranges ``RewardConfig`` declares (the loader checks them first) and ``ties``."""
    from orlvlmf.config.structured import value_problem
    from orlvlmf.reward.config import RewardConfig

    problems = []
    if cfg["ties"] not in ("drop", "half"):
        problems.append(f"reward.ties must be 'drop' or 'half', got '{cfg['ties']}'")
    bad = value_problem(RewardConfig, cfg, "reward.")
    if bad:
        problems.append(bad[1])
    if problems:
        raise StageError("; ".join(problems))


def _clear_errors():
    """Exceptions whose message already says what is wrong and how to fix it."""
    from orlvlmf.data.dataset import DatasetError
    from orlvlmf.reward.data import PairsError
    from orlvlmf.encoders import EncoderInputError

    return (DatasetError, PairsError, EncoderInputError, FileNotFoundError)


def held_out_gt(full: Any, pairs: Any, observation: str, n: int, seed: int):
    """GTEval of up to ``n`` random transitions that no labeled pair uses (their o'_i and GT r_i)."""
    import torch

    from orlvlmf.reward.train import GTEval

    used = np.zeros(full.num_transitions, bool)
    used[pairs.idx0] = True
    used[pairs.idx1] = True
    free = np.flatnonzero(~used)
    if n <= 0 or len(free) < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(free, size=min(n, len(free)), replace=False))
    frames = torch.from_numpy(np.ascontiguousarray(full.next_observations(observation, idx)))
    return GTEval(frames, full.ground_truth().reward[idx], idx)


@register("stages", "reward")
class RewardStage(Stage):
    sections = ("reward", "trainer")
    inputs = ("collect/dataset.h5", "label/pairs.npz")
    outputs = ("reward_model.ckpt", "reward_metrics.json")
    per_seed = True
    description = "train the Bradley-Terry reward model on the labeled pairs"
    brief_fit_sets = BRIEF_FIT_SETS  # reward keys score_pool's brief fit sets itself

    @staticmethod
    def score_pool(*args, **kwargs):
        """Members' rewards of candidate pairs after a brief fit (:func:`orlvlmf.reward.active.score_pool`);
        the label stage's ``pairs.strategy: disagreement`` asks for it through the registry."""
        from orlvlmf.reward.active import score_pool

        return score_pool(*args, **kwargs)

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.reward.data import load_pairs
        from orlvlmf.reward.model import save_reward_net
        from orlvlmf.reward.train import train_reward_model

        cfg, trainer = _section(ctx, "reward"), _section(ctx, "trainer")
        _check_reward_cfg(cfg)
        ctx.set_torch_threads()
        seed = int(ctx.seed or 0) + int(cfg["seed"])
        try:
            full = OfflineDataset.open(ctx.input("collect/dataset.h5"))
            view = full.without_ground_truth()
            pairs = load_pairs(ctx.input("label/pairs.npz"), view.num_transitions, str(view.path))
            gt = None
            if full.has_ground_truth:
                full.require([cfg["observation"]])
                gt = held_out_gt(full, pairs, cfg["observation"], int(cfg["gt_eval_transitions"]), seed)
            version = f"seed_{ctx.seed if ctx.seed is not None else 0}"
            tb_dir = Path(ctx.run_dir) / "tb" / "reward"
            if not ctx.resumable(Path(ctx.work_dir) / "checkpoints" / "last.ckpt"):
                shutil.rmtree(tb_dir / version, ignore_errors=True)  # a fresh fit: old curves go
            net, summary = train_reward_model(view, pairs, cfg, trainer=trainer, work_dir=ctx.work_dir,
                                              tb_dir=tb_dir, seed=seed, gt=gt, tb_version=version)
        except _clear_errors() as err:
            raise StageError(f"reward: {err}") from None
        summary = {"observation": cfg["observation"], "encoder": cfg["encoder"]["name"], "seed": seed,
                   "config_hash": canonical_hash({"reward": cfg}), **summary}
        save_reward_net(net, ctx.output("reward_model.ckpt"), extra={"summary": summary})
        atomic_write_text(ctx.output("reward_metrics.json"), json.dumps(summary, indent=2, default=float))
        keys = ("pairs_used", "epochs", "train_acc", "val_acc", "gt_spearman")
        return {k: summary[k] for k in keys if summary.get(k) is not None}


@register("stages", "relabel")
class RelabelStage(Stage):
    sections = ("relabel", "reward")
    inputs = ("collect/dataset.h5", "reward/reward_model.ckpt")
    outputs = ("rewards.npz",)
    per_seed = True
    description = "score every transition with the reward ensemble (new reward column)"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from orlvlmf.data.dataset import OfflineDataset
        from orlvlmf.pipeline.progress import Progress, progress_enabled
        from orlvlmf.reward.column import normalization, write_rewards
        from orlvlmf.reward.model import load_reward_net
        from orlvlmf.reward.relabel import relabel_dataset

        rcfg = _section(ctx, "relabel")
        ctx.set_torch_threads()
        ckpt = ctx.input("reward/reward_model.ckpt")
        t0 = time.perf_counter()
        try:
            net, _ = load_reward_net(ckpt)
            net.to(ctx.torch_device())
            full = OfflineDataset.open(ctx.input("collect/dataset.h5"))
            observation = net.spec["observation"]
            bar = Progress(full.num_transitions, f"relabel (seed {ctx.seed})",
                           progress_enabled(ctx.cfg.trainer.progress))
            with bar:
                mean, std = relabel_dataset(net, full.without_ground_truth(), observation, rcfg["score"],
                                            int(rcfg["batch_size"]), str(rcfg["precision"]),
                                            on_batch=bar.advance)
        except (*_clear_errors(), ValueError) as err:
            raise StageError(f"relabel: {err}") from None
        shift, mult = normalization(mean, rcfg["normalize"], full.episode_index, float(rcfg["scale"]))
        config_hash = canonical_hash({"reward": _section(ctx, "reward"), "relabel": rcfg})
        write_rewards(ctx.output("rewards.npz"), mean, std, method=rcfg["normalize"], shift=shift,
                      mult=mult, score=rcfg["score"], observation=observation,
                      ckpt_sha256=content_hash(Path(ckpt)), config_hash=config_hash)
        seconds = time.perf_counter() - t0
        summary: dict[str, Any] = {"transitions": int(len(mean)), "raw_min": float(mean.min()),
                                   "raw_max": float(mean.max()), "normalize": rcfg["normalize"],
                                   "transitions_per_s": round(len(mean) / max(seconds, 1e-9), 1)}
        if full.has_ground_truth:  # a figure for the record only; the column itself never saw GT
            from orlvlmf.reward.train import correlations

            summary["gt_spearman"] = correlations(mean, full.ground_truth().reward)["spearman"]
        log_relabel(ctx, full, ((mean.astype(np.float64) - shift) * mult), std, summary)
        return summary


def log_relabel(ctx: StageContext, ds: Any, reward: np.ndarray, std: np.ndarray, summary: dict,
                episodes: int = 4) -> None:
    """``tb/relabel/seed_<k>``: histograms of the learned reward and the ensemble std, the learned
    (and, when known, true) reward along ``episodes`` episodes drawn with seed 0 (the report's),
    as a figure and as curves over time steps, and the stage's summary figures."""
    from orlvlmf.pipeline import tensorboard as tb

    writer = tb.stage_writer(ctx.run_dir, "relabel", ctx.seed or 0)
    try:
        tb.add_scalars(writer, "relabel", summary)
        writer.add_histogram("relabel/learned_reward", reward, 0)
        writer.add_histogram("relabel/ensemble_std", std, 0)
        true = ds.ground_truth().reward if ds.has_ground_truth else None
        chosen = np.sort(np.random.default_rng(0).choice(ds.num_episodes, min(episodes, ds.num_episodes),
                                                         replace=False))
        series = []
        for e in chosen:
            sl = ds.episode_slice(int(e))
            series.append((f"episode {e}", reward[sl], None if true is None else true[sl]))
            tb.add_series(writer, f"reward_along_episodes/episode_{e}/learned", reward[sl])
            if true is not None:
                tb.add_series(writer, f"reward_along_episodes/episode_{e}/true", true[sl])
        title = "Learned" + (" vs true" if true is not None else "") + " reward along episodes"
        writer.add_figure("relabel/reward_along_episodes", tb.episodes_figure(series, title), 0)
    finally:
        writer.close()
