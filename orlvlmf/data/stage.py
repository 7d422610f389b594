"""The ``collect`` stage: make ``dataset.h5`` by rolling out an env plugin or importing data.

``dataset.source``:
  * ``collect`` — roll out ``env`` with the ``dataset.quality`` collector (see collectors.py);
  * ``file``    — copy an existing orlvlmf HDF5 dataset from ``dataset.path`` (checked first);
  * any other   — a registered dataset reader (kind ``datasets``: ``episodes``, ``minari``, ...)
    that imports ``dataset.path``.
In every case the observations named in ``dataset.observations`` must be present, so a config
asking for e.g. ``point_cloud`` fails here, before any training.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from omegaconf import OmegaConf

from orlvlmf.data.dataset import DatasetError, DatasetWriter, OfflineDataset
from orlvlmf.env import EnvError
from orlvlmf.pipeline.stage import Stage, StageContext, StageError
from orlvlmf.registry import REGISTRY, register

_VERSIONED = ("orlvlmf", "numpy", "h5py", "mujoco", "metaworld", "gymnasium", "minari",
              "orlvlmf-cartpole", "orlvlmf-metaworld", "orlvlmf-rope")


def package_versions(names: Iterable[str] = _VERSIONED) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


def gt_summary(returns: list[float], successes: list[bool], final: list[bool]) -> dict[str, float]:
    """Dataset GT figures: episode returns R_e = Σ_t r_t (mean/std/min/max), the fraction of
    episodes that succeeded at some step and the fraction that ended in success."""
    r = np.asarray(returns, float)
    return {"gt_return_mean": float(r.mean()), "gt_return_std": float(r.std()),
            "gt_return_min": float(r.min()), "gt_return_max": float(r.max()),
            "gt_success_rate": float(np.mean(successes)),
            "gt_final_success_rate": float(np.mean(final))}


class _Progress:
    """A rich progress bar with ETA (a no-op when disabled)."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                transient=False)
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def collect_dataset(env_cfg: Any, out: Path, *, quality: str = "random", episodes: int = 10,
                    horizon: int | None = None, observations=("state", "image"),
                    image_size: int = 128, seed: int = 0, task: str | None = None,
                    progress: bool = False, workers: int = 1) -> dict:
    """Roll out the env and write ``out`` atomically; return the summary (also in the metadata).

    ``workers`` > 1 rolls episodes out in that many processes (same dataset, written in order).
    """
    from orlvlmf.data.collectors import DESCRIPTIONS, QUALITIES, collect, collect_parallel
    from orlvlmf.env import make_env

    if quality not in QUALITIES:
        raise StageError(f"dataset.quality must be one of {list(QUALITIES)}, got '{quality}'")
    if int(episodes) < 1:
        raise StageError(f"dataset.episodes must be at least 1, got {episodes}")
    if int(workers) < 1:
        raise StageError(f"dataset.workers must be at least 1, got {workers}")
    make_kwargs = {"observations": tuple(observations), "image_size": image_size, "horizon": horizon}
    env = make_env(env_cfg, **make_kwargs)
    env_node = (OmegaConf.to_container(env_cfg, resolve=True) if OmegaConf.is_config(env_cfg)
                else ({"name": env_cfg} if isinstance(env_cfg, str) else dict(env_cfg)))
    workers = min(int(workers), int(episodes))
    episodes_iter = (collect(env, quality, int(episodes), int(seed)) if workers == 1 else
                     collect_parallel(env_node, make_kwargs, quality, int(episodes), int(seed), workers))
    meta = {
        "env_id": env.env_id, "env_config": env_node, "task_text": task or env.task_text,
        "observations": list(observations), "image_size": int(image_size),
        "camera": env.camera_info() if hasattr(env, "camera_info") else None,
        "horizon": env.horizon, "action_dim": env.action_dim, "state_dim": env.state_dim,
        "collector": {"quality": quality, "how": DESCRIPTIONS[quality]},
        "seed": int(seed), "episodes": int(episodes), "versions": package_versions(),
        "source": "collect",
    }
    returns, successes, final, labels = [], [], [], []
    t0 = time.perf_counter()
    try:
        with DatasetWriter(out, meta) as w, \
                _Progress(int(episodes), f"collect {env.env_id}/{quality}", progress) as bar:
            for ep in episodes_iter:
                w.add_episode(**ep.writer_args())
                returns.append(float(ep.reward.sum()))
                successes.append(bool(ep.success.any()))
                final.append(bool(ep.success[-1]))
                labels.append(ep.policy)
                bar.advance()
            n = w.num_transitions
            summary = {"transitions": n, "episodes": int(episodes), **gt_summary(returns, successes, final)}
            w.metadata.update(summary)
            w.metadata["episode_policies"] = labels
            w.metadata["gt_episode_returns"] = returns
    finally:
        env.close()
    summary["steps_per_s"] = round(n / (time.perf_counter() - t0), 1)
    return summary


def import_dataset(source: str, path: str | None, out: Path, observations) -> dict:
    """``dataset.source`` ``file`` or a reader name → ``out``; returns a summary."""
    if not path:
        raise StageError(f"dataset.source={source} needs dataset.path (the file or directory to read)")
    if source == "file":
        with OfflineDataset.open(path) as ds:
            ds.require(observations)
        shutil.copyfile(path, out)
    else:
        reader = REGISTRY.create("datasets", source)
        reader.read(path, out)
    with OfflineDataset.open(out) as ds:
        ds.require(observations)
        summary = {"transitions": ds.num_transitions, "episodes": ds.num_episodes}
        summary.update({k: v for k, v in ds.metadata.items()
                        if k.startswith("gt_") and isinstance(v, (int, float))})
    return summary


@register("stages", "collect")
class CollectStage(Stage):
    # not ``task``: the goal sentence changes labels, not episodes (the label stage keeps it), so a
    # new sentence reuses the dataset; its metadata keeps the env's own sentence
    sections = ("env", "dataset")
    inputs = ()
    outputs = ("dataset.h5",)
    per_seed = False
    description = "roll out the env with a collector (or import a dataset)"

    def run(self, ctx: StageContext) -> dict:
        cfg = ctx.cfg
        d = cfg.dataset
        out = ctx.output("dataset.h5")
        try:
            if d.source == "collect":
                if cfg.env is None or not cfg.env.get("name"):
                    raise StageError("dataset.source=collect needs an env: set env.name (e.g. "
                                     "env.name=cartpole) or use dataset.source=file/episodes/minari")
                progress = bool(OmegaConf.select(cfg, "trainer.progress", default=True))
                summary = collect_dataset(cfg.env, out, quality=d.quality, episodes=d.episodes,
                                          horizon=d.horizon, observations=list(d.observations),
                                          image_size=d.image_size, seed=d.seed,
                                          progress=progress and sys.stderr.isatty(),
                                          workers=d.workers)
            else:
                summary = import_dataset(d.source, d.path, out, list(d.observations))
        except (DatasetError, EnvError) as err:
            raise StageError(str(err)) from None
        ctx.log(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in summary.items()))
        return summary
