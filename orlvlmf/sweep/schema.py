"""The dataclasses of a sweep config (``kind: sweep``; see :mod:`orlvlmf.sweep.config` for the
file format, loading and checks).

Leaf module: no torch, nothing from the rest of the sweep package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from orlvlmf.config.structured import ConfigError, checked, plain_name, ranged

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
    metric: Optional[str] = None  # None: DEFAULT_METRICS[name] (or of paper_name)
    overrides: List[str] = field(default_factory=list)
    paper_name: Optional[str] = None  # the task's key in the paper tables (None: name)


@dataclass
class MethodSpec:
    """One column: the stages a cell runs and the overrides it puts on the task config.

    ``label``: the column header.  ``paper``: the method's key in the paper tables (None: no
    published number).
    """

    stages: List[str] = field(default_factory=lambda: ["collect", "train", "evaluate"])
    overrides: List[str] = field(default_factory=list)
    label: Optional[str] = None
    paper: Optional[str] = None


@dataclass
class ProtocolSpec:
    """Overrides of one protocol: for every cell, per task, per method.

    ``tasks`` keys name a task (``cartpole``: every quality) or a task and quality
    (``cartpole/expert``: applied after the task's own).
    """

    overrides: List[str] = field(default_factory=list)
    tasks: Dict[str, List[str]] = field(default_factory=dict)
    methods: Dict[str, List[str]] = field(default_factory=dict)
    description: str = ""


#: What a stage kind may ask of Ray (``executor.resources.<stage>``).
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


@dataclass
class ExecutorSpec:
    """How ``orlvlmf sweep --executor ray`` places the stage tasks.

    ``resources``: Ray resources per stage kind — a stage name (``collect``, ``label``, ``reward``,
    ``relabel``, ``train``, ``evaluate``, ...) or ``default`` for the others — with keys
    ``num_cpus`` (also the task's torch thread count), ``num_gpus``, ``memory`` (bytes).
    Unset: ``{num_cpus: 1}``.  ``max_retries``: reruns of a task whose worker died.
    The in-process executor ignores this section.
    """

    resources: Dict[str, Dict[str, float]] = field(default_factory=dict)
    max_retries: int = ranged(3, ge=0)


@dataclass
class SweepConfig:
    kind: str = "sweep"
    name: str = checked("???", plain_name)  # the sweep's one folder under out_dir
    out_dir: str = "runs/sweeps"
    # the shared stage cache; relative paths are under out_dir (None: <out_dir>/<name>/cache).  Two
    # sweeps pointed at one cache (table1.yaml and table2.yaml: "cache") collect each dataset once,
    # and a cell whose stages both run (e.g. IQL with the true reward) is computed once.
    cache_dir: Optional[str] = None
    table: str = "I"  # I | II | none
    protocol: str = "reduced"
    tasks: List[Any] = field(default_factory=list)  # names or TaskSpec mappings
    qualities: List[str] = field(default_factory=lambda: ["random", "medium", "expert"])
    methods: List[str] = field(default_factory=list)
    seeds: List[int] = ranged(default_factory=lambda: [0, 1, 2], ge=0)
    overrides: List[str] = field(default_factory=list)
    protocols: Dict[str, ProtocolSpec] = field(default_factory=dict)
    custom_methods: Dict[str, MethodSpec] = field(default_factory=dict)
    custom_tasks: Dict[str, TaskSpec] = field(default_factory=dict)  # rows named in `tasks`
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    description: str = ""
