"""What a finished run achieved, read back from its artifacts: the block ``orlvlmf fit`` ends with.

::

    result       success 0.95 ± 0.22 per episode (20 episodes); GT return 4523.1 ± 315.2 per episode
    reward       held-out accuracy 0.871 on 400 labeled pairs; vs the true reward: Pearson 0.81, ...
    time         collect 95 s · label 12 s · ... = 12.6 min (3 ran now, 4 up to date)
    report       runs/drawer/report/report.md (in a browser: runs/drawer/report/report.html)
    tensorboard  tensorboard --logdir runs/drawer/tb

Per-episode spread pools the evaluation episodes of every seed; with several seeds the spread of
the per-seed means follows ("across seeds").  Without a simulator the headline is the policy's
action error on held-out episodes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from orlvlmf.pipeline.manifest import MANIFEST


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def seed_dirs(run_dir: Path, seeds: Iterable[int]) -> dict[int, Path]:
    return {int(s): Path(run_dir) / f"seed_{s}" for s in seeds}


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, population std)."""
    x = np.asarray(values, np.float64)
    return float(x.mean()), float(x.std())


def evaluation_spread(evals: dict[int, dict]) -> dict[str, Any] | None:
    """Success and GT return: per episode (all seeds' episodes pooled) and across seeds."""
    rows = [r for e in evals.values() if isinstance(e.get("episodes"), list) for r in e["episodes"]]
    if not rows:
        return None
    out: dict[str, Any] = {"episodes": len(rows), "seeds": len(evals),
                           "success": spread([float(r["success"]) for r in rows]),
                           "return": spread([float(r["return"]) for r in rows])}
    if len(evals) > 1:
        out["success_seeds"] = spread([e["success_rate"] for e in evals.values()])
        out["return_seeds"] = spread([e["return_mean"] for e in evals.values()])
    return out


def stage_times(run_dir: Path) -> dict[str, float]:
    """Seconds each stage took when its current artifacts were made (seeds summed), pipeline order."""
    data = _json(Path(run_dir) / MANIFEST) or {"stages": {}}
    times: dict[str, float] = {}
    for key, rec in data["stages"].items():
        name = key.split("@", 1)[0]
        times[name] = times.get(name, 0.0) + float((rec.get("summary") or {}).get("seconds") or 0.0)
    from orlvlmf.config.schema import DEFAULT_STAGES

    order = {s: i for i, s in enumerate(DEFAULT_STAGES)}
    return dict(sorted(times.items(), key=lambda kv: order.get(kv[0], len(order))))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def tensorboard_command(logdir: Path) -> str:
    """The exact command: ``tensorboard`` when the one on PATH is this environment's, else its path."""
    mine = Path(sys.executable).parent / "tensorboard"
    on_path = shutil.which("tensorboard")
    if on_path and (not mine.exists() or Path(on_path).resolve() == mine.resolve()):
        exe = "tensorboard"
    else:  # relative to the working directory when under it (`.venv/bin/tensorboard` after make run)
        exe = os.path.relpath(mine) if mine.resolve().is_relative_to(Path.cwd().resolve()) else str(mine)
    return f"{exe} --logdir {logdir}"


