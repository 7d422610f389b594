"""One JSON file per finished (or failed) cell under ``<out_dir>/<name>/results/``.

``results/<task>_<quality>_<method>_seed<k>.json``: status (done | failed), ``stages`` (the
cell's identity: the fingerprint of every stage run it needs, :mod:`orlvlmf.sweep.plan`), the
metrics of the cell's ``eval.json`` (or the error), each stage run's summary (``summaries``: the
label agreement, the reward's accuracy and Spearman, ... that explain the metrics), seconds and the
run directory: a result file is the cell's whole evidence, readable without its run directory.
Both executors write them through :func:`record_done` / :func:`record_failed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from orlvlmf.pipeline.manifest import Manifest, atomic_write_text
from orlvlmf.pipeline.runner import run_dir_of
from orlvlmf.sweep.cells import Cell, cache_dir, cells_of, sweep_dir
from orlvlmf.sweep.plan import recorded_fingerprints
from orlvlmf.sweep.schema import SweepConfig, SweepConfigError


@dataclass
class SweepSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)

METRIC_KEYS = ("success_rate", "return_mean", "return_std", "final_success_rate")


def result_path(cfg: SweepConfig, cell: Cell) -> Path:
    return sweep_dir(cfg) / "results" / f"{cell.id}.json"


def read_result(cfg: SweepConfig, cell: Cell) -> dict | None:
    p = result_path(cfg, cell)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def write_result(cfg: SweepConfig, cell: Cell, payload: dict) -> None:
    row = {"task": cell.task.name, "quality": cell.quality, "method": cell.method, "seed": cell.seed,
           "metric": cell.task.metric, "protocol": cfg.protocol, **payload}
    atomic_write_text(result_path(cfg, cell), json.dumps(row, indent=2))


def metrics_of(run_dir: Path, seed: int) -> dict[str, float]:
    path = run_dir / f"seed_{seed}" / "eval.json"
    if not path.is_file():
        raise SweepConfigError(f"cell finished without {path}: does the method end with the evaluate stage?")
    ev = json.loads(path.read_text())
    return {k: float(ev[k]) for k in METRIC_KEYS if k in ev}


def table_cells(cfg: SweepConfig, sweep_file: Path | None = None,
                only: Callable[[Cell], bool] | None = None) -> list[Cell]:
    """The cells a table shows: the selected ones, plus every seed of each other (task, quality,
    method) with a result.

    So sweeps run in parts (e.g. two processes with disjoint ``--qualities``) each leave the
    whole table behind, whichever finishes last; and a column with some seeds finished says how many
    (``[1/3 seeds]``) instead of passing one seed's mean off as the row's.
    """
    cells = cells_of(cfg, sweep_file)
    shown = {c.column for c in cells if only is None or only(c) or read_result(cfg, c) is not None}
    return [c for c in cells if c.column in shown]


def is_finished(cfg: SweepConfig, cell: Cell, run_cfg: Any) -> bool:
    """Whether the cell's result is ``done`` with the fingerprints its stage runs have now."""
    done = read_result(cfg, cell)
    if done is None or done.get("status") != "done" or "stages" not in done:
        return False
    return done["stages"] == recorded_fingerprints(run_cfg, cache_dir(cfg))


def record_done(cfg: SweepConfig, cell: Cell, run_cfg: Any, seconds: float) -> dict:
    """Write the result of a cell whose stages all ran: its metrics and stage fingerprints."""
    run_dir = run_dir_of(run_cfg)
    metrics = metrics_of(run_dir, cell.seed)
    stages = recorded_fingerprints(run_cfg, cache_dir(cfg))
    if stages is None:
        raise SweepConfigError(f"cell {cell.id} finished but its stage records are missing in "
                               f"{run_dir} and {cache_dir(cfg)}")
    manifest = Manifest(run_dir)
    summaries = {key: (manifest.get(key) or {}).get("summary", {}) for key in stages}
    payload = {"status": "done", "stages": stages, "metrics": metrics, "summaries": summaries,
               "seconds": round(seconds, 2), "run_dir": str(run_dir)}
    write_result(cfg, cell, payload)
    return payload


def record_failed(cfg: SweepConfig, cell: Cell, error: str, trace: str = "") -> None:
    """Write a failed cell's result. A cell that had finished before (under another config, say)
    keeps that result under ``last_done``: a rerun that fails does not lose the figures."""
    before = read_result(cfg, cell) or {}
    last = before if before.get("status") == "done" else before.get("last_done")
    payload = {"status": "failed", "error": error, "traceback": trace}
    if last:
        kept = ("metrics", "stages", "summaries", "seconds", "run_dir")
        payload["last_done"] = {k: last[k] for k in kept if k in last}
    write_result(cfg, cell, payload)
