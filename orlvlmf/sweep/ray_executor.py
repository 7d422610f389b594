"""``orlvlmf sweep --executor ray``: the sweep's stage graph as Ray tasks.

Graph (:func:`stage_graph`): one node per distinct stage run of the unfinished cells — stage runs
with equal plan ids (:func:`orlvlmf.sweep.plan.plan_ids`) are one node, so one dataset per
task/quality feeds one label set per feedback, one reward model per label set and seed, and the
method cells.  A node is a Ray task that waits for its upstream nodes' ObjectRefs, so a cell's
stage starts as soon as its inputs exist and independent ones run side by side.

A node runs in the run directory of the first cell that needs it: a :class:`SharedPipeline` over
the node's upstream stages (all cache hits by then) and the node's own stage, which it publishes to
the sweep cache for the other cells.  Nodes that run in the same directory also wait for each other,
so no directory ever has two writers.  A cell whose last stage ran elsewhere gets one more node that
links its outputs in from the cache.

Resources: ``executor.resources.<stage>`` (else ``.default``, else one CPU) goes to
``ray.remote(...).options``; each task sets ``$ORLVLMF_NUM_THREADS`` (and torch) to its CPUs.  A task
whose worker dies is retried ``executor.max_retries`` times; a stage that raises fails its node,
its dependants report the same error, and the rest of the sweep goes on.  Results and tables are
written by the driver, which must see ``out_dir`` (a filesystem shared by every node of a cluster).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from orlvlmf.pipeline.runner import load_stage
from orlvlmf.pipeline.stage import THREADS_ENV
from orlvlmf.sweep.cache import SharedPipeline
from orlvlmf.sweep.cells import Cell, cache_dir, sweep_dir
from orlvlmf.sweep.plan import plan_ids, stage_runs
from orlvlmf.sweep.results import SweepSummary, record_done, record_failed
from orlvlmf.sweep.schema import SweepConfig, SweepConfigError


@dataclass
class Node:
    """One Ray task: ``stages`` run in cell ``cell``'s directory (the last one is the node's own)."""

    id: str
    key: str  # stage key (e.g. reward@seed1); "cell" for a cell's final linking node
    stage: str | None
    cell: int
    stages: list[str]
    deps: list[str] = field(default_factory=list)


def stage_graph(todo: list[tuple[Cell, Any]]) -> tuple[dict[str, Node], dict[int, str], dict[int, list[str]]]:
    """(nodes in a topological order, each cell's last node, each cell's nodes)."""
    nodes: dict[str, Node] = {}
    final: dict[int, str] = {}
    of_cell: dict[int, list[str]] = {}
    for i, (cell, run_cfg) in enumerate(todo):
        ids = plan_ids(run_cfg)
        runs = stage_runs(run_cfg)
        node_of = {r.key: f"{r.key}#{ids[r.key][:16]}" for r in runs}
        upstream = {r.key: r.upstream for r in runs}
        last_here: str | None = None  # the last node that runs in this cell's directory
        for r in runs:
            nid = node_of[r.key]
            if nid not in nodes:
                needed, stack = set(), list(r.upstream)
                while stack:
                    k = stack.pop()
                    if k not in needed:
                        needed.add(k)
                        stack += upstream[k]
                names = {x.name for x in runs if x.key in needed} | {r.name}
                deps = [node_of[k] for k in r.upstream] + ([last_here] if last_here else [])
                nodes[nid] = Node(nid, r.key, r.name, i, [s for s in run_cfg.stages if s in names],
                                  list(dict.fromkeys(deps)))
                last_here = nid
            of_cell.setdefault(i, []).append(nid)
        last = node_of[runs[-1].key]
        if nodes[last].cell != i:  # the cell's last stage ran in another cell's directory
            nid = f"cell:{cell.id}"
            nodes[nid] = Node(nid, "cell", None, i, list(run_cfg.stages),
                              list(dict.fromkeys([last] + ([last_here] if last_here else []))))
            of_cell[i].append(nid)
            last = nid
        final[i] = last
    return nodes, final, of_cell


def task_options(cfg: SweepConfig, stage: str | None) -> dict:
    """Ray options of a node of ``stage`` (see the module docstring)."""
    res = cfg.executor.resources
    opts = dict(res.get(stage or "", res.get("default", {})))
    opts.setdefault("num_cpus", 1)
    if "memory" in opts:
        opts["memory"] = int(opts["memory"])
    return {**opts, "max_retries": int(cfg.executor.max_retries)}


def check_resources(cfg: SweepConfig, nodes: list[dict] | None = None) -> None:
    """Every ``executor.resources`` key names a stage (or ``default``) and, given the cluster's
    ``nodes`` (``ray.nodes()``), every request fits on one of them (else Ray would wait forever)."""
    from orlvlmf.registry import REGISTRY

    known = set(REGISTRY.names("stages"))
    bad = sorted(set(cfg.executor.resources) - known - {"default"})
    if bad:
        raise SweepConfigError(f"executor.resources: {', '.join(bad)} is not a stage; use a stage name "
                               f"({', '.join(sorted(known))}) or default")
    if nodes is None:
        return
    names = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    for stage in list(cfg.executor.resources) + [None]:
        opts = task_options(cfg, stage)
        want = {names[k]: v for k, v in opts.items() if k in names and v}
        if not any(all(node.get(r, 0) >= v for r, v in want.items()) for node in alive):
            largest = {r: max((node.get(r, 0) for node in alive), default=0) for r in want}
            raise SweepConfigError(
                f"executor.resources.{stage or 'default'} asks for {want}, which no node of the Ray "
                f"cluster has (largest: {largest}); lower it, or add a node that has it")


def run_node(payload: dict, run_cfg: Any, *upstream: dict) -> dict:
    """The body of one Ray task (runs on a worker); returns {key, seconds} or {error, failed_at}."""
    failed = [u for u in upstream if u.get("error")]
    if failed:  # an upstream stage failed: this one cannot run
        return {"error": failed[0]["error"], "failed_at": failed[0]["failed_at"], "ran": False}
    threads = max(1, math.floor(payload["num_cpus"]))
    os.environ[THREADS_ENV] = str(threads)  # the stages set torch's thread count from it
    if "torch" in sys.modules:  # a reused worker: torch is set up already
        sys.modules["torch"].set_num_threads(threads)
    try:
        for module in payload["modules"]:  # the stages' own modules (plugins, test stages)
            importlib.import_module(module)
        log = open(payload["log"], "a")
    except Exception as err:  # noqa: BLE001
        return {"error": f"{type(err).__name__}: {err}", "failed_at": payload["key"], "ran": False}
    t0 = time.perf_counter()
    with log:
        def echo(line: str) -> None:
            log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            log.flush()

        try:
            SharedPipeline(run_cfg, payload["cache"], echo=echo).run(payload["stages"])
        except Exception as err:  # noqa: BLE001 - reported by the driver, dependants skip
            echo(traceback.format_exc())
            return {"error": f"{type(err).__name__}: {err}", "failed_at": payload["key"],
                    "trace": traceback.format_exc(limit=5), "ran": True}
    return {"key": payload["key"], "seconds": time.perf_counter() - t0, "ran": True}


def _ray_error(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}".strip()


def run_on_ray(cfg: SweepConfig, todo: list[tuple[Cell, Any]], summary: SweepSummary, *,
               echo: Callable[[str], None] = print, address: str | None = None,
               max_parallel: int | None = None, fail_fast: bool = False) -> None:
    """Run the unfinished cells ``todo`` as a Ray task graph; fills ``summary``."""
    try:
        import ray
    except ImportError:
        raise SweepConfigError("--executor ray needs Ray: pip install 'orlvlmf[ray]' (or ray[default]) "
                               "on this machine and on every node of the cluster") from None
    check_resources(cfg)
    graph = stage_graph(todo)
    if not graph[0]:
        return
    owned = not ray.is_initialized()
    if owned:
        try:
            ray.init(address=address, log_to_driver=False, include_dashboard=False,
                     configure_logging=False)
        except ConnectionError as err:
            cause = f" ({err.__cause__})" if err.__cause__ else ""
            raise SweepConfigError(f"cannot reach a Ray cluster at {address}: {err}{cause}. Start one "
                                   f"with `ray start --head`, or leave --address out to run on this "
                                   f"machine; a cluster with token authentication needs "
                                   f"RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN here too") from None
    try:
        check_resources(cfg, ray.nodes())
        echo(f"ray: {len(graph[0])} stage tasks for {len(todo)} cells on "
             f"{ray.cluster_resources().get('CPU', 0):g} CPUs"
             + (f", at most {max_parallel} at once" if max_parallel else ""))
        _Driver(ray, cfg, todo, graph, summary, echo, max_parallel, fail_fast).run()
    finally:
        if owned:
            ray.shutdown()


class _Driver:
    """The driver's side of one graph: submit the tasks that may start, collect what finished,
    record finished cells (results, progress)."""

    def __init__(self, ray: Any, cfg: SweepConfig, todo: list[tuple[Cell, Any]], graph: tuple,
                 summary: SweepSummary, echo: Callable[[str], None], max_parallel: int | None,
                 fail_fast: bool):
        self.ray, self.cfg, self.todo, self.summary, self.echo = ray, cfg, todo, summary, echo
        self.nodes, self.final, self.of_cell = graph
        self.max_parallel, self.fail_fast = max_parallel, fail_fast
        self.remote = ray.remote(run_node)
        self.cfg_refs = {i: ray.put(run_cfg) for i, (_, run_cfg) in enumerate(todo)}
        self.logs = sweep_dir(cfg) / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.refs: dict[str, Any] = {}  # node id -> ObjectRef of its task
        self.pending: dict[Any, str] = {}  # ObjectRef -> node id, tasks not collected yet
        self.results: dict[str, dict] = {}  # node id -> what its task returned
        self.recorded: set[int] = set()  # cells whose result is written
        self.t0 = time.perf_counter()

    def run(self) -> None:
        try:
            self.submit()
            while self.pending:
                ready, _ = self.ray.wait(list(self.pending), num_returns=1)
                for ref in ready:
                    self.collect(ref)
                _skip_failed_dependants(self.nodes, self.results, self.refs)
                self.record_finished_cells()
                self.submit()
        except BaseException:
            for ref in self.pending:
                self.ray.cancel(ref, force=True)
            raise

    def may_start(self, nid: str) -> bool:
        """Eager: once its inputs' tasks are submitted (Ray waits for them); with --max-parallel:
        once its inputs exist, at most N tasks in flight."""
        if nid in self.refs or nid in self.results:
            return False
        if self.max_parallel is None:
            return all(d in self.refs for d in self.nodes[nid].deps)
        return len(self.pending) < self.max_parallel and all(d in self.results for d in self.nodes[nid].deps)

    def submit(self) -> None:
        for nid, node in self.nodes.items():  # a topological order
            if not self.may_start(nid):
                continue
            cell = self.todo[node.cell][0]
            opts = task_options(self.cfg, node.stage)
            payload = {"key": node.key, "stages": node.stages, "cache": str(cache_dir(self.cfg)),
                       "num_cpus": opts["num_cpus"], "log": str(self.logs / f"{cell.id}.log"),
                       "modules": sorted({type(load_stage(s)).__module__ for s in node.stages})}
            ref = self.remote.options(name=f"{cell.id}:{node.key}", **opts).remote(
                payload, self.cfg_refs[node.cell], *[self.refs[d] for d in node.deps])
            self.refs[nid] = ref
            self.pending[ref] = nid

    def collect(self, ref: Any) -> None:
        nid = self.pending.pop(ref)
        try:
            self.results[nid] = self.ray.get(ref)
        except Exception as err:  # noqa: BLE001 - a worker died past its retries, ...
            self.results[nid] = {"error": _ray_error(err), "failed_at": self.nodes[nid].key, "ran": True}

    def record_finished_cells(self) -> None:
        for i, last in self.final.items():
            if i in self.recorded or last not in self.results:
                continue
            self.recorded.add(i)
            cell = self.todo[i][0]
            _finish(self.cfg, self.todo[i], self.results[last],
                    [self.results.get(n, {}) for n in self.of_cell[i]], self.summary, self.progress)
            if self.fail_fast and cell.id in self.summary.failed:
                raise RuntimeError(f"{cell.id}: {self.summary.failed[cell.id]}")

    def progress(self, cell: Cell, what: str) -> None:
        """One line: cells done / running (a task of theirs may be running) / failed."""
        ended = set(self.summary.ran) | set(self.summary.failed)
        running = {self.todo[self.nodes[n].cell][0].id for n in self.pending.values()
                   if all(self.results.get(d, {}).get("key") for d in self.nodes[n].deps)}
        self.echo(f"[{len(self.summary.ran)}/{len(self.todo)} done, {len(running - ended)} running, "
                  f"{len(self.summary.failed)} failed, {time.perf_counter() - self.t0:.0f} s] "
                  f"{cell.id}: {what}")


def _skip_failed_dependants(nodes: dict[str, Node], results: dict[str, dict], refs: dict) -> None:
    """In --max-parallel mode a node is submitted only once its inputs exist: one whose upstream
    failed is marked failed here (and so are its dependants, through the loop)."""
    changed = True
    while changed:
        changed = False
        for nid, node in nodes.items():
            if nid in results or nid in refs:
                continue
            bad = [results[d] for d in node.deps if results.get(d, {}).get("error")]
            if bad:
                results[nid] = {"error": bad[0]["error"], "failed_at": bad[0]["failed_at"], "ran": False}
                changed = True


def _finish(cfg: SweepConfig, item: tuple[Cell, Any], res: dict, cell_results: list[dict],
            summary: SweepSummary, progress: Callable[[Cell, str], None]) -> None:
    cell, run_cfg = item
    if not res.get("error"):
        try:
            seconds = sum(r.get("seconds", 0.0) for r in cell_results)
            payload = record_done(cfg, cell, run_cfg, seconds)
            summary.ran.append(cell.id)
            value = payload["metrics"].get(cell.task.metric)
            progress(cell, "done" + (f" ({cell.task.metric} {value:.4g})" if value is not None else ""))
            return
        except Exception as err:  # noqa: BLE001
            res = {"error": f"{type(err).__name__}: {err}", "failed_at": "results",
                   "trace": traceback.format_exc(limit=5)}
    where = res.get("failed_at")
    summary.failed[cell.id] = res["error"]  # the in-process executor's message, for the same table
    record_failed(cfg, cell, res["error"], res.get("trace", ""))
    progress(cell, "FAILED" + (f" in {where}" if where not in (None, "cell", "results") else "")
             + f" — {res['error']}")
