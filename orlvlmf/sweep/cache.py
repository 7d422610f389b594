"""The sweep's shared stage cache: ``<cache>/<stage key>/<fingerprint>/``, ``<cache>`` being
``<out_dir>/<name>/cache`` or the sweep config's ``cache_dir`` (several sweeps may share one).

Every finished stage run of every cell is published there (``record.json``, the manifest record,
plus ``files/``, hard links to the artifacts), keyed by the runner's fingerprint (stage, version,
seed, config sections, input hashes).  :class:`SharedPipeline` looks a stage up there before
running it and links the outputs into its own run directory, so one dataset is collected per
task/quality, one label set is queried per task/quality/feedback, one reward model is trained per
label set and seed — whichever cells need them, in whichever process or machine they run.

Publishing is an atomic rename of a finished temporary folder, so concurrent writers (the Ray
executor's tasks, two sweeps with disjoint filters) never see half an entry.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from orlvlmf.pipeline.manifest import atomic_write_text
from orlvlmf.pipeline.runner import Pipeline, StageResult, stage_key

RECORD = "record.json"


def entry_dir(cache_dir: Path, key: str, fp: str) -> Path:
    return Path(cache_dir) / key / fp


def cached_record(cache_dir: Path, key: str, fp: str) -> dict | None:
    """The manifest record published for stage run ``key`` with fingerprint ``fp`` (or None)."""
    path = entry_dir(cache_dir, key, fp) / RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _hashes(record: dict) -> dict[str, str]:
    return {rel: out.get("sha256") for rel, out in record.get("outputs", {}).items()}


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
        entry = entry_dir(self.cache_dir, key, fp)
        record = cached_record(self.cache_dir, key, fp)
        if record is None or not all((entry / "files" / rel).exists() for rel in record["outputs"]):
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
        """Publish this run's outputs of stage run ``key``; if another process published the same
        stage run first, adopt that entry instead (below)."""
        rec = self.manifest.get(key)
        if rec is None:
            return
        fp = rec["fingerprint"]
        entry = entry_dir(self.cache_dir, key, fp)
        if not (entry / RECORD).is_file():
            tmp = entry.with_name(f".{entry.name}.tmp-{uuid.uuid4().hex[:12]}")  # unique across machines
            for rel in rec["outputs"]:
                (tmp / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
                _link_tree(self.run_dir / rel, tmp / "files" / rel)
            atomic_write_text(tmp / RECORD, json.dumps(rec, indent=2, sort_keys=True))
            entry.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, entry)
                return
            except OSError:  # another process published it first
                shutil.rmtree(tmp, ignore_errors=True)
        # Another process ran the same stage run at the same time (two sweeps sharing a dataset,
        # say) and published first. The bytes of two runs may differ with equal contents (LZF chunks
        # of one frame compress to different sizes from run to run; the label store's SQLite file),
        # and a cell's identity is the chain of *published* output hashes
        # (:func:`orlvlmf.sweep.plan.recorded_fingerprints`): take the published outputs, so the
        # stages after this one read them and the cell's chain is the cache's.
        published = cached_record(self.cache_dir, key, fp)
        if published is not None and _hashes(published) != _hashes(rec) and not self._import(key, fp):
            self.echo(f"{key}: another process published this stage run, but its cache entry "
                      f"{entry} is unreadable; keeping this run's outputs")
