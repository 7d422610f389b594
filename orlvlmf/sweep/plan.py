"""The stage runs of a cell, and two identities of each, computed without running anything.

A cell's run config lists its stages; each runs once (or once for the cell's seed, if per seed)
and reads upstream artifacts (:func:`stage_runs`).  Two hashes follow the runner's fingerprint
``sha256(stage, version, seed, config sections, inputs)`` with different inputs:

* :func:`recorded_fingerprints` — the runner's own fingerprints, the input hashes read from the
  outputs recorded in the sweep cache (or the cell's manifest).  This is a cell's identity: a cell
  is finished when its result holds these fingerprints, so a config field no stage of the cell
  reads leaves it finished, and a changed section, stage version or upstream output reruns it.
  A stage whose upstream output is not recorded has no fingerprint yet: the cell is unfinished.
* :func:`plan_ids` — the inputs replaced by the upstream stage runs' plan ids: an identity fixed by
  the config alone, known before any stage ran.  Cells with equal plan ids for a stage share that
  stage run (the Ray executor's task graph, :mod:`orlvlmf.sweep.ray_executor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from orlvlmf.pipeline.manifest import Manifest
from orlvlmf.pipeline.runner import fingerprint, input_keys, load_stage, run_dir_of, stage_key, stage_seeds
from orlvlmf.sweep.cache import cached_record


@dataclass(frozen=True)
class StageRun:
    """One run of a stage: ``inputs`` are (name seen by the stage, upstream key, relative path)."""

    name: str
    seed: int | None
    inputs: tuple[tuple[str, str, str], ...]

    @property
    def key(self) -> str:
        return stage_key(self.name, self.seed)

    @property
    def upstream(self) -> list[str]:
        return list(dict.fromkeys(key for _, key, _ in self.inputs))


def stage_runs(run_cfg: Any) -> list[StageRun]:
    """The stage runs of ``run_cfg`` in the order the pipeline runs them."""
    out = []
    for name in run_cfg.stages:
        stage = load_stage(str(name))
        for seed in stage_seeds(run_cfg, stage):
            inputs = tuple(k for ref in stage.input_refs(run_cfg) for k in input_keys(run_cfg, ref, seed))
            out.append(StageRun(str(name), seed, inputs))
    return out


def _hash_runs(run_cfg: Any, input_id: Callable[[str, str, dict], str | None]) -> dict[str, str] | None:
    """{stage key: hash of the stage run}, each input identified by ``input_id(key, rel, done)``
    (``done``: the hashes so far); None as soon as an input has no identity."""
    out: dict[str, str] = {}
    for run in stage_runs(run_cfg):
        ids = {}
        for label, key, rel in run.inputs:
            ids[label] = input_id(key, rel, out)
            if ids[label] is None:
                return None
        out[run.key] = fingerprint(run_cfg, load_stage(run.name), run.name, run.seed, ids)
    return out


def plan_ids(run_cfg: Any) -> dict[str, str]:
    """{stage key: config-only identity} (see the module docstring)."""
    ids = _hash_runs(run_cfg, lambda key, rel, done: f"plan:{done[key]}:{rel}")
    assert ids is not None  # every input is an earlier stage run of the same config
    return ids


def recorded_fingerprints(run_cfg: Any, cache_dir: Path) -> dict[str, str] | None:
    """{stage key: the runner's fingerprint} of every stage run of ``run_cfg``, or None while some
    stage run has no outputs recorded under its fingerprint (in ``cache_dir`` or the run's own
    manifest): the cell is not finished."""
    manifest = Manifest(run_dir_of(run_cfg))  # read only; empty when the cell never ran here
    records: dict[str, dict] = {}

    def record(key: str, fp: str) -> dict | None:
        if key not in records:
            rec = cached_record(cache_dir, key, fp)
            if rec is None:
                mine = manifest.get(key)
                rec = mine if mine is not None and mine.get("fingerprint") == fp else None
            if rec is None:
                return None
            records[key] = rec
        return records[key]

    def input_hash(key: str, rel: str, done: dict) -> str | None:
        rec = record(key, done[key])
        return None if rec is None or rel not in rec["outputs"] else rec["outputs"][rel]["sha256"]

    fps = _hash_runs(run_cfg, input_hash)
    if fps is None or any(record(key, fp) is None for key, fp in fps.items()):
        return None
    return fps
