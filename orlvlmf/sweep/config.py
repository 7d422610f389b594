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
        tasks: {drawer: [dataset.episodes=30]}
        methods: {gail: [train.steps=100]}
    custom_methods:             # new columns, or redefinitions of built-in methods
      my_bc: {stages: [collect, train, evaluate], overrides: [policy.name=bc, policy.loss=mse]}

A cell's run config = the task config (``config``, ``{quality}`` filled in) + ``overrides`` +
the protocol's ``overrides``, ``tasks[task]``, ``methods[method]`` + the method's own overrides,
with ``name``, ``run_dir``, ``seeds`` and ``stages`` set by the sweep.

Light module: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import ConfigError, build

#: Metric of each paper task (success rate for MetaWorld, GT return for the others).
DEFAULT_METRICS = {"drawer": "success_rate", "soccer": "success_rate", "cartpole": "return_mean",
                   "rope": "return_mean"}
METRICS = ("success_rate", "return_mean", "final_success_rate")


class SweepConfigError(ConfigError):
    """A sweep config cannot be used; the message says what to change (a ``ConfigError``, so the
    CLI prints it as one line)."""


@dataclass
class TaskSpec:
    """One row group: ``config`` is a run config path or shipped name, ``{quality}`` filled in."""

    name: str = "???"
    config: Optional[str] = None  # None: "<name>_{quality}.yaml"
    metric: Optional[str] = None  # None: DEFAULT_METRICS[name]
    overrides: List[str] = field(default_factory=list)
    paper_name: Optional[str] = None  # the task's key in the paper tables (None: name)


@dataclass
class MethodSpec:
    """One column: the stages a cell runs and the overrides it puts on the task config.

    ``policy_env``: copy the run's ``env`` node into ``policy.env`` (learners that interact with
    the env, e.g. GAIL).  ``label``: the column header.  ``paper``: the method's key in the paper
    tables (None: no published number).
    """

    stages: List[str] = field(default_factory=lambda: ["collect", "train", "evaluate"])
    overrides: List[str] = field(default_factory=list)
    label: Optional[str] = None
    paper: Optional[str] = None
    policy_env: bool = False


@dataclass
class ProtocolSpec:
    """Overrides of one protocol: for every cell, per task, per method."""

    overrides: List[str] = field(default_factory=list)
    tasks: Dict[str, List[str]] = field(default_factory=dict)
    methods: Dict[str, List[str]] = field(default_factory=dict)
    description: str = ""


@dataclass
class SweepConfig:
    kind: str = "sweep"
    name: str = "???"
    out_dir: str = "runs/sweeps"
    table: str = "I"  # I | II | none
    protocol: str = "reduced"
    tasks: List[Any] = field(default_factory=list)  # names or TaskSpec mappings
    qualities: List[str] = field(default_factory=lambda: ["random", "medium", "expert"])
    methods: List[str] = field(default_factory=list)
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    overrides: List[str] = field(default_factory=list)
    protocols: Dict[str, ProtocolSpec] = field(default_factory=dict)
    custom_methods: Dict[str, MethodSpec] = field(default_factory=dict)
    description: str = ""


def task_specs(cfg: SweepConfig) -> list[TaskSpec]:
    out = []
    for t in cfg.tasks:
        spec = (TaskSpec(name=t) if isinstance(t, str)
                else build(TaskSpec, t, "tasks[]", error=SweepConfigError))
        if spec.metric is None:
            if spec.name not in DEFAULT_METRICS:
                raise SweepConfigError(f"task '{spec.name}' has no default metric: give it as "
                                       f"{{name: {spec.name}, metric: success_rate | return_mean}}")
            spec.metric = DEFAULT_METRICS[spec.name]
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
    cfg = SweepConfig(**{k: v for k, v in obj.items() if k not in ("protocols", "custom_methods")})
    cfg.protocols = {k: build(ProtocolSpec, v, f"protocols.{k}", error=SweepConfigError)
                     for k, v in obj["protocols"].items()}
    cfg.custom_methods = {k: build(MethodSpec, v, f"custom_methods.{k}", error=SweepConfigError)
                          for k, v in obj["custom_methods"].items()}
    check(cfg, file)
    return cfg, file


def check(cfg: SweepConfig, file: Path | str = "sweep config") -> None:
    from orlvlmf.sweep.methods import method_spec

    if cfg.name in ("???", ""):
        raise SweepConfigError(f"{file}: set `name` (the sweep's folder under out_dir)")
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
