"""The ``report`` stage: ``report/report.md`` with PNG plots of every stage's results.

Sections: dataset statistics, labels (counts, −1 rate, order consistency, agreement with ground
truth when there is one), reward model (held-out accuracy on the labels, ensemble disagreement,
correlation with ground truth when there is one), the learned reward along sampled episodes with
the frames at its minimum and maximum, policy learning curves and offline diagnostics (action
error on held-out episodes, Q / V), and the final success / return as mean (std) over seeds.
Each section appears when its stage ran; without ground truth or a simulator the report shows
what can be checked without them (no empty fields).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.data.dataset import OfflineDataset, episode_returns, episode_success
from orlvlmf.pipeline.stage import Stage, StageContext
from orlvlmf.registry import register
from orlvlmf.report import plots
from orlvlmf.report.aggregate import fmt_mean_std
from orlvlmf.reward.column import load_rewards

#: stage → artifacts the report reads when that stage is part of the run
REPORTED = {
    "collect": ("dataset.h5",),
    "label": ("pairs.npz", "labels.sqlite"),
    "reward": ("reward_metrics.json",),
    "relabel": ("rewards.npz",),
    "train": ("train_metrics.json",),
    "evaluate": ("eval.json",),
}


def _per_seed(ctx: StageContext, ref: str) -> dict[int, Path]:
    """Seed → path for a per-seed artifact (inputs are named ``ref@seed<k>``)."""
    out = {}
    for name, path in ctx.inputs.items():
        if name.startswith(ref + "@seed"):
            out[int(name.rsplit("@seed", 1)[1])] = path
    return dict(sorted(out.items()))


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@register("stages", "report")
class ReportStage(Stage):
    sections = ("name", "seeds", "task")
    outputs = ("report",)
    description = "report.md with plots"

    def input_refs(self, cfg) -> tuple[str, ...]:
        """What the run's stages wrote, leaving out stages that cannot run (no simulator)."""
        from orlvlmf.pipeline.runner import load_stage

        return tuple(f"{s}/{a}" for s in cfg.stages if s in REPORTED
                     and load_stage(s).missing_simulator(cfg) is None for a in REPORTED[s])

    def run(self, ctx: StageContext) -> dict[str, Any]:
        out = ctx.output("report")
        out.mkdir(parents=True, exist_ok=True)
        md: list[str] = [f"# Run `{ctx.cfg.name}`", ""]
        if ctx.cfg.task:
            md += [f"Task: {ctx.cfg.task}", ""]
        summary: dict[str, Any] = {}
        self._gt_reward = None  # the dataset's GT reward column, read once for every section
        if "collect/dataset.h5" in ctx.inputs:
            md += self._dataset(ctx.inputs["collect/dataset.h5"], out, summary)
        if "label/pairs.npz" in ctx.inputs:
            md += self._labels(ctx, out, summary)
        if _per_seed(ctx, "reward/reward_metrics.json"):
            md += self._reward(ctx, out, summary)
        if _per_seed(ctx, "relabel/rewards.npz") and "collect/dataset.h5" in ctx.inputs:
            md += self._learned_reward(ctx, out, summary)
        if _per_seed(ctx, "train/train_metrics.json"):
            md += self._training(ctx, out)
            md += self._offline_policy(ctx, summary)
        if _per_seed(ctx, "evaluate/eval.json"):
            md += self._evaluation(ctx, out, summary)
        (out / "report.md").write_text("\n".join(md) + "\n")
        return summary

    # -- sections -------------------------------------------------------------------------------
    def _dataset(self, path: Path, out: Path, summary: dict) -> list[str]:
        with OfflineDataset.open(path) as ds:
            return self._dataset_section(ds, out, summary)

    def _dataset_section(self, ds: Any, out: Path, summary: dict) -> list[str]:
        meta = ds.metadata
        md = ["## Dataset", "", "| field | value |", "|---|---|"]
        for key in ("env_id", "source", "source_path", "keys", "task_text", "collector", "quality",
                    "seed", "image_size", "camera", "fps", "lerobot_version", "video_codecs"):
            if meta.get(key) not in (None, "", [], {}):
                value = meta[key]
                md.append(f"| {key} | {json.dumps(value) if isinstance(value, (dict, list)) else value} |")
        md += [f"| episodes | {ds.num_episodes} |", f"| transitions | {ds.num_transitions} |",
               f"| observations | {', '.join(ds.observation_keys)} |"]
        if "action_min" in meta:
            md.append("| action range per dimension | "
                      + ", ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in zip(meta["action_min"], meta["action_max"]))
                      + " |")
        if ds.has_ground_truth:
            gt = ds.ground_truth()
            self._gt_reward = gt.reward
            returns = episode_returns(gt.reward, ds.episode_index)
            success = episode_success(gt.success, ds.episode_index)
            md += [f"| GT return per episode | {returns.mean():.2f} ± {returns.std():.2f} |",
                   f"| GT success (any step) | {success.mean():.3f} |"]
            plots.histogram(out / "dataset_returns.png", returns, "Dataset episodes", "GT return")
            md += ["", "![GT returns of the dataset's episodes](dataset_returns.png)"]
            summary["dataset_success"] = float(success.mean())
        return md + [""]

    def _labels(self, ctx: StageContext, out: Path, summary: dict) -> list[str]:
        pairs = np.load(ctx.inputs["label/pairs.npz"])
        labels = pairs["label"]
        counts = {name: int((labels == v).sum()) for name, v in (("image 1", 0), ("image 2", 1), ("tie / unsure", -1))}
        md = ["## Preference labels", "", f"{len(labels)} queries: " +
              ", ".join(f"{k} better: {v}" if k != "tie / unsure" else f"{k}: {v}" for k, v in counts.items())
              + f"; −1 rate {_pct(float(np.mean(labels == -1)) if len(labels) else 0.0)}.", ""]
        plots.bars(out / "labels.png", list(counts), list(counts.values()), "Labels", "queries")
        md += ["![label counts](labels.png)", "", order_consistency_text(ctx.inputs["label/labels.sqlite"]), ""]
        summary["minus1_rate"] = round(float(np.mean(labels == -1)), 4) if len(labels) else 0.0
        md += self._audit(ctx, out, summary)
        summary["labels"] = len(labels)
        return md

    def _audit(self, ctx: StageContext, out: Path, summary: dict) -> list[str]:
        """Agreement of each backend's labels with noiseless GT preferences, by GT-reward gap."""
        if "collect/dataset.h5" not in ctx.inputs:
            return []
        from orlvlmf.feedback.audit import audit_store

        audits = audit_store(ctx.inputs["label/labels.sqlite"], ctx.inputs["collect/dataset.h5"])
        md = []
        for backend, audit in audits.items():
            o = audit["overall"]
            md += [f"### Agreement with ground truth: `{backend}`", "",
                   f"Agreement with noiseless scripted labels: **{_pct(o['agreement'])}** of "
                   f"{o['n_decided']} decided pairs; −1 rate {_pct(o['abstain_rate'])} of {o['n']}.", "",
                   "| GT-reward gap (share of range) | pairs | agreement | −1 rate |", "|---|---|---|---|"]
            for b in audit["buckets"]:
                md.append(f"| {b['gap_lo']:.2f}–{b['gap_hi']:.2f} | {b['n']} | {_pct(b['agreement'])} | "
                          f"{_pct(b['abstain_rate'])} |")
            md.append("")
            summary.setdefault("label_agreement", o["agreement"])
        return md

    def _reward(self, ctx: StageContext, out: Path, summary: dict) -> list[str]:
        metrics = {s: _read_json(p) for s, p in _per_seed(ctx, "reward/reward_metrics.json").items()}
        has_gt = any(m.get("gt_pearson") is not None for m in metrics.values())
        cols = [("pairs_train", "train pairs"), ("pairs_val", "held-out pairs"),
                ("train_acc", "train accuracy"), ("val_acc", "held-out accuracy")]
        cols += [("gt_pearson", "Pearson (GT)"), ("gt_spearman", "Spearman (GT)")] if has_gt else []
        rewards = _per_seed(ctx, "relabel/rewards.npz")
        disagreement = {s: _disagreement(p) for s, p in rewards.items()}
        md = ["## Reward model", "",
              "| seed | " + " | ".join(c for _, c in cols) + (" | ensemble std / reward std |" if disagreement else " |"),
              "|---|" + "---|" * (len(cols) + bool(disagreement))]
        for s, m in metrics.items():
            row = [_num(m.get(k)) for k, _ in cols]
            if disagreement:
                row.append(_num(disagreement.get(s)))
            md.append(f"| {s} | " + " | ".join(row) + " |")
        md += ["", "Accuracy: agreement of the reward model's preferences with the labeler's on labeled "
               "pairs (held-out: pairs it was not trained on). Ensemble std / reward std: the members' "
               "mean disagreement on a transition relative to the spread of the reward over the dataset "
               "(high: the reward is uncertain; label more)."]
        if has_gt:
            md += ["Pearson/Spearman: predicted vs ground-truth reward on held-out transitions "
                   "(frames no labeled pair used)."]
        if any(m.get("val_acc") is not None for m in metrics.values()):
            summary["reward_val_acc"] = fmt_mean_std([m.get("val_acc") for m in metrics.values()], 3)
        rewards = _per_seed(ctx, "relabel/rewards.npz")
        if rewards and self._gt_reward is not None:
            seed, path = next(iter(rewards.items()))
            learned = load_rewards(path).reward
            plots.scatter(out / "reward_vs_gt.png", self._gt_reward, learned,
                          f"Learned vs GT reward (seed {seed})", "GT reward", "learned reward")
            md += ["", "![learned reward against GT reward](reward_vs_gt.png)"]
        return md + [""]

    def _learned_reward(self, ctx: StageContext, out: Path, summary: dict, episodes: int = 4) -> list[str]:
        """The learned reward along sampled episodes, and the frames where it peaks and dips."""
        seed, path = next(iter(_per_seed(ctx, "relabel/rewards.npz").items()))
        col = load_rewards(path)
        reward, std = col.reward, col.reward_std
        md = ["## Learned reward along episodes", ""]
        with OfflineDataset.open(ctx.inputs["collect/dataset.h5"]) as ds:
            rng = np.random.default_rng(0)
            chosen = np.sort(rng.choice(ds.num_episodes, min(episodes, ds.num_episodes), replace=False))
            series, rows = {}, []
            for e in chosen:
                sl = ds.episode_slice(int(e))
                series[f"episode {e}"] = (list(range(sl.stop - sl.start)), reward[sl].tolist())
                if "image" in ds.observation_keys:
                    lo, hi = sl.start + int(np.argmin(reward[sl])), sl.start + int(np.argmax(reward[sl]))
                    frames = ds.next_observations("image", np.asarray([lo, hi]))
                    rows.append((f"episode {e}", [(f"min {reward[lo]:.2f} (step {lo - sl.start})", frames[0]),
                                                  (f"max {reward[hi]:.2f} (step {hi - sl.start})", frames[1])]))
            plots.curves(out / "reward_episodes.png", series, f"Learned reward (seed {seed})",
                         "step", "learned reward (of o'_t)")
            md += [f"Learned reward of seed {seed} along {len(chosen)} episodes drawn at random "
                   f"(the reward scores each transition's next frame). A useful reward rises as the "
                   f"task progresses and its maxima show the goal.", "",
                   "![learned reward along sampled episodes](reward_episodes.png)", ""]
            if rows:
                plots.frame_grid(out / "reward_extremes.png", rows, "Frames at the learned reward's "
                                 "minimum and maximum")
                md += ["![frames at the minimum and maximum of the learned reward](reward_extremes.png)", ""]
        md += [f"Over the dataset: learned reward mean {reward.mean():.3f}, std {reward.std():.3f}, "
               f"range [{reward.min():.3f}, {reward.max():.3f}]; ensemble std mean {std.mean():.3f}.", ""]
        summary["reward_std_mean"] = round(float(std.mean()), 4)
        return md

    def _offline_policy(self, ctx: StageContext, summary: dict) -> list[str]:
        """Held-out action error and Q / V statistics (``train_metrics.json["offline"]``)."""
        runs = {s: _read_json(p).get("offline") or {} for s, p in _per_seed(ctx, "train/train_metrics.json").items()}
        md = ["### Offline diagnostics", ""]
        with_err = {s: o for s, o in runs.items() if "action_mae" in o}
        if with_err:
            md += ["| seed | held-out episodes | action MAE | MAE of the mean action | action RMSE |",
                   "|---|---|---|---|---|"]
            for s, o in with_err.items():
                md.append(f"| {s} | {o['held_out_episodes']} | {o['action_mae']:.4f} | "
                          f"{o['mean_action_mae']:.4f} | {o['action_rmse']:.4f} |")
            md += ["", "Action error of the policy against the data's actions on episodes kept out of "
                   "training, beside always answering the training data's mean action (a policy that "
                   "learnt something is below it).", ""]
            summary["heldout_action_mae"] = fmt_mean_std([o["action_mae"] for o in with_err.values()], 4)
        else:
            md += ["No episodes were held out (`train.holdout_episodes` is 0), so there is no held-out "
                   "action error.", ""]
        qv = {s: o for s, o in runs.items() if "train_q" in o}
        if qv:
            md += ["| seed | split | Q(s, a) mean ± std | V(s) mean ± std | advantage mean ± std |",
                   "|---|---|---|---|---|"]
            for s, o in qv.items():
                for split in ("train", "held_out"):
                    if f"{split}_q" in o:
                        md.append(f"| {s} | {split.replace('_', '-')} | " + " | ".join(
                            f"{o[f'{split}_{k}']['mean']:.3f} ± {o[f'{split}_{k}']['std']:.3f}"
                            for k in ("q", "v", "advantage")) + " |")
            md += ["", "Q and V on the data's own transitions: held-out values far from the training "
                   "ones, or values beyond r_max / (1 − γ), point at over-estimation.", ""]
        return md

    def _training(self, ctx: StageContext, out: Path) -> list[str]:
        runs = {s: _read_json(p) for s, p in _per_seed(ctx, "train/train_metrics.json").items()}
        md = ["## Policy training", ""]
        learner = next(iter(runs.values())).get("learner", "?")
        md.append(f"Learner `{learner}`; " + ", ".join(
            f"seed {s}: {m.get('steps')} steps at {m.get('steps_per_s')} steps/s" for s, m in runs.items()))
        md.append("")
        plotted = (("evals", "eval/success_rate", "success rate", "train_success.png"),
                   ("evals", "eval/return_mean", "GT return", "train_return.png"),
                   ("history", "loss/q", "Q loss", "train_q_loss.png"),
                   ("history", "value/q", "mean Q", "train_q_value.png"))
        for rows, key, label, png in plotted:
            series = {}
            for s, m in runs.items():
                hist = [h for h in m.get(rows, []) if h.get(key) is not None]
                if hist:
                    series[f"seed {s}"] = ([h["step"] for h in hist], [h[key] for h in hist])
            if series:
                plots.curves(out / png, series, f"{learner}: {label}", "update step", label)
                md.append(f"![{label} during training]({png})")
        return md + [""]

    def _evaluation(self, ctx: StageContext, out: Path, summary: dict) -> list[str]:
        evals = {s: _read_json(p) for s, p in _per_seed(ctx, "evaluate/eval.json").items()}
        md = ["## Final evaluation", "", "| seed | episodes | success rate | GT return |", "|---|---|---|---|"]
        for s, e in evals.items():
            episodes = e.get("episodes")
            n = len(episodes) if isinstance(episodes, list) else episodes
            md.append(f"| {s} | {n} | {_num(e.get('success_rate'))} | {_num(e.get('return_mean'))} |")
        success = fmt_mean_std([e.get("success_rate") for e in evals.values()])
        ret = fmt_mean_std([e.get("return_mean") for e in evals.values()], 1)
        md.append(f"| **mean (std)** | | **{success}** | **{ret}** |")
        summary.update({"success": success, "return": ret})
        return md + [""]


def _disagreement(path: Path) -> float:
    """Mean ensemble std of the learned reward over the dataset, relative to the reward's std."""
    col = load_rewards(path)
    spread = float(np.std(col.reward_raw))
    return float(np.mean(col.reward_std) / spread) if spread > 0 else 0.0


def order_consistency_text(store: Path) -> str:
    """Order effects of labels asked both ways round (the same two frames, swapped), from the store."""
    from orlvlmf.feedback.summary import format_order_stats, store_order_stats

    return format_order_stats(store_order_stats(store))


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
