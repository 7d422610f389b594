"""Run a sweep: every (task, quality, method, seed) cell through the stage machinery.

Layout under ``<out_dir>/<name>/``::

    cells/<task>_<quality>/<method>/     one run directory per task/quality/method (seeds inside)
    cache/<stage key>/<fingerprint>/     finished stage outputs shared between run directories
    results/<task>_<quality>_<method>_seed<k>.json   one finished cell (metric + cell hash)
    table.md, table.csv, plots/<task>.png

Sharing: every stage run is keyed by the runner's fingerprint (stage, version, seed, config
sections, input hashes).  :class:`SharedPipeline` looks a stage up in ``cache/`` before running
it and hard-links the outputs in (with the manifest record), so one dataset is collected per
task/quality, one label set is queried per task/quality/feedback, one reward model is trained per
label set and seed — whichever methods need them.  Finished stage runs are published to the cache.

Skipping and resuming: a cell whose result file holds the same cell hash (hash of its composed run
config, stages and their versions) is skipped without building anything; an interrupted cell is
rerun, and the Pipeline skips its finished stages and resumes the interrupted one from its work dir.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from orlvlmf.pipeline.manifest import atomic_write_text
from orlvlmf.pipeline.runner import Pipeline, StageResult, stage_key
from orlvlmf.sweep.cells import Cell, cell_hash, cells_of, compose, sweep_dir
from orlvlmf.sweep.results import metrics_of, read_result, table_cells, write_result
from orlvlmf.sweep.schema import SweepConfig
from orlvlmf.sweep.tables import write_outputs

RECORD = "record.json"


# -- shared stage outputs -----------------------------------------------------------------------
def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link ``src`` (file or directory) to ``dst``; copy where links are impossible."""
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_file)
    else:
        _link_file(src, dst)


def _link_file(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class SharedPipeline(Pipeline):
    """A :class:`Pipeline` that reuses stage runs with the same fingerprint from ``cache_dir``."""

    def __init__(self, cfg: Any, cache_dir: Path, echo: Callable[[str], None] = print):
        super().__init__(cfg, echo=echo)
        self.cache_dir = Path(cache_dir)

    def _entry(self, key: str, fp: str) -> Path:
        return self.cache_dir / key / fp

    def _run_one(self, stage, name: str, seed: int | None, force: bool) -> StageResult:
        key = stage_key(name, seed)
        if not force:
            _, hashes = self._inputs(stage, name, seed)
            fp = self.fingerprint(stage, name, seed, hashes)
            rec = self.manifest.get(key)
            here = (rec is not None and rec.get("fingerprint") == fp
                    and self.manifest.outputs_intact(self.run_dir, key) is not None)
            if not here and self._import(key, fp):
                summary = self.manifest.get(key).get("summary", {})
                self.echo(f"{key}: reused from the sweep cache")
                return StageResult(key, "skipped", 0.0, summary)
        result = super()._run_one(stage, name, seed, force)
        self._export(key)
        return result

    def _import(self, key: str, fp: str) -> bool:
        entry = self._entry(key, fp)
        if not (entry / RECORD).is_file():
            return False
        record = json.loads((entry / RECORD).read_text())
        if not all((entry / "files" / rel).exists() for rel in record["outputs"]):
            return False
        self.manifest.drop(key)
        for rel in record["outputs"]:
            dst = self.run_dir / rel
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            elif dst.exists() or dst.is_symlink():
                dst.unlink()
            dst.parent.mkdir(parents=True, exist_ok=True)
            _link_tree(entry / "files" / rel, dst)
        self.manifest.put(key, record)
        if self.manifest.outputs_intact(self.run_dir, key) is None:  # a cache entry went bad
            self.manifest.drop(key)
            shutil.rmtree(entry, ignore_errors=True)
            return False
        return True

    def _export(self, key: str) -> None:
        rec = self.manifest.get(key)
        if rec is None:
            return
        entry = self._entry(key, rec["fingerprint"])
        if (entry / RECORD).is_file():
            return
        tmp = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in rec["outputs"]:
            (tmp / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
            _link_tree(self.run_dir / rel, tmp / "files" / rel)
        atomic_write_text(tmp / RECORD, json.dumps(rec, indent=2, sort_keys=True))
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, entry)
        except OSError:  # another process published it first
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class SweepSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def run_sweep(cfg: SweepConfig, sweep_file: Path | None = None, *, echo: Callable[[str], None] = print,
              fail_fast: bool = False, only: Callable[[Cell], bool] | None = None,
              dry_run: bool = False, pipeline_echo: Callable[[str], None] | None = None) -> SweepSummary:
    """Run every unfinished cell, then write the tables and plots (see the module docstring)."""
    cells = [c for c in cells_of(cfg, sweep_file) if only is None or only(c)]
    # every config checked (and the stages a method needs completed) before any work
    composed = [(c, compose(c, cfg)) for c in cells]
    root = sweep_dir(cfg)
    summary = SweepSummary()
    echo(f"sweep {cfg.name} ({cfg.protocol}): {len(cells)} cells in {root}")
    for i, (cell, run_cfg) in enumerate(composed, 1):
        h = cell_hash(run_cfg)
        done = read_result(cfg, cell)
        if done is not None and done.get("status") == "done" and done.get("cell_hash") == h:
            summary.skipped.append(cell.id)
            continue
        echo(f"[{i}/{len(cells)}] {cell.id}: " + ("would run" if dry_run else "running") +
             f" ({' → '.join(cell.stages)})")
        if dry_run:
            continue
        t0 = time.perf_counter()
        try:
            pipe = SharedPipeline(run_cfg, root / "cache", echo=pipeline_echo or echo)
            pipe.run()
            metrics = metrics_of(pipe.run_dir, cell.seed)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one failing cell must not stop the table
            msg = f"{type(err).__name__}: {err}"
            summary.failed[cell.id] = msg
            write_result(cfg, cell, {"status": "failed", "cell_hash": h, "error": msg,
                                      "traceback": traceback.format_exc(limit=5)})
            echo(f"[{i}/{len(cells)}] {cell.id}: FAILED — {msg}")
            if fail_fast:
                raise
            continue
        write_result(cfg, cell, {"status": "done", "cell_hash": h, "metrics": metrics,
                                  "seconds": round(time.perf_counter() - t0, 2),
                                  "run_dir": str(pipe.run_dir)})
        summary.ran.append(cell.id)
    if not dry_run:
        summary.outputs = write_outputs(cfg, table_cells(cfg, sweep_file, only), root)
    return summary
