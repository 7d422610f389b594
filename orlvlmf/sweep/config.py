"""The sweep config: tasks × dataset qualities × methods × seeds, and the protocols' overrides.

A sweep config is NOT a run config (``orlvlmf fit`` refuses it; ``orlvlmf sweep`` refuses run
configs): it says ``kind: sweep`` and lists which run configs to compose and how::

    kind: sweep
    name: table1
    table: I                    # which of the paper's tables the side column quotes (I | II | none)
    protocol: reduced           # reduced | full (keys of `protocols`)
    tasks: [drawer, cartpole]   # or mappings {name: drawer, config: "drawer_{quality}.yaml", metric: success_rate}
    qualities: [random, medium, expert]
    methods: [iql_gt, ours, iql_avg, bc, diffusion, gail, clip]
    seeds: [0, 1, 2]
    overrides: []               # dot-list overrides of every cell's run config
    protocols:
      reduced:
        overrides: [train.steps=20000]       # every cell
        tasks: {drawer: [dataset.episodes=30], drawer/expert: [pairs.num_queries=500]}
        methods: {gail: [train.steps=100]}
    custom_methods:             # new columns, or redefinitions of built-in methods
      my_bc: {stages: [collect, train, evaluate], overrides: [policy.name=bc, policy.loss=mse]}
    custom_tasks:               # rows a `tasks` entry may name (run only when listed there)
      rope_pc: {config: "rope_{quality}.yaml", paper_name: rope, overrides: [reward.observation=point_cloud]}
    executor:                   # --executor ray only: Ray resources per stage kind (default: 1 CPU)
      resources: {collect: {num_cpus: 2}, train: {num_cpus: 1, num_gpus: 0.1}}

A cell's run config = the task config (``config``, ``{quality}`` filled in) + ``overrides`` +
the protocol's ``overrides``, ``tasks[task]``, ``tasks[task/quality]``, ``methods[method]`` + the
method's own overrides, with ``name``, ``run_dir``, ``seeds`` and ``stages`` set by the sweep.

The dataclasses are in :mod:`orlvlmf.sweep.schema`, the built-in methods in
:mod:`orlvlmf.sweep.methods`.  Light module: no torch.
"""

from __future__ import annotations

import copy
from pathlib import Path

from orlvlmf.config.structured import build, value_problem
from orlvlmf.sweep.methods import method_spec
from orlvlmf.sweep.schema import (DEFAULT_METRICS, METRICS, RESOURCE_KEYS, ExecutorSpec, MethodSpec,
                                  ProtocolSpec, SweepConfig, SweepConfigError, TaskSpec)


def task_specs(cfg: SweepConfig) -> list[TaskSpec]:
    out = []
    for t in cfg.tasks:
        if isinstance(t, str):
            spec = (copy.deepcopy(cfg.custom_tasks[t]) if t in cfg.custom_tasks else TaskSpec(name=t))
        else:
            spec = build(TaskSpec, t, "tasks[]", error=SweepConfigError)
        if spec.metric is None:
            spec.metric = DEFAULT_METRICS.get(spec.name) or DEFAULT_METRICS.get(spec.paper_name or "")
            if spec.metric is None:
                raise SweepConfigError(f"task '{spec.name}' has no default metric: give it as "
                                       f"{{name: {spec.name}, metric: success_rate | return_mean}}")
        if spec.metric not in METRICS:
            raise SweepConfigError(f"task '{spec.name}': metric must be one of {', '.join(METRICS)}, "
                                   f"got '{spec.metric}'")
        out.append(spec)
    return out


