"""One JSON file per finished (or failed) cell under ``<out_dir>/<name>/results/``.

``results/<task>_<quality>_<method>_seed<k>.json``: status (done | failed), the cell hash, the
metrics of the cell's ``eval.json`` (or the error), seconds and the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from orlvlmf.pipeline.manifest import atomic_write_text
from orlvlmf.sweep.cells import Cell, cells_of, sweep_dir
from orlvlmf.sweep.schema import SweepConfig, SweepConfigError

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
    """The cells a table shows: the selected ones, plus every other cell of the sweep with a result.

    So sweeps run in parts (e.g. two processes with disjoint ``--qualities``) each leave the
    whole table behind, whichever finishes last.
    """
    return [c for c in cells_of(cfg, sweep_file)
            if only is None or only(c) or read_result(cfg, c) is not None]
