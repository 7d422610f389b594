"""The cells of a sweep: one (task, quality, method, seed) each, and the run config it composes.

A cell's run config = the task config (``config``, ``{quality}`` filled in) + the sweep's
``overrides`` + the protocol's ``overrides``, ``tasks[task]``, ``tasks[task/quality]``,
``methods[method]`` + the method's own overrides, layered
(:func:`orlvlmf.sweep.overrides.layered_overrides`), with ``name`` (``<method>_seed<k>``),
``run_dir`` (the task/quality folder), ``seeds`` and ``stages`` set by the sweep; the stages a
method's inputs need are added (:func:`orlvlmf.sweep.overrides.complete_stages`).
Every cell has a run directory of its own, so cells can run side by side (stages they share come
through the sweep cache, :mod:`orlvlmf.sweep.cache`).

A cell's identity is the fingerprints of the stage runs it needs
(:func:`orlvlmf.sweep.plan.recorded_fingerprints`), not its whole config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from orlvlmf.config import load_config
from orlvlmf.sweep.config import task_config, task_specs
from orlvlmf.sweep.methods import method_spec
from orlvlmf.sweep.overrides import complete_stages, layered_overrides
from orlvlmf.sweep.schema import SweepConfig, SweepConfigError, TaskSpec


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
        return f"{self.group}_{self.run_name}"

    @property
    def run_name(self) -> str:
        return f"{self.method}_seed{self.seed}"

    @property
    def column(self) -> tuple[str, str, str]:
        """(task, quality, method): the table entry this cell is one seed of."""
        return self.task.name, self.quality, self.method


def sweep_dir(cfg: SweepConfig) -> Path:
    return Path(cfg.out_dir) / cfg.name


def cache_dir(cfg: SweepConfig) -> Path:
    """The shared stage cache (:mod:`orlvlmf.sweep.cache`): ``cache_dir``, relative to ``out_dir``,
    or ``<out_dir>/<name>/cache``."""
    if cfg.cache_dir is None:
        return sweep_dir(cfg) / "cache"
    return Path(cfg.out_dir) / Path(cfg.cache_dir).expanduser()  # an absolute cache_dir wins


def cells_of(cfg: SweepConfig, sweep_file: Path | None = None) -> list[Cell]:
    """Every cell in table order (task, quality, method, seed)."""
    proto = cfg.protocols.get(cfg.protocol)
    out = []
    for task in task_specs(cfg):
        for q in cfg.qualities:
            path = task_config(task, q, sweep_file)
            for m in cfg.methods:
                spec = method_spec(m, cfg)
                ov = list(cfg.overrides) + list(task.overrides)
                if proto is not None:
                    ov += list(proto.overrides) + list(proto.tasks.get(task.name, [])) \
                        + list(proto.tasks.get(f"{task.name}/{q}", []))
                ov += list(spec.overrides)
                if proto is not None:
                    ov += list(proto.methods.get(m, []))
                for s in cfg.seeds:
                    out.append(Cell(task, q, m, int(s), path, ov, list(spec.stages)))
    return out


def compose(cell: Cell, cfg: SweepConfig):
    """The cell's checked run config (its run directory: ``cells/<task>_<quality>/<method>_seed<k>``)."""
    fixed = [f"run_dir={sweep_dir(cfg) / 'cells' / cell.group}", f"name={cell.run_name}",
             f"seeds=[{cell.seed}]", f"stages=[{', '.join(cell.stages)}]"]
    overrides = layered_overrides(cell.overrides, load_config(cell.config_path))
    run_cfg = load_config(cell.config_path, overrides + fixed)
    stages = complete_stages(cell.stages, run_cfg)
    if stages != cell.stages:
        cell.stages = stages
        fixed[-1] = f"stages=[{', '.join(stages)}]"
        run_cfg = load_config(cell.config_path, overrides + fixed)
    return run_cfg


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
