"""Table I / II-shaped results of a sweep: markdown, CSV and one bar plot per task.

Each cell of the table is mean (std) over the finished seeds (population std, as the paper's
3-seed numbers), with the paper's published value in the column beside it.  A cell with fewer
finished seeds than the sweep lists is marked ``[k/n seeds]``; a cell whose runs failed says so.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from orlvlmf.pipeline.manifest import atomic_write_text
from orlvlmf.sweep.methods import label_of, method_spec
from orlvlmf.sweep.paper import paper_number
from orlvlmf.sweep.results import read_result
from orlvlmf.sweep.schema import SweepConfig

METRIC_TEXT = {"success_rate": "success rate", "return_mean": "ground-truth return",
               "final_success_rate": "final-step success rate"}


def aggregate(cfg: SweepConfig, cells: Sequence[Any]) -> list[dict]:
    """One row per (task, quality, method): seeds' values, mean, std, failures, paper number."""
    rows: dict[tuple, dict] = {}
    for c in cells:
        row = rows.setdefault(c.column, {
            "task": c.task.name, "quality": c.quality, "method": c.method,
            "label": label_of(c.method, cfg), "metric": c.task.metric, "values": [], "seeds": [],
            "failed": [], "seeds_planned": 0,
            "paper": paper_number(cfg.table, c.task.paper_name or c.task.name, c.quality,
                                  method_spec(c.method, cfg).paper)})
        row["seeds_planned"] += 1
        res = read_result(cfg, c)
        if res is None:
            continue
        if res.get("status") == "done" and c.task.metric in res.get("metrics", {}):
            row["values"].append(float(res["metrics"][c.task.metric]))
            row["seeds"].append(c.seed)
        elif res.get("status") == "failed":
            row["failed"].append(res.get("error", "failed"))
    for row in rows.values():
        v = np.asarray(row["values"], np.float64)
        row["mean"] = float(v.mean()) if len(v) else None
        row["std"] = float(v.std()) if len(v) else None
    return list(rows.values())


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.2f} ({std:.2f})" if std is not None else f"{mean:.2f} (N/A)"


def cell_text(row: dict) -> str:
    if row["mean"] is None:
        return "failed" if row["failed"] else "–"
    text = _fmt(row["mean"], row["std"])
    if len(row["values"]) < row["seeds_planned"]:
        text += f" [{len(row['values'])}/{row['seeds_planned']} seeds]"
    return text


def column_order(cfg: SweepConfig, rows: list[dict]) -> list[str]:
    """The methods that have rows, in the sweep config's ``methods`` order (not in the order their
    first finished cell comes: a row with only a later column finished must not lead the table)."""
    rank = {m: i for i, m in enumerate(cfg.methods)}
    present = dict.fromkeys(r["method"] for r in rows)
    return sorted(present, key=lambda m: rank.get(m, len(rank)))


def markdown(cfg: SweepConfig, rows: list[dict]) -> str:
    methods = column_order(cfg, rows)
    with_paper = cfg.table != "none"
    head = ["Task", "Dataset"]
    for m in methods:
        head += [label_of(m, cfg)] + (["paper"] if with_paper else [])
    lines = [f"# Sweep `{cfg.name}` — protocol `{cfg.protocol}`", ""]
    if cfg.description:
        lines += [cfg.description.strip(), ""]
    metrics = sorted({(r["task"], r["metric"]) for r in rows})
    lines += ["Mean (std) over seeds " + ", ".join(str(s) for s in cfg.seeds) + ". Metric: "
              + "; ".join(f"{t}: {METRIC_TEXT.get(m, m)}" for t, m in metrics) + "."]
    if with_paper:
        lines += [f"`paper`: the published number (Table {cfg.table}) for reference — it comes from "
                  "the paper's protocol (1000-episode datasets, full IQL training, Gemini labels), not "
                  "from this run."]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(r["task"], r["quality"], r["method"]): r for r in rows}
    groups = list(dict.fromkeys((r["task"], r["quality"]) for r in rows))
    for task, q in groups:
        cells = [task, q]
        for m in methods:
            r = by.get((task, q, m))
            cells.append(cell_text(r) if r else "–")
            if with_paper:
                p = r["paper"] if r else None
                cells.append(_fmt(*p) if p else "–")
        lines.append("| " + " | ".join(cells) + " |")
    failures: dict[str, list[str]] = {}  # one line per distinct error, naming every cell it failed
    for r in rows:
        for e in r["failed"][:1]:
            failures.setdefault(e, []).append(f"{r['task']}/{r['quality']}/{r['method']}")
    if failures:
        lines += ["", "Failed cells:"]
        lines += [f"- {', '.join(where)}: {e}" for e, where in failures.items()]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["task", "quality", "method", "label", "metric", "mean", "std", "seeds_done",
                "seeds_planned", "values", "failed", "paper_mean", "paper_std"])
    for r in rows:
        p = r["paper"] or (None, None)
        w.writerow([r["task"], r["quality"], r["method"], r["label"], r["metric"],
                    "" if r["mean"] is None else f"{r['mean']:.6g}",
                    "" if r["std"] is None else f"{r['std']:.6g}", len(r["values"]), r["seeds_planned"],
                    json.dumps(r["values"]), len(r["failed"]),
                    "" if p[0] is None else p[0], "" if p[1] is None else p[1]])
    return buf.getvalue()


def bar_plot(rows: list[dict], task: str, path: Path, cfg: SweepConfig) -> Path:
    """Grouped bars (x: dataset quality, bars: methods, error bars: std); paper values as ×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["task"] == task]
    qualities = list(dict.fromkeys(r["quality"] for r in rows))
    methods = column_order(cfg, rows)
    by = {(r["quality"], r["method"]): r for r in rows}
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(qualities) * len(methods) * 0.5) + 1.8, 4))
    for j, m in enumerate(methods):
        xs = np.arange(len(qualities)) + (j - (len(methods) - 1) / 2) * width
        means = [by[(q, m)]["mean"] if by.get((q, m)) and by[(q, m)]["mean"] is not None else np.nan
                 for q in qualities]
        stds = [by[(q, m)]["std"] if by.get((q, m)) and by[(q, m)]["std"] is not None else 0.0
                for q in qualities]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=label_of(m, cfg))
        paper = [by[(q, m)]["paper"][0] if by.get((q, m)) and by[(q, m)]["paper"] else np.nan
                 for q in qualities]
        ax.scatter(xs, paper, marker="x", color="black", zorder=3,
                   label="paper" if j == 0 and cfg.table != "none" else None)
    ax.set_xticks(np.arange(len(qualities)), qualities)
    ax.set_ylabel(METRIC_TEXT.get(rows[0]["metric"], rows[0]["metric"]) if rows else "")
    ax.set_title(f"{task} — sweep {cfg.name} ({cfg.protocol})")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: never over a bar
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_outputs(cfg: SweepConfig, cells: Sequence[Any], root: Path) -> dict[str, Path]:
    rows = aggregate(cfg, cells)
    out = {"markdown": root / "table.md", "csv": root / "table.csv"}
    atomic_write_text(out["markdown"], markdown(cfg, rows))
    atomic_write_text(out["csv"], to_csv(rows))
    for task in dict.fromkeys(r["task"] for r in rows):
        if any(r["mean"] is not None for r in rows if r["task"] == task):
            out[f"plot:{task}"] = bar_plot(rows, task, root / "plots" / f"{task}.png", cfg)
    return out