def _pm(ms: tuple[float, float], digits: int) -> str:
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def result_lines(run_dir: Path, seeds: Sequence[int]) -> list[tuple[str, str]]:
    """(label, text) rows: the headline result and the reward model's quality."""
    dirs = seed_dirs(run_dir, seeds)
    rows: list[tuple[str, str]] = []
    evals = {s: e for s, d in dirs.items() if (e := _json(d / "eval.json")) is not None}
    ev = evaluation_spread(evals)
    if ev is not None:
        text = (f"success {_pm(ev['success'], 2)} per episode ({ev['episodes']} episodes"
                + (f", {ev['seeds']} seeds" if ev["seeds"] > 1 else "") + f"); GT return "
                f"{_pm(ev['return'], 1)} per episode")
        if "success_seeds" in ev:
            text += (f"; across seeds: success {_pm(ev['success_seeds'], 2)}, return "
                     f"{_pm(ev['return_seeds'], 1)}")
        rows.append(("result", text))
    else:
        offline = [(_json(d / "train_metrics.json") or {}).get("offline") or {} for d in dirs.values()]
        maes = [o for o in offline if "action_mae" in o]
        if maes:
            rows.append(("result", "no simulator: held-out action MAE "
                         f"{_pm(spread([o['action_mae'] for o in maes]), 4)} (always answering the mean "
                         f"action: {_pm(spread([o['mean_action_mae'] for o in maes]), 4)}; lower is better)"
                         + (f" over {len(maes)} seeds" if len(maes) > 1 else "")))
    metrics = [m for d in dirs.values() if (m := _json(d / "reward_metrics.json")) is not None]
    if metrics:
        acc = [m["val_acc"] for m in metrics if m.get("val_acc") is not None]
        split = f"held-out accuracy {_pm(spread(acc), 3) if len(acc) > 1 else f'{acc[0]:.3f}'} on " \
                f"{metrics[0].get('pairs_val')} labeled pairs" if acc else \
                f"train accuracy {metrics[0].get('train_acc', float('nan')):.3f} (no pairs held out)"
        corr = [(m["gt_pearson"], m["gt_spearman"]) for m in metrics
                if m.get("gt_pearson") is not None and not math.isnan(m["gt_pearson"])]
        if corr:
            p, s = np.mean([c[0] for c in corr]), np.mean([c[1] for c in corr])
            split += (f"; vs the true reward on {metrics[0].get('gt_transitions')} unlabeled "
                      f"transitions: Pearson {p:.2f}, Spearman {s:.2f}")
        else:
            split += "; no true reward to compare with"
        rows.append(("reward", split))
    return rows


def fit_summary(run_dir: Path, seeds: Sequence[int], up_to_date: int = 0) -> str:
    """The block ``orlvlmf fit`` prints at the end (see the module docstring); ``up_to_date``:
    stage runs this invocation skipped (their time is that of the run that made them)."""
    run_dir = Path(run_dir)
    rows = result_lines(run_dir, seeds)
    times = stage_times(run_dir)
    if times:
        rows.append(("time", " · ".join(f"{k} {_duration(v)}" for k, v in times.items())
                     + f" = {_duration(sum(times.values()))}"
                     + (f" ({up_to_date} stage run{' was' if up_to_date == 1 else 's were'} up to "
                        f"date: {'its' if up_to_date == 1 else 'their'} time is from the run that made "
                        f"{'it' if up_to_date == 1 else 'them'})" if up_to_date else "")))
    report = run_dir / "report" / "report.md"
    if report.is_file():
        html = report.with_suffix(".html")
        rows.append(("report", str(report) + (f" (in a browser: {html})" if html.is_file() else "")))
    if (run_dir / "tb").is_dir():
        rows.append(("tensorboard", tensorboard_command(run_dir / "tb")))
    return format_block(f"orlvlmf fit: {run_dir}", rows)


def sweep_summary(name: str, root: Path, ran: int, skipped: int, failed: int,
                  outputs: dict[str, Path]) -> str:
    """The block ``orlvlmf sweep`` prints at the end: cells, the tables, TensorBoard over the cells."""
    rows = [("cells", f"{ran} cells ran, {skipped} already done, {failed} failed")]
    rows += [(k, str(v)) for k, v in outputs.items()]
    cells = Path(root) / "cells"
    if cells.is_dir():
        rows.append(("tensorboard", tensorboard_command(cells) + "   (HParams tab: the cells side by side)"))
    return format_block(f"orlvlmf sweep {name}: {root}", rows)


def format_block(title: str, rows: Sequence[tuple[str, str]]) -> str:
    width = max([len(k) for k, _ in rows] + [6])
    line = "─" * max(20, min(100, len(title) + 8))
    return "\n".join([line, title, *[f"  {k:<{width}}  {v}" for k, v in rows], line])
