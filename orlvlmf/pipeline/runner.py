"""Run pipeline stages: skip what is done, redo what changed, resume what was interrupted.

For each stage (and each seed, for per-seed stages) the runner computes a fingerprint::

    fingerprint = sha256(stage name, stage version, seed, config sections, input artifact hashes)

* fingerprint recorded and all outputs intact → **skip**;
* otherwise → **run**: outputs are written under ``.staging/<key>/`` and moved into place only when
  the stage returns; the manifest is updated last.  Downstream stages see new input hashes and so
  rerun too (unless the upstream artifact came out byte-identical);
* ``.work/<key>-<fingerprint>/`` keeps a stage's checkpoints across an interruption and is
  discarded when the stage finishes or its fingerprint changes → **resume**.

A :class:`Pipeline` holds the run directory's lock (:mod:`.lock`) while it lives: a second
process on the same run stops at once, naming the first one's pid.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from omegaconf import DictConfig, OmegaConf

from orlvlmf.config.structured import plain_name
from orlvlmf.pipeline.lock import RunDirLock
from orlvlmf.pipeline.manifest import Manifest, atomic_write_text, canonical_hash
from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import REGISTRY

SAVED_CONFIG = "config.yaml"


@dataclass
class StageResult:
    key: str
    status: str  # "skipped" | "ran"
    seconds: float
    summary: dict[str, Any]


def run_dir_of(cfg: DictConfig) -> Path:
    """``run_dir/name``; a name that is not one plain folder name (``..``, ``/abs``, ``a/b``) is
    refused, so a run never writes outside its own folder (the loader refuses it first)."""
    problem = plain_name(cfg.name)
    if problem:
        raise StageError(f"'name' {problem}")
    return Path(cfg.run_dir) / str(cfg.name)


def stage_key(name: str, seed: int | None) -> str:
    return name if seed is None else f"{name}@seed{seed}"


def _seed_dir(seed: int | None) -> str:
    return "" if seed is None else f"seed_{seed}/"


def load_stage(name: str) -> Stage:
    """The registered stage ``name`` (a :class:`RegistryError` lists the stages there are)."""
    return REGISTRY.create("stages", name)


def save_config(cfg: DictConfig, run_dir: Path) -> Path:
    """The composed config, interpolations (``${oc.env:...}``) left unresolved: no secret is written."""
    path = run_dir / SAVED_CONFIG
    atomic_write_text(path, OmegaConf.to_yaml(cfg, resolve=False))
    return path


def _section(cfg: DictConfig, dotted: str) -> Any:
    node = OmegaConf.select(cfg, dotted, default=None)
    if isinstance(node, DictConfig) or OmegaConf.is_list(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def stage_seeds(cfg: DictConfig, stage: Stage) -> list[int | None]:
    """The seeds a stage runs for under ``cfg`` (``[None]`` for a stage that is not per seed)."""
    return list(cfg.seeds) if stage.per_seed else [None]


def input_keys(cfg: DictConfig, ref: str, seed: int | None) -> list[tuple[str, str, str]]:
    """(name seen by the stage, manifest key, relative path) for one input reference.

    A per-seed artifact read by a stage that is not per seed expands to one input per seed,
    named ``stage/artifact@seed<k>``.
    """
    stage_name, artifact = ref.split("/", 1)
    if not load_stage(stage_name).per_seed:
        return [(ref, stage_name, artifact)]
    if seed is not None:
        return [(ref, stage_key(stage_name, seed), _seed_dir(seed) + artifact)]
    return [(f"{ref}@seed{s}", stage_key(stage_name, s), _seed_dir(s) + artifact) for s in cfg.seeds]


def fingerprint(cfg: DictConfig, stage: Stage, name: str, seed: int | None, input_hashes: dict) -> str:
    """sha256(stage name, version, seed, the config sections it reads, its input artifact hashes)."""
    return canonical_hash({"stage": name, "version": stage.version, "seed": seed,
                           "sections": {s: _section(cfg, s) for s in stage.config_sections(cfg)},
                           "inputs": input_hashes})


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` replacing what is there (directories included)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and not dst.is_symlink():
        trash = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, trash)
        os.replace(src, dst)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(src, dst)


class Pipeline:
    """Runs registered stages over one run directory."""

    def __init__(self, cfg: DictConfig, echo: Callable[[str], None] = print, verify: bool = False):
        self.cfg = cfg
        self.run_dir = run_dir_of(cfg)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lock = RunDirLock(self.run_dir)  # one process per run directory (pipeline/lock.py)
        self.manifest = Manifest(self.run_dir, verify=verify)  # verify: hash every artifact again
        self.echo = echo
        save_config(cfg, self.run_dir)

    # -- helpers --------------------------------------------------------------------------------
    def _seeds(self, stage: Stage) -> list[int | None]:
        return stage_seeds(self.cfg, stage)

    def _inputs(self, stage: Stage, name: str, seed: int | None) -> tuple[dict[str, Path], dict]:
        paths, hashes = {}, {}
        for ref in stage.input_refs(self.cfg):
            for label, key, rel in input_keys(self.cfg, ref, seed):
                outputs = self.manifest.outputs_intact(self.run_dir, key)
                if outputs is None or rel not in outputs:
                    raise StageError(
                        f"stage '{name}' needs '{label}', which is missing or changed in "
                        f"{self.run_dir}: run `orlvlmf {ref.split('/')[0]}` (or `orlvlmf fit`) on "
                        f"this config first"
                    )
                paths[label] = self.run_dir / rel
                hashes[label] = outputs[rel]["sha256"]
        return paths, hashes

    def fingerprint(self, stage: Stage, name: str, seed: int | None, input_hashes: dict) -> str:
        return fingerprint(self.cfg, stage, name, seed, input_hashes)

    def up_to_date(self, name: str, seed: int | None = None) -> bool:
        """Whether stage ``name`` (for ``seed``) has run on this config and its outputs are intact."""
        stage = load_stage(name)
        seed = seed if stage.per_seed else None
        try:
            _, input_hashes = self._inputs(stage, name, seed)
        except StageError:
            return False
        key = stage_key(name, seed)
        rec = self.manifest.get(key)
        return (rec is not None and rec.get("fingerprint") == self.fingerprint(stage, name, seed, input_hashes)
                and self.manifest.outputs_intact(self.run_dir, key) is not None)

    # -- running --------------------------------------------------------------------------------
    def run_stage(self, name: str, force: bool = False) -> list[StageResult]:
        stage = load_stage(name)
        return [self._run_one(stage, name, seed, force) for seed in self._seeds(stage)]

    def _run_one(self, stage: Stage, name: str, seed: int | None, force: bool) -> StageResult:
        key = stage_key(name, seed)
        inputs, input_hashes = self._inputs(stage, name, seed)
        fp = self.fingerprint(stage, name, seed, input_hashes)
        rec = self.manifest.get(key)
        if (
            not force
            and rec is not None
            and rec.get("fingerprint") == fp
            and self.manifest.outputs_intact(self.run_dir, key) is not None
        ):
            self.echo(f"{key}: up to date, skipped ({_one_line(rec.get('summary', {}))})")
            return StageResult(key, "skipped", 0.0, rec.get("summary", {}))

        staging = self.run_dir / ".staging" / key
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        work_root = self.run_dir / ".work"
        work = work_root / f"{key}-{fp[:16]}"
        for stale in work_root.glob(f"{key}-*"):
            if stale != work or force:  # --force always starts clean
                shutil.rmtree(stale, ignore_errors=True)
        interrupted = work.exists()
        kept = interrupted and any(work.iterdir())
        work.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(
            cfg=self.cfg,
            run_dir=self.run_dir,
            stage=name,
            seed=seed,
            staging_dir=staging,
            work_dir=work,
            inputs=inputs,
            artifacts_dir=self.run_dir / _seed_dir(seed) if seed is not None else self.run_dir,
        )
        if kept:
            how = "resuming from what the interrupted run kept"
        elif interrupted:
            how = ("starting over (the interrupted run kept no checkpoint"
                   + (f"; {stage.resume_note}" if stage.resume_note else "") + ")")
        else:
            how = "running"
        self.echo(f"{key}: {how}" + (f" ({stage.description})" if stage.description else ""))
        t0 = time.perf_counter()
        try:
            summary = stage.run(ctx) or {}
        except Exception as err:  # a damaged input explains it better than the read error does
            self._blame_damaged_input(stage, name, seed, err)
            raise
        seconds = time.perf_counter() - t0
        missing = [o for o in stage.outputs if not (staging / o).exists()]
        if missing:
            raise StageError(f"stage '{name}' finished without writing {', '.join(missing)}")
        outputs = {}
        self.manifest.drop(key)  # from here on the old record no longer describes what is on disk
        for o in stage.outputs:
            rel = _seed_dir(seed) + o
            _replace(staging / o, self.run_dir / rel)
            outputs[rel] = Manifest.describe_output(self.run_dir / rel)
        summary = {**summary, "seconds": round(seconds, 2)}
        self.manifest.put(key, {"fingerprint": fp, "outputs": outputs, "summary": summary,
                                "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        self.echo(f"{key}: done in {seconds:.1f} s ({_one_line(summary)})")
        return StageResult(key, "ran", seconds, summary)

    def _blame_damaged_input(self, stage: Stage, name: str, seed: int | None, err: Exception) -> None:
        """Raise a :class:`StageError` naming an input of the failed stage whose bytes changed
        since its stage wrote it (size and mtime may be unchanged), and how to redo that stage."""
        for ref in stage.input_refs(self.cfg):
            for label, key, rel in input_keys(self.cfg, ref, seed):
                if rel in self.manifest.damaged(self.run_dir, key):
                    producer = key.split("@")[0]
                    raise StageError(
                        f"stage '{name}' failed reading {self.run_dir / rel}: that file is damaged "
                        f"(its content changed since stage '{producer}' wrote it; "
                        f"{type(err).__name__}: {str(err)[:200]}). Redo that stage: `orlvlmf "
                        f"{producer} --force` (or delete {self.run_dir / rel} and run again)") from err

    def run(self, names: Iterable[str] | None = None, force: bool = False) -> list[StageResult]:
        """Run ``names`` (default: ``cfg.stages``) in order.

        Before any work: unknown stages fail; a stage that needs a simulator the config lacks
        (no ``env``) is refused — or, when it is ``simulator_optional`` and was not asked for
        explicitly (a single-stage command or a ``stages`` list of one's own), skipped with one line.
        """
        from orlvlmf.config.schema import DEFAULT_STAGES

        explicit = names is not None or list(self.cfg.stages) != DEFAULT_STAGES
        names = list(names if names is not None else self.cfg.stages)
        runnable = []
        for n in names:  # fail before any work if a stage is unknown or cannot run
            why = load_stage(n).missing_simulator(self.cfg)
            if why is None:
                runnable.append(n)
            elif load_stage(n).simulator_optional and not explicit:
                self.echo(f"{n}: skipped ({why})")
            else:
                raise StageError(f"stage '{n}' cannot run: {why}")
        names = runnable
        results: list[StageResult] = []
        for n in names:
            results += self.run_stage(n, force=force)
        return results


def _one_line(summary: dict) -> str:
    items = [f"{k}={_fmt(v)}" for k, v in summary.items() if not isinstance(v, (dict, list))]
    return ", ".join(items) or "no summary"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
