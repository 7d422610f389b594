"""``orlvlmf export``: a run's dataset with its learned reward, in a format other libraries read.

| ``--format`` | writes | reward columns |
|---|---|---|
| ``lerobot`` | a LeRobot v3.0 folder (parquet + AV1 video) | ``next.reward``, ``next.reward_std`` |
| ``minari`` | a Minari dataset ``orlvlmf/<run name>-v0`` under ``--out`` (the datasets root) | ``rewards``, ``infos["reward_std"]`` |
| ``hdf5`` | one robomimic-layout HDF5 file | ``rewards``, ``reward_std`` |

The reward is the relabel stage's column (``rewards.npz``: the normalised learned reward IQL
trains on; its ensemble std beside it) for ``--seed`` (default: the config's first seed).  The
run's ``collect`` and ``relabel`` stages must be up to date for this config; nothing is written
otherwise, and ``--out`` must not exist yet.  A top-level module: it reads what the data and
reward stages wrote (the formats' writers in :mod:`orlvlmf.data.formats`, the reward column of
:mod:`orlvlmf.reward.column`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

from orlvlmf.pipeline.progress import Progress, progress_enabled

FORMATS = ("lerobot", "minari", "hdf5")


class ExportError(ValueError):
    """The run cannot be exported as asked (missing stage, bad format, existing output)."""


def export_run(cfg, fmt: str, out: str | Path, seed: int | None = None,
               log: Callable[[str], None] = print) -> Path:
    """Write the run's dataset + learned reward as ``fmt`` at ``out``; returns what was written."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.pipeline.runner import Pipeline, run_dir_of
    from orlvlmf.reward.column import load_rewards

    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    out = Path(out)
    if out.exists():
        raise ExportError(f"--out {out} exists already; give a new path (nothing was written)")
    run_dir = run_dir_of(cfg)
    if not (run_dir / "manifest.json").is_file():
        raise ExportError(f"no run at {run_dir}: run `orlvlmf fit` (at least collect → relabel) first")
    seeds = list(cfg.seeds)
    seed = seeds[0] if seed is None else int(seed)
    if seed not in seeds:
        raise ExportError(f"--seed {seed} is not one of the config's seeds {seeds}")
    pipe = Pipeline(cfg, echo=log)
    for stage in ("collect", "relabel"):
        if not pipe.up_to_date(stage, seed):
            raise ExportError(f"stage '{stage}' (seed {seed}) is missing or out of date in {run_dir} for "
                              f"this config: run `orlvlmf fit` (or `orlvlmf {stage}`) on it first")
    with OfflineDataset.open(run_dir / "dataset.h5") as ds:
        col = load_rewards(run_dir / f"seed_{seed}" / "rewards.npz", ds.num_transitions)
        task = cfg.task or ds.metadata.get("task_text")
        out.parent.mkdir(parents=True, exist_ok=True)
        with Progress(ds.num_episodes, f"export {fmt}", progress_enabled(cfg.trainer.progress)) as bar:
            where = _write(fmt, ds, out, col, task, cfg, seed, bar.advance)
        log(f"export: {ds.num_episodes} episodes, {ds.num_transitions} transitions with the learned "
            f"reward of seed {seed} → {where} ({fmt})")
    return where


def _write(fmt: str, ds, out: Path, col, task: str | None, cfg, seed: int,
           on_episode: Callable[[], None]) -> Path:
    """Write one format (see the module docstring); returns what was written."""
    if fmt == "lerobot":
        from orlvlmf.data.formats.lerobot import write_lerobot

        write_lerobot(ds, out, reward=col.reward, reward_std=col.reward_std, task=task,
                      on_episode=on_episode)
        return out
    tmp = out.with_name(out.name + ".partial")
    if fmt == "hdf5":
        from orlvlmf.data.formats.robomimic import write_robomimic

        write_robomimic(ds, tmp, reward=col.reward, reward_std=col.reward_std, task=task,
                        on_episode=on_episode)
        tmp.replace(out)
        return out
    from orlvlmf.data.formats.minari import export_minari

    dataset_id = f"orlvlmf/{re.sub(r'[^A-Za-z0-9_]+', '_', str(cfg.name))}-v0"
    shutil.rmtree(tmp, ignore_errors=True)
    export_minari(ds, dataset_id, reward=col.reward, reward_std=col.reward_std, root=tmp,
                  description=f"orlvlmf run {cfg.name}: learned reward (seed {seed})"
                              + (f" for '{task}'" if task else ""), on_episode=on_episode)
    tmp.replace(out)
    return out / dataset_id
