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
config and stages) is skipped without building anything; an interrupted cell is rerun, and the
Pipeline skips its finished stages and resumes the interrupted one from its work dir.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from orlvlmf.pipeline.manifest import atomic_write_text, canonical_hash
from orlvlmf.pipeline.runner import Pipeline, StageResult, stage_key
from orlvlmf.sweep.config import SweepConfig, SweepConfigError, TaskSpec, task_specs
from orlvlmf.sweep.methods import method_spec

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


# -- cells ---------------------------------------------------------------------------------------
@dataclass
class Cell:
    task: TaskSpec
    quality: str
    method: str
    seed: int
    config_path: Path
    overrides: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    @property
    def group(self) -> str:
        return f"{self.task.name}_{self.quality}"

    @property
    def id(self) -> str:
        return f"{self.group}_{self.method}_seed{self.seed}"


def sweep_dir(cfg: SweepConfig) -> Path:
    return Path(cfg.out_dir) / cfg.name


def _task_config(task: TaskSpec, quality: str, sweep_file: Path | None) -> Path:
    from orlvlmf.config.loader import ConfigError, resolve_config_path

    name = (task.config or f"{task.name}_{{quality}}.yaml").replace("{quality}", quality)
    try:
        return resolve_config_path(name, relative_to=sweep_file.parent if sweep_file else None)
    except ConfigError as err:
        raise SweepConfigError(f"task '{task.name}' quality '{quality}': {err}") from None


def cells_of(cfg: SweepConfig, sweep_file: Path | None = None) -> list[Cell]:
    """Every cell in table order (task, quality, method, seed)."""
    proto = cfg.protocols.get(cfg.protocol)
    out = []
    for task in task_specs(cfg):
        for q in cfg.qualities:
            path = _task_config(task, q, sweep_file)
            for m in cfg.methods:
                spec = method_spec(m, cfg)
                ov = list(cfg.overrides) + list(task.overrides)
                if proto is not None:
                    ov += list(proto.overrides) + list(proto.tasks.get(task.name, []))
                ov += list(spec.overrides)
                if proto is not None:
                    ov += list(proto.methods.get(m, []))
                for s in cfg.seeds:
                    out.append(Cell(task, q, m, int(s), path, ov, list(spec.stages)))
    return out


def layered_overrides(items: list[str], base: Any) -> list[str]:
    """``items`` applied in order as separate layers, in one flat list for ``load_config``.

    ``load_config`` merges all overrides as one mapping, so ``policy.encoder=...`` (for the task's
    IQL) followed by ``policy.name=bc`` would leave the IQL option in the BC node.  Here, an item
    that changes a component's name (``X.name=N`` or ``X={name: N, ...}``) drops the earlier items
    under ``X.``, the same replacement the loader applies between files.
    """
    import yaml
    from omegaconf import OmegaConf

    out: list[str] = []
    names: dict[str, Any] = {}
    for item in items:
        key, _, raw = item.partition("=")
        key = key.strip()
        comp, new_name = None, None
        if key.endswith(".name"):
            comp, new_name = key[: -len(".name")], yaml.safe_load(raw)
        elif raw.strip().startswith("{"):
            value = yaml.safe_load(raw)
            if isinstance(value, dict) and "name" in value:
                comp, new_name = key, value["name"]
        if comp is not None:
            old = names.get(comp, OmegaConf.select(base, f"{comp}.name", default=None))
            if new_name != old:
                out = [o for o in out if not o.partition("=")[0].strip().startswith(comp + ".")
                       and o.partition("=")[0].strip() != comp]
            names[comp] = new_name
        out.append(item)
    return out


def complete_stages(stages: list[str], run_cfg: Any) -> list[str]:
    """``stages`` with the upstream stages their inputs need inserted before them (in order).

    E.g. a train stage whose inputs include ``relabel/rewards.npz`` under this config pulls in
    ``label → reward → relabel``; the sweep cache makes that free when another method of the same
    task/quality trains the same reward model.
    """
    from orlvlmf.pipeline.runner import load_stage

    out: list[str] = []

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in out:
            return
        if name in chain:
            raise SweepConfigError(f"stages {' → '.join(chain + (name,))} form a cycle")
        for ref in load_stage(name).input_refs(run_cfg):
            add(ref.split("/", 1)[0], chain + (name,))
        out.append(name)

    for name in stages:
        add(name, ())
    return out


