"""The ``report`` stage: ``report/report.md`` with PNG plots of every stage's results.

Sections: dataset statistics, labels (counts, agreement with ground truth), reward model
(accuracy, correlation, reward-vs-GT scatter), policy learning curves, and the final success /
return as mean (std) over seeds.  Each section appears when its stage is in ``cfg.stages``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.pipeline.stage import Stage, StageContext
from orlvlmf.registry import register
from orlvlmf.report import plots
from orlvlmf.report.aggregate import fmt_mean_std

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
        return tuple(f"{s}/{a}" for s in cfg.stages if s in REPORTED for a in REPORTED[s])

    def run(self, ctx: StageContext) -> dict[str, Any]:
        out = ctx.output("report")
        out.mkdir(parents=True, exist_ok=True)
        md: list[str] = [f"# Run `{ctx.cfg.name}`", ""]
        summary: dict[str, Any] = {}
        self._gt_reward = None  # the dataset's GT reward column, read once for every section
        if "collect/dataset.h5" in ctx.inputs:
            md += self._dataset(ctx.inputs["collect/dataset.h5"], out, summary)
        if "label/pairs.npz" in ctx.inputs:
            md += self._labels(ctx, out, summary)
        if _per_seed(ctx, "reward/reward_metrics.json"):
            md += self._reward(ctx, out, summary)
        if _per_seed(ctx, "train/train_metrics.json"):
            md += self._training(ctx, out)
        if _per_seed(ctx, "evaluate/eval.json"):
            md += self._evaluation(ctx, out, summary)
        (out / "report.md").write_text("\n".join(md) + "\n")
        return summary

    # -- sections -------------------------------------------------------------------------------
    def _dataset(self, path: Path, out: Path, summary: dict) -> list[str]:
        from orlvlmf.data.dataset import OfflineDataset

        with OfflineDataset.open(path) as ds:
            return self._dataset_section(ds, out, summary)

    def _dataset_section(self, ds: Any, out: Path, summary: dict) -> list[str]:
        meta = ds.metadata
        md = ["## Dataset", "", "| field | value |", "|---|---|"]
        for key in ("env_id", "task_text", "collector", "quality", "seed", "image_size", "camera"):
            if key in meta:
                value = meta[key]
                md.append(f"| {key} | {json.dumps(value) if isinstance(value, (dict, list)) else value} |")
        md += [f"| episodes | {ds.num_episodes} |", f"| transitions | {ds.num_transitions} |",
               f"| observations | {', '.join(ds.observation_keys)} |"]
        if ds.has_ground_truth:
            gt = ds.ground_truth()
            self._gt_reward = gt.reward
            returns = np.bincount(ds.episode_index, weights=gt.reward, minlength=ds.num_episodes)
            success = np.zeros(ds.num_episodes, bool)
            np.logical_or.at(success, ds.episode_index, gt.success.astype(bool))
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
              ", ".join(f"{k} better: {v}" if k != "tie / unsure" else f"{k}: {v}" for k, v in counts.items()), ""]
        plots.bars(out / "labels.png", list(counts), list(counts.values()), "Labels", "queries")
        md += ["![label counts](labels.png)", ""]
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
        md = ["## Reward model", "", "| seed | val. accuracy | Pearson (GT) | Spearman (GT) |",
              "|---|---|---|---|"]
        keys = ("val_acc", "gt_pearson", "gt_spearman")
        for s, m in metrics.items():
            md.append(f"| {s} | " + " | ".join(_num(m.get(k)) for k in keys) + " |")
        md.append("| mean (std) | " + " | ".join(
            fmt_mean_std([m.get(k) for m in metrics.values()], 3) for k in keys) + " |")
        md += ["", "Pearson/Spearman: predicted vs ground-truth reward on held-out transitions "
               "(frames no labeled pair used)."]
        summary["reward_val_acc"] = fmt_mean_std([m.get("val_acc") for m in metrics.values()], 3)
        rewards = _per_seed(ctx, "relabel/rewards.npz")
        if rewards and self._gt_reward is not None:
            seed, path = next(iter(rewards.items()))
            learned = np.load(path)["reward"]
            plots.scatter(out / "reward_vs_gt.png", self._gt_reward, learned,
                          f"Learned vs GT reward (seed {seed})", "GT reward", "learned reward")
            md += ["", "![learned reward against GT reward](reward_vs_gt.png)"]
        return md + [""]

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


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
