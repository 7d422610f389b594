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

from orlvlmf.data.dataset import (DatasetError, DatasetWriter, OfflineDataset, episode_returns,
                                  episode_success)
from orlvlmf.data.validate import check_finite
from orlvlmf.env import EnvError
from orlvlmf.pipeline.progress import Progress, progress_enabled
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
        with DatasetWriter(out, meta, expected_episodes=int(episodes)) as w, \
                Progress(int(episodes), f"collect {env.env_id}/{quality}", progress) as bar:
            for e, ep in enumerate(episodes_iter):
                w.add_episode(**ep.writer_args(), where=f"collect {env.env_id}: episode {e}")
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


def check_stored(ds: OfflineDataset) -> None:
    """Refuse an orlvlmf file holding NaN / inf (written before the writer checked)."""
    where = lambda e: f"{ds.path}: episode {e}"  # noqa: E731
    for e in range(ds.num_episodes):
        check_finite("actions", ds.actions[ds.episode_slice(e)], where(e))
        for k in ds.observation_keys:
            if np.issubdtype(ds.observation_dtype(k), np.floating):
                check_finite(k, ds.episode_frames(k, e), where(e))


def key_mapping(d) -> dict:
    """``dataset.keys`` as a plain dict (``d.keys`` on a config node is the mapping method)."""
    node = d["keys"]
    return dict(OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node or {})


def dataset_shapes(d) -> tuple[int | None, int | None]:
    """(action dim, state dim) of the data ``dataset.*`` names, read without importing it."""
    if d.source == "file":
        with OfflineDataset.open(d.path) as ds:
            state = (int(np.prod(ds.observation_shape("state"))) if "state" in ds.observation_keys
                     else None)
            return ds.action_dim, state
    from orlvlmf.data.importer import ImportOptions

    options = ImportOptions(keys=key_mapping(d), observations=tuple(d.observations),
                            image_size=d.image_size)
    return REGISTRY.create("datasets", d.source).shapes(d.path, options)


def check_dataset_fits_env(env_cfg, d) -> None:
    """Refuse, before importing, data whose action / state sizes are not the env's."""
    from orlvlmf.env import check_env_shapes, make_env

    if not d.path:
        raise StageError(f"dataset.source={d.source} needs dataset.path (the file or directory to read)")
    action_dim, state_dim = dataset_shapes(d)
    env = make_env(env_cfg, observations=("state",))
    try:
        check_env_shapes(env, action_dim, state_dim, f"the dataset {d.path}")
    finally:
        env.close()


def import_dataset(source: str, path: str | None, out: Path, observations, *, keys=None,
                   image_size: int | None = None, progress: bool = False) -> dict:
    """``dataset.source`` ``file`` or a reader name → ``out``; returns a summary."""
    if not path:
        raise StageError(f"dataset.source={source} needs dataset.path (the file or directory to read)")
    t0 = time.perf_counter()
    if source == "file":
        with OfflineDataset.open(path) as ds:
            ds.require(observations)
            check_stored(ds)
        shutil.copyfile(path, out)
    else:
        from orlvlmf.data.importer import ImportOptions

        options = ImportOptions(keys=dict(keys or {}), observations=tuple(observations),
                                image_size=image_size, progress=progress)
        REGISTRY.create("datasets", source).read(path, out, options)
    with OfflineDataset.open(out) as ds:
        ds.require(observations)
        summary = {"transitions": ds.num_transitions, "episodes": ds.num_episodes}
        summary.update({k: v for k, v in ds.metadata.items()
                        if k.startswith("gt_") and isinstance(v, (int, float))})
        frames = ds.num_transitions + ds.num_episodes
    summary["frames_per_s"] = round(frames / max(time.perf_counter() - t0, 1e-9), 1)
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

    def missing_simulator(self, cfg) -> str | None:
        if cfg.dataset.source == "collect" and not (cfg.env and cfg.env.get("name")):
            return ("dataset.source=collect rolls out a simulator, but the config has no env: set "
                    "env (e.g. env: {name: cartpole}) or import data (dataset.source: lerobot, "
                    "robomimic, rlds, minari, episodes or file, with dataset.path)")
        return None

    def run(self, ctx: StageContext) -> dict:
        cfg = ctx.cfg
        d = cfg.dataset
        out = ctx.output("dataset.h5")
        why = self.missing_simulator(cfg)
        if why:
            raise StageError(why)
        try:
            progress = progress_enabled(cfg.trainer.progress)
            if d.source == "collect":
                if d.image_size is None:
                    raise StageError("dataset.image_size: null keeps an imported dataset's frame "
                                     "size; collecting needs a size (e.g. 128)")
                summary = collect_dataset(cfg.env, out, quality=d.quality, episodes=d.episodes,
                                          horizon=d.horizon, observations=list(d.observations),
                                          image_size=d.image_size, seed=d.seed,
                                          progress=progress,
                                          workers=d.workers)
            else:
                if cfg.env is not None:  # a simulator beside imported data must be its own
                    check_dataset_fits_env(cfg.env, d)
                summary = import_dataset(d.source, d.path, out, list(d.observations), keys=key_mapping(d),
                                         image_size=d.image_size, progress=progress)
        except (DatasetError, EnvError) as err:
            raise StageError(str(err)) from None
        ctx.log(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in summary.items()))
        log_dataset(ctx, out, summary)
        return summary


def log_dataset(ctx: StageContext, path: Path, summary: dict) -> None:
    """``tb/collect``: the stage's summary figures and, with ground truth, the GT return and
    success of every episode (step = episode) and a histogram of the returns."""
    from orlvlmf.pipeline import tensorboard as tb

    writer = tb.stage_writer(ctx.run_dir, "collect")
    try:
        tb.add_scalars(writer, "collect", summary)
        with OfflineDataset.open(path) as ds:
            tb.add_scalars(writer, "collect", {"episode_length_mean": ds.num_transitions / max(1, ds.num_episodes)})
            if ds.has_ground_truth:
                gt = ds.ground_truth()
                returns = episode_returns(gt.reward, ds.episode_index)
                success = episode_success(gt.success, ds.episode_index)
                tb.add_series(writer, "collect/episode_return", returns)
                tb.add_series(writer, "collect/episode_success", success.astype(float))
                writer.add_histogram("collect/episode_return", returns, 0)
    finally:
        writer.close()