def load_sweep_config(path: str | Path, overrides: list[str] = ()) -> tuple[SweepConfig, Path]:
    """(checked :class:`SweepConfig`, the file's path) from a YAML path or a shipped name."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from orlvlmf.config.loader import resolve_config_path

    file = resolve_config_path(path)
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise SweepConfigError(f"{file} is not valid YAML: {err} (quote list items that contain "
                               f"brackets or braces, e.g. \"policy.hidden=[32]\")") from None
    if not isinstance(data, dict):
        raise SweepConfigError(f"{file} must hold a mapping (kind: sweep, name: ..., tasks: ...)")
    if data.get("kind") != "sweep":
        raise SweepConfigError(
            f"{file} is not a sweep config (it lacks `kind: sweep`): `orlvlmf sweep` takes a sweep "
            f"config such as configs/table1.yaml; run configs go to `orlvlmf fit`")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(SweepConfig), data,
                                 OmegaConf.from_dotlist(list(overrides)))
        obj = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as err:
        raise SweepConfigError(f"{file}: {str(err).splitlines()[0]}") from None
    nested = ("protocols", "custom_methods", "custom_tasks", "executor")
    cfg = SweepConfig(**{k: v for k, v in obj.items() if k not in nested})
    cfg.protocols = {k: build(ProtocolSpec, v, f"protocols.{k}", error=SweepConfigError)
                     for k, v in obj["protocols"].items()}
    cfg.custom_methods = {k: build(MethodSpec, v, f"custom_methods.{k}", error=SweepConfigError)
                          for k, v in obj["custom_methods"].items()}
    cfg.custom_tasks = {k: build(TaskSpec, {**v, "name": k}, f"custom_tasks.{k}", error=SweepConfigError)
                        for k, v in obj["custom_tasks"].items()}
    cfg.executor = build(ExecutorSpec, obj["executor"], "executor", error=SweepConfigError)
    check(cfg, file)
    return cfg, file


def task_config_name(task: TaskSpec, quality: str) -> str:
    """The name of the run config a task composes for ``quality``: its ``config`` with
    ``{quality}`` filled in, else ``<task>_<quality>.yaml``."""
    return (task.config or f"{task.name}_{{quality}}.yaml").replace("{quality}", quality)


def task_config(task: TaskSpec, quality: str, sweep_file: Path | None) -> Path:
    """The run config a task composes for ``quality`` (:func:`task_config_name`, resolved)."""
    from orlvlmf.config import ConfigError, resolve_config_path

    name = task_config_name(task, quality)
    try:
        return resolve_config_path(name, relative_to=sweep_file.parent if sweep_file else None)
    except ConfigError as err:
        raise SweepConfigError(f"task '{task.name}' quality '{quality}': {err}") from None


def check_protocol_tasks(cfg: SweepConfig, file: Path | str) -> None:
    """Every ``protocols.<p>.tasks`` key is ``<task>`` or ``<task>/<quality>`` with a run config to
    compose (:func:`task_config`): a misspelt key would otherwise leave its cells without their
    overrides, silently."""
    specs = {t.name: t for t in task_specs(cfg)} | cfg.custom_tasks
    sweep_file = file if isinstance(file, Path) else None

    def composes(spec: TaskSpec, quality: str) -> bool:
        try:
            task_config(spec, quality, sweep_file)
            return True
        except SweepConfigError:
            return False

    for pname, proto in cfg.protocols.items():
        for key in proto.tasks:
            name, _, quality = key.partition("/")
            spec = specs.get(name) or TaskSpec(name=name)
            qualities = [quality] if quality else list(cfg.qualities)
            if not any(composes(spec, q) for q in qualities):
                tried = " / ".join(task_config_name(spec, q) for q in qualities)
                raise SweepConfigError(f"{file}: protocols.{pname}.tasks: '{key}' names no task to run "
                                       f"({tried} not found); a key is a task (cartpole) or a "
                                       f"task and quality (cartpole/expert)")


def check(cfg: SweepConfig, file: Path | str = "sweep config") -> None:
    if cfg.name in ("???", ""):
        raise SweepConfigError(f"{file}: set `name` (the sweep's folder under out_dir)")
    bad = value_problem(SweepConfig, vars(cfg))  # the checks declared beside the fields
    if bad:
        raise SweepConfigError(f"{file}: {bad[1]}")
    for key in ("tasks", "qualities", "methods", "seeds"):
        if not getattr(cfg, key):
            raise SweepConfigError(f"{file}: `{key}` is empty")
    if cfg.protocols and cfg.protocol not in cfg.protocols:
        raise SweepConfigError(f"{file}: protocol '{cfg.protocol}' is not defined; protocols: "
                               f"{', '.join(cfg.protocols)}")
    if cfg.table not in ("I", "II", "none"):
        raise SweepConfigError(f"{file}: table must be I, II or none, got '{cfg.table}'")
    for m in cfg.methods:
        method_spec(m, cfg)
    task_specs(cfg)
    check_protocol_tasks(cfg, file)
    for stage, res in cfg.executor.resources.items():
        bad = sorted(set(res) - set(RESOURCE_KEYS))
        if bad:
            raise SweepConfigError(f"{file}: executor.resources.{stage}: unknown key(s) {', '.join(bad)}; "
                                   f"use {', '.join(RESOURCE_KEYS)}")
        if any(not isinstance(v, (int, float)) or v < 0 for v in res.values()):
            raise SweepConfigError(f"{file}: executor.resources.{stage}: values must be numbers >= 0, "
                                   f"got {res}")

