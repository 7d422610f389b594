"""The ``report`` stage: ``report/report.md`` (and ``report.html``) with PNG plots of every stage.

Sections: a summary (the headline result and the reward model's quality), dataset statistics,
labels (counts, −1 rate, order consistency, agreement with ground truth when there is one; a
gallery page of labeled pairs), reward model (held-out accuracy on the labels, ensemble
disagreement, correlation with ground truth when there is one), the learned reward along sampled
episodes with the frames at its minimum and maximum, policy learning curves with training-health
notes and offline diagnostics (action error on held-out episodes, Q / V), the final evaluation
(per-episode spread beside the spread across seeds, rollout GIFs), stage timings and the config.
Each section appears when its stage ran; without ground truth or a simulator the report shows
what can be checked without them (no empty fields).  The run's hyper-parameters and final
metrics go to TensorBoard's HParams tab (``tb/hparams/seed_<k>``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from orlvlmf.data.dataset import OfflineDataset, episode_returns, episode_success
from orlvlmf.pipeline.stage import Stage, StageContext
from orlvlmf.registry import register
from orlvlmf.report import plots
from orlvlmf.report.aggregate import fmt_mean_std
from orlvlmf.report.health import training_notes
from orlvlmf.report.html import write_html
from orlvlmf.reward.column import load_rewards

#: stage → artifacts the report reads when that stage is part of the run
REPORTED = {
    "collect": ("dataset.h5",),
    "label": ("pairs.npz", "labels.sqlite"),
    "reward": ("reward_metrics.json",),
    "relabel": ("rewards.npz",),
    "train": ("train_metrics.json",),
    "evaluate": ("eval.json", "videos"),
}
#: the whole config but where runs are kept: the report shows it, so any change redoes the report
CONFIG_SECTIONS = ("name", "seeds", "task", "stages", "env", "dataset", "pairs", "feedback", "labels",
                   "reward", "relabel", "clip", "policy", "train", "evaluation", "trainer")
GALLERY_PAIRS = 24


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
    sections = CONFIG_SECTIONS
    outputs = ("report",)
    description = "report.md / report.html with plots"

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
        md += self._headline(ctx)
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
        md += self._timings(ctx) + self._config(ctx)
        (out / "report.md").write_text("\n".join(md) + "\n")
        write_html(out / "report.md", f"orlvlmf run {ctx.cfg.name}")
        log_hparams(ctx, summary)
        return summary

    def _headline(self, ctx: StageContext) -> list[str]:
        """What the run achieved, in two lines (the block ``orlvlmf fit`` ends with)."""
        from orlvlmf.report.summary import result_lines, tensorboard_command

        rows = result_lines(Path(ctx.run_dir), list(ctx.cfg.seeds))
        rows.append(("TensorBoard", f"`{tensorboard_command(Path(ctx.run_dir) / 'tb')}` (training "
                     f"curves, labeled pairs, reward along episodes, rollouts, hyper-parameters)"))
        return ["## Summary", "", *[f"- **{k}**: {v}" for k, v in rows], ""]

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
        md += self._gallery(ctx, out)
        summary["minus1_rate"] = round(float(np.mean(labels == -1)), 4) if len(labels) else 0.0
        md += self._audit(ctx, out, summary)
        summary["labels"] = len(labels)
        return md

    def _gallery(self, ctx: StageContext, out: Path) -> list[str]:
        """``labels.html``: labeled pairs side by side with the label (and the VLM's reasoning)."""
        if "collect/dataset.h5" not in ctx.inputs:
            return []
        from orlvlmf.feedback.gallery import write_gallery

        key = str(np.load(ctx.inputs["label/pairs.npz"])["image_key"])
        with OfflineDataset.open(ctx.inputs["collect/dataset.h5"]) as ds:
            if key not in ds.observation_keys or len(ds.observation_shape(key)) != 3:
                return []  # the teacher compared states: nothing to look at

        write_gallery(ctx.inputs["label/labels.sqlite"], ctx.inputs["collect/dataset.h5"],
                      out / "labels.html", n=GALLERY_PAIRS)
        return [f"[Label gallery](labels.html): {GALLERY_PAIRS} labeled pairs drawn at random, the two "
                f"frames side by side with the label (and the VLM's reasoning when a VLM labeled them); "
                f"`orlvlmf labels --html` draws more.", ""]

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
        plotted = (("evals", "eval/success_rate", "success rate", "train_success.png", (0.0, 1.0)),
                   ("evals", "eval/return_mean", "GT return", "train_return.png", None),
                   ("history", "loss/q", "Q loss", "train_q_loss.png", None),
                   ("history", "value/q", "mean Q", "train_q_value.png", None),
                   ("history", "actor/weight_clipped", "share of clipped advantage weights",
                    "train_weight_clipped.png", (0.0, 1.0)))
        for rows, key, label, png, ylim in plotted:
            series = {}
            for s, m in runs.items():
                hist = [h for h in m.get(rows, []) if h.get(key) is not None]
                if hist:
                    series[f"seed {s}"] = ([h["step"] for h in hist], [h[key] for h in hist])
            if series:
                plots.curves(out / png, series, f"{learner}: {label}", "update step", label, ylim=ylim)
                md.append(f"![{label} during training]({png})")
        md += ["", "### Training health", ""]
        policy_cfg = OmegaConf.to_container(ctx.cfg.policy, resolve=True) if ctx.cfg.policy else {}
        for s, m in runs.items():
            notes = training_notes(m, policy_cfg) or ["nothing logged to judge from."]
            if len(runs) > 1:
                md += [f"- Seed {s}:", *[f"  - {n}" for n in notes]]
            else:
                md += [f"- {n}" for n in notes]
        md += ["", "Observations computed from the logged curves (thresholds in "
               "`orlvlmf/report/health.py`); bold ones deserve a look.", ""]
        return md

    def _evaluation(self, ctx: StageContext, out: Path, summary: dict) -> list[str]:
        from orlvlmf.report.summary import evaluation_spread

        evals = {s: _read_json(p) for s, p in _per_seed(ctx, "evaluate/eval.json").items()}
        md = ["## Final evaluation", "",
              "| seed | episodes | success rate ± per-episode std | GT return ± per-episode std |",
              "|---|---|---|---|"]
        for s, e in evals.items():
            rows = e.get("episodes") if isinstance(e.get("episodes"), list) else []
            succ = [float(r["success"]) for r in rows]
            md.append(f"| {s} | {len(rows)} | {_num(e.get('success_rate'))} ± {np.std(succ) if succ else 0:.3f} | "
                      f"{e.get('return_mean', float('nan')):.1f} ± {e.get('return_std', float('nan')):.1f} |")
        success = fmt_mean_std([e.get("success_rate") for e in evals.values()])
        ret = fmt_mean_std([e.get("return_mean") for e in evals.values()], 1)
        if len(evals) > 1:
            md.append(f"| **mean (std across seeds)** | | **{success}** | **{ret}** |")
        spread = evaluation_spread(evals)
        md += ["", "Per-episode std: the spread between one seed's evaluation episodes (a success is 0 "
               "or 1 per episode, so its std is √(p(1 − p))); std across seeds: the spread of the seeds' "
               "means" + (" (one seed: no spread across seeds to show)." if len(evals) == 1 else ".")]
        if spread is not None:
            if len(evals) > 1:
                md += ["", f"All {spread['episodes']} episodes pooled: success {spread['success'][0]:.2f} ± "
                       f"{spread['success'][1]:.2f}, GT return {spread['return'][0]:.1f} ± "
                       f"{spread['return'][1]:.1f} per episode."]
            groups = {f"seed {s}": [r["return"] for r in e["episodes"]] for s, e in evals.items()
                      if isinstance(e.get("episodes"), list) and e["episodes"]}
            plots.episodes_by_group(out / "eval_returns.png", groups, "Return per evaluation episode",
                                    "GT return")
            md += ["", "![GT return of every evaluation episode per seed, with mean ± std]"
                   "(eval_returns.png)"]
        summary.update({"success": success, "return": ret})
        return md + [""] + self._rollouts(ctx, evals, out)

    def _rollouts(self, ctx: StageContext, evals: dict[int, dict], out: Path) -> list[str]:
        """The evaluation GIFs, copied next to the report."""
        shown: dict[int, list[str]] = {}
        for s, e in evals.items():
            rows = e.get("episodes") if isinstance(e.get("episodes"), list) else []
            for k, rel in enumerate(e.get("videos") or []):
                src = Path(ctx.inputs[f"evaluate/eval.json@seed{s}"]).parent / rel
                if not src.is_file():
                    continue
                dst = out / "videos" / f"seed_{s}_{Path(rel).name}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                r = rows[k] if k < len(rows) else {}
                caption = (("success" if r.get("success") else "no success")
                           + f", GT return {r.get('return', float('nan')):.1f}")
                shown.setdefault(s, []).append(f"![seed {s}, episode {k}: {caption}](videos/{dst.name})"
                                               f"<br>episode {k}: {caption}")
        md = ["### Rollouts", ""]
        if not shown:
            n = ctx.cfg.evaluation.save_videos
            return md + [f"No rollout GIFs were saved (`evaluation.save_videos` is {n}; set it to the "
                         f"number of evaluation episodes to record).", ""]
        width = max(len(v) for v in shown.values())
        md += [f"The first {width} evaluation episodes of each seed (`evaluation.save_videos`), mean "
               f"action:", "", "| seed | " + " | ".join(f"episode {k}" for k in range(width)) + " |",
               "|---|" + "---|" * width]
        md += [f"| {s} | " + " | ".join(cells + [""] * (width - len(cells))) + " |" for s, cells in shown.items()]
        return md + [""]

    def _timings(self, ctx: StageContext) -> list[str]:
        from orlvlmf.pipeline.manifest import Manifest

        from orlvlmf.pipeline.runner import stage_key

        recorded = Manifest(Path(ctx.run_dir)).data["stages"]
        order = [stage_key(n, s) for n in ctx.cfg.stages for s in [None, *ctx.cfg.seeds]]
        stages = {k: recorded[k] for k in order if k in recorded}
        stages.update({k: v for k, v in recorded.items() if k not in stages})
        if not stages:
            return []
        md = ["## Stage timings", "", "| stage run | seconds | finished |", "|---|---|---|"]
        total = 0.0
        for key, rec in stages.items():
            sec = float((rec.get("summary") or {}).get("seconds") or 0.0)
            total += sec
            md.append(f"| {key} | {sec:.1f} | {rec.get('finished', '–')} |")
        md += [f"| **total** (report not counted) | **{total:.1f}** | |", "",
               "Times of the runs that made the current artifacts (a stage found up to date keeps its "
               "earlier time).", ""]
        return md

    def _config(self, ctx: StageContext) -> list[str]:
        text = OmegaConf.to_yaml(ctx.cfg, resolve=False)  # interpolations unresolved: no secret
        return ["## Config", "", "<details><summary>The composed config of this run (also "
                "<code>config.yaml</code> in the run folder)</summary>", "", "```yaml", text.rstrip(),
                "```", "", "</details>", ""]


#: settings shown in TensorBoard's HParams tab (plus every scalar of ``policy``)
HPARAMS = ("env.name", "dataset.source", "dataset.quality", "dataset.episodes", "feedback.name",
           "feedback.model", "pairs.num_queries", "reward.observation", "reward.encoder.name",
           "reward.encoder.model", "reward.ensemble", "reward.max_epochs", "relabel.normalize",
           "train.reward", "train.steps", "train.reward_scale", "evaluation.episodes")
#: report summary key → final metric in the HParams tab
FINAL_METRICS = {"reward_val_acc": "final/reward_val_acc", "label_agreement": "final/label_gt_agreement",
                 "minus1_rate": "final/label_minus1_rate"}


def hparams_of(cfg) -> dict[str, Any]:
    """The settings that tell runs apart, flat (``policy.*`` scalars included); unresolved, so an
    ``${oc.env:...}`` stays a name."""
    out: dict[str, Any] = {"name": str(cfg.name)}
    for key in HPARAMS:
        v = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        if v is not None and not OmegaConf.is_config(v):
            out[key] = v
    policy = OmegaConf.to_container(cfg.policy, resolve=False) if cfg.policy else {}
    out.update({f"policy.{k}": v for k, v in policy.items() if isinstance(v, (bool, int, float, str))})
    return out


def log_hparams(ctx: StageContext, summary: dict) -> None:
    """``tb/hparams/seed_<k>``: one HParams session per seed with its final metrics."""
    from orlvlmf.pipeline import tensorboard as tb

    hp = hparams_of(ctx.cfg)
    shared = {v: summary[k] for k, v in FINAL_METRICS.items()
              if isinstance(summary.get(k), (int, float)) and not isinstance(summary.get(k), bool)}
    for seed in ctx.cfg.seeds:
        metrics = dict(shared)
        d = Path(ctx.run_dir) / f"seed_{seed}"
        e = _read_json(d / "eval.json") if (d / "eval.json").is_file() else {}
        r = _read_json(d / "reward_metrics.json") if (d / "reward_metrics.json").is_file() else {}
        t = _read_json(d / "train_metrics.json") if (d / "train_metrics.json").is_file() else {}
        metrics.update({"final/success_rate": e.get("success_rate"), "final/return_mean": e.get("return_mean"),
                        "final/return_std": e.get("return_std"), "final/reward_val_acc": r.get("val_acc"),
                        "final/reward_gt_pearson": r.get("gt_pearson"),
                        "final/reward_gt_spearman": r.get("gt_spearman"),
                        "final/heldout_action_mae": (t.get("offline") or {}).get("action_mae")})
        metrics = {k: float(v) for k, v in metrics.items() if v is not None}
        writer = tb.stage_writer(ctx.run_dir, "hparams", int(seed))
        try:
            tb.add_hparams(writer, {**hp, "seed": int(seed)}, metrics)
        finally:
            writer.close()


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
