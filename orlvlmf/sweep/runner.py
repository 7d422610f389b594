"""Run a sweep: every (task, quality, method, seed) cell through the stage machinery.

Layout under ``<out_dir>/<name>/``::

    cells/<task>_<quality>/<method>_seed<k>/   one run directory per cell
    cache/<stage key>/<fingerprint>/           finished stage outputs shared between cells
                                               (elsewhere with the config's ``cache_dir``)
    results/<task>_<quality>_<method>_seed<k>.json   one finished cell (metrics + stage fingerprints)
    table.md, table.csv, plots/<task>.png

Sharing: every stage run is keyed by the runner's fingerprint (stage, version, seed, config
sections, input hashes); :class:`orlvlmf.sweep.cache.SharedPipeline` reuses it from ``cache/``, so
one dataset is collected per task/quality, one label set per task/quality/feedback and one reward
model per label set and seed, whichever methods need them.

Skipping and resuming: a cell is finished when its result holds the fingerprints its stage runs
have now (:func:`orlvlmf.sweep.results.is_finished`) — config fields that none of its stages read do
not matter; an interrupted cell is rerun, and the pipeline skips its finished stages and resumes
the interrupted one from its work dir.

Executors: ``inprocess`` (default) runs the cells one after another in this process; ``ray``
(:mod:`orlvlmf.sweep.ray_executor`) runs the stage graph as Ray tasks, on this machine or a cluster.
Both write the same results and tables.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any, Callable

from orlvlmf.sweep.cache import SharedPipeline
from orlvlmf.sweep.cells import Cell, cache_dir, cells_of, compose, sweep_dir
from orlvlmf.sweep.results import (SweepSummary, is_finished, record_done, record_failed,
                                   table_cells)
from orlvlmf.sweep.schema import SweepConfig, SweepConfigError
from orlvlmf.sweep.tables import write_outputs

EXECUTORS = ("inprocess", "ray")


def run_sweep(cfg: SweepConfig, sweep_file: Path | None = None, *, echo: Callable[[str], None] = print,
              fail_fast: bool = False, only: Callable[[Cell], bool] | None = None,
              dry_run: bool = False, pipeline_echo: Callable[[str], None] | None = None,
              executor: str = "inprocess", address: str | None = None,
              max_parallel: int | None = None) -> SweepSummary:
    """Run every unfinished cell, then write the tables and plots (see the module docstring).

    ``address`` / ``max_parallel``: the Ray cluster to use (None: start one on this machine) and
    the most stage tasks in flight at once (None: as many as the cluster's resources allow).
    """
    if executor not in EXECUTORS:
        raise SweepConfigError(f"executor '{executor}': use one of {', '.join(EXECUTORS)}")
    if executor != "ray" and (address or max_parallel):
        raise SweepConfigError("--address and --max-parallel go with --executor ray")
    if max_parallel is not None and max_parallel < 1:
        raise SweepConfigError(f"--max-parallel must be at least 1, got {max_parallel}")
    cells = [c for c in cells_of(cfg, sweep_file) if only is None or only(c)]
    # every config checked (and the stages a method needs completed) before any work
    composed = [(c, compose(c, cfg)) for c in cells]
    summary = SweepSummary()
    todo = []
    for cell, run_cfg in composed:
        if is_finished(cfg, cell, run_cfg):
            summary.skipped.append(cell.id)
        else:
            todo.append((cell, run_cfg))
    echo(f"sweep {cfg.name} ({cfg.protocol}): {len(cells)} cells in {sweep_dir(cfg)}, "
         f"{len(summary.skipped)} already done")
    if dry_run:
        for i, (cell, _) in enumerate(todo, 1):
            echo(f"[{i}/{len(todo)}] {cell.id}: would run ({' → '.join(cell.stages)})")
        return summary
    if executor == "ray":
        from orlvlmf.sweep.ray_executor import run_on_ray

        run_on_ray(cfg, todo, summary, echo=echo, address=address, max_parallel=max_parallel,
                   fail_fast=fail_fast)
    else:
        _run_inprocess(cfg, todo, summary, echo, pipeline_echo or echo, fail_fast)
    summary.outputs = write_outputs(cfg, table_cells(cfg, sweep_file, only), sweep_dir(cfg))
    return summary


def _run_inprocess(cfg: SweepConfig, todo: list[tuple[Cell, Any]], summary: SweepSummary,
                   echo: Callable[[str], None], pipeline_echo: Callable[[str], None],
                   fail_fast: bool) -> None:
    """The cells one after another in this process."""
    for i, (cell, run_cfg) in enumerate(todo, 1):
        echo(f"[{i}/{len(todo)}] {cell.id}: running ({' → '.join(cell.stages)})")
        t0 = time.perf_counter()
        try:
            SharedPipeline(run_cfg, cache_dir(cfg), echo=pipeline_echo).run()
            record_done(cfg, cell, run_cfg, time.perf_counter() - t0)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one failing cell must not stop the table
            msg = f"{type(err).__name__}: {err}"
            summary.failed[cell.id] = msg
            record_failed(cfg, cell, msg, traceback.format_exc(limit=5))
            echo(f"[{i}/{len(todo)}] {cell.id}: FAILED — {msg}")
            if fail_fast:
                raise
            continue
        summary.ran.append(cell.id)