def compose(cell: Cell, cfg: SweepConfig):
    """The cell's checked run config (``name`` = method, ``run_dir`` = the task/quality folder)."""
    from omegaconf import OmegaConf

    from orlvlmf.config.loader import load_config

    fixed = [f"run_dir={sweep_dir(cfg) / 'cells' / cell.group}", f"name={cell.method}",
             f"seeds=[{cell.seed}]", f"stages=[{', '.join(cell.stages)}]"]
    overrides = layered_overrides(cell.overrides, load_config(cell.config_path))
    run_cfg = load_config(cell.config_path, overrides + fixed)
    stages = complete_stages(cell.stages, run_cfg)
    if stages != cell.stages:
        cell.stages = stages
        fixed[-1] = f"stages=[{', '.join(stages)}]"
        run_cfg = load_config(cell.config_path, overrides + fixed)
    if method_spec(cell.method, cfg).policy_env:
        env = json.dumps(OmegaConf.to_container(run_cfg.env, resolve=True))
        run_cfg = load_config(cell.config_path, overrides + fixed + [f"policy.env={env}"])
    return run_cfg


def cell_hash(run_cfg: Any) -> str:
    from omegaconf import OmegaConf

    return canonical_hash(OmegaConf.to_container(run_cfg, resolve=False))


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


def _metrics_of(run_dir: Path, seed: int) -> dict[str, float]:
    path = run_dir / f"seed_{seed}" / "eval.json"
    if not path.is_file():
        raise SweepConfigError(f"cell finished without {path}: does the method end with the evaluate stage?")
    ev = json.loads(path.read_text())
    return {k: float(ev[k]) for k in ("success_rate", "return_mean", "return_std", "final_success_rate")
            if k in ev}


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
    from orlvlmf.sweep.tables import write_outputs

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
            metrics = _metrics_of(pipe.run_dir, cell.seed)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one failing cell must not stop the table
            msg = f"{type(err).__name__}: {err}"
            summary.failed[cell.id] = msg
            _write_result(cfg, cell, {"status": "failed", "cell_hash": h, "error": msg,
                                      "traceback": traceback.format_exc(limit=5)})
            echo(f"[{i}/{len(cells)}] {cell.id}: FAILED — {msg}")
            if fail_fast:
                raise
            continue
        _write_result(cfg, cell, {"status": "done", "cell_hash": h, "metrics": metrics,
                                  "seconds": round(time.perf_counter() - t0, 2),
                                  "run_dir": str(pipe.run_dir)})
        summary.ran.append(cell.id)
    if not dry_run:
        summary.outputs = write_outputs(cfg, table_cells(cfg, sweep_file, only), root)
    return summary


def table_cells(cfg: SweepConfig, sweep_file: Path | None = None,
                only: Callable[[Cell], bool] | None = None) -> list[Cell]:
    """The cells a table shows: the selected ones, plus every other cell of the sweep with a result.

    So sweeps run in parts (e.g. two processes with disjoint ``--qualities``) each leave the
    whole table behind, whichever finishes last.
    """
    return [c for c in cells_of(cfg, sweep_file)
            if only is None or only(c) or read_result(cfg, c) is not None]


def _write_result(cfg: SweepConfig, cell: Cell, payload: dict) -> None:
    row = {"task": cell.task.name, "quality": cell.quality, "method": cell.method, "seed": cell.seed,
           "metric": cell.task.metric, "protocol": cfg.protocol, **payload}
    atomic_write_text(result_path(cfg, cell), json.dumps(row, indent=2))


def filter_cells(tasks: Iterable[str] | None = None, qualities: Iterable[str] | None = None,
                 methods: Iterable[str] | None = None, seeds: Iterable[int] | None = None,
                 cfg: SweepConfig | None = None):
    """A cell predicate for :func:`run_sweep` (``None``: no restriction).

    With ``cfg``, a value the sweep does not list is an error (not a silently empty selection).
    """
    sets = [set(x) if x else None for x in (tasks, qualities, methods)]
    seed_set = {int(s) for s in seeds} if seeds else None
    if cfg is not None:
        listed = {"tasks": [t.name for t in task_specs(cfg)], "qualities": list(cfg.qualities),
                  "methods": list(cfg.methods), "seeds": [int(s) for s in cfg.seeds]}
        for what, chosen in zip(listed, (*sets, seed_set)):
            extra = sorted(set(chosen or ()) - set(listed[what]), key=str)
            if extra:
                raise SweepConfigError(
                    f"--{what} {' '.join(map(str, extra))}: not in the sweep's {what} "
                    f"({', '.join(map(str, listed[what]))}). Sweep overrides (key=value) go before "
                    f"--{what}, which takes every word after it")

    def keep(c: Cell) -> bool:
        return ((sets[0] is None or c.task.name in sets[0]) and (sets[1] is None or c.quality in sets[1])
                and (sets[2] is None or c.method in sets[2]) and (seed_set is None or c.seed in seed_set))

    return keep
