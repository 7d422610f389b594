"""``robomimic``: HDF5 ``data/demo_<i>/{obs/<key>, next_obs/<key>, actions, rewards, dones}``.

``obs/<key>`` holds T frames (one per action); ``next_obs/<key>`` the T frames after them, so an
episode has T + 1 frames (``obs`` then the last ``next_obs``) and keeps all T actions; without
``next_obs`` the last action is dropped.  Keys are the names under ``obs/`` plus ``actions``
and ``rewards``.  Rewards are kept as ground truth (audits only); ``dones`` mark terminal
transitions (and success).  The task sentence comes from ``data.attrs["problem_info"]``
(``language_instruction``, LIBERO-style files) when present; ``env_args`` is kept in the metadata.

``write_robomimic`` writes an orlvlmf dataset in this layout (``orlvlmf export --format hdf5``)
with a learned reward in ``rewards`` and its ensemble std in ``reward_std``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from orlvlmf.data.dataset import DatasetError, OfflineDataset
from orlvlmf.data.formats.episodes import key_info
from orlvlmf.data.importer import (DatasetReader, ImportOptions, ImportSource, SourceEpisode,
                                   mapped_episode)
from orlvlmf.pipeline.progress import ticked
from orlvlmf.registry import register


def _demo_order(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)


def _attr_json(attrs, key: str) -> dict:
    raw = attrs.get(key)
    if raw is None:
        return {}
    try:
        value = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


@register("datasets", "robomimic")
class RobomimicReader(DatasetReader):
    """Import a robomimic HDF5 file (``dataset.path``)."""

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        import h5py

        if not Path(path).is_file():
            raise DatasetError(f"dataset.path {path} is not a robomimic HDF5 file")
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from None
        with f:
            if "data" not in f or not isinstance(f["data"], h5py.Group):
                raise DatasetError(f"{path}: no 'data' group; a robomimic file has data/demo_<i>/...")
            demos = sorted((k for k in f["data"].keys() if isinstance(f["data"][k], h5py.Group)),
                           key=_demo_order)
            if not demos:
                raise DatasetError(f"{path}: 'data' holds no demo groups")
            d0 = f["data"][demos[0]]
            if "obs" not in d0:
                raise DatasetError(f"{path}: data/{demos[0]} has no 'obs' group")
            available = {k: key_info(v) for k, v in d0["obs"].items() if isinstance(v, h5py.Dataset)}
            for k in ("actions", "rewards"):
                if k in d0:
                    available[k] = key_info(d0[k])
            env_args = _attr_json(f["data"].attrs, "env_args")
            problem = _attr_json(f["data"].attrs, "problem_info")
        meta: dict[str, Any] = {"robomimic_env_args": env_args, "demos": len(demos)}
        task = problem.get("language_instruction")
        if isinstance(task, str) and task.strip():
            meta["task_text"] = task.strip()
            meta["tasks"] = [task.strip()]

        def episodes(keys: dict[str, Any]) -> Iterator[SourceEpisode]:
            with h5py.File(path, "r") as fh:
                for name in demos:
                    yield _demo(fh["data"][name], keys, f"{path}: data/{name}")

        return ImportSource(Path(path), available, meta, len(demos), episodes,
                            key_help="the keys under data/demo_<i>/obs/, plus 'actions' and 'rewards'")


def _demo(g, keys: dict[str, Any], where: str) -> SourceEpisode:
    def col(name: str) -> np.ndarray:
        if name in ("actions", "rewards"):
            if name not in g:
                raise DatasetError(f"{where}: no '{name}'")
            return g[name][()]
        if name not in g["obs"]:
            raise DatasetError(f"{where}: no 'obs/{name}' (this demo has {sorted(g['obs'].keys())})")
        obs = g["obs"][name][()]
        if "next_obs" in g and name in g["next_obs"]:
            last = g["next_obs"][name][-1:]
            obs = np.concatenate([obs, last], axis=0)
        return obs

    dones = np.asarray(g["dones"][()], bool).reshape(-1) if "dones" in g else None
    return mapped_episode(col, keys, where, terminals=dones, success=dones)


def write_robomimic(ds: OfflineDataset, out: str | os.PathLike, reward: np.ndarray | None = None,
                    reward_std: np.ndarray | None = None, task: str | None = None,
                    on_episode: Callable[[], None] | None = None) -> Path:
    """Write ``ds`` as a robomimic-layout HDF5 file (``reward`` replaces the recorded one);
    ``on_episode()`` after each episode."""
    import h5py

    out = Path(out)
    gt = ds.ground_truth() if ds.has_ground_truth else None
    with h5py.File(out, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": ds.metadata.get("env_id") or "none",
                                             "type": 0, "env_kwargs": {}})
        if task:
            data.attrs["problem_info"] = json.dumps({"language_instruction": task})
        total = 0
        for e in ticked(range(ds.num_episodes), on_episode):
            sl = ds.episode_slice(e)
            T = sl.stop - sl.start
            g = data.create_group(f"demo_{e}")
            g.attrs["num_samples"] = T
            for key in ds.observation_keys:
                frames = ds.episode_frames(key, e)
                opts = {"compression": "lzf"} if frames.dtype == np.uint8 else {}
                g.create_dataset(f"obs/{key}", data=frames[:-1], **opts)
                g.create_dataset(f"next_obs/{key}", data=frames[1:], **opts)
            g.create_dataset("actions", data=ds.actions[sl])
            rewards = (reward[sl] if reward is not None else gt.reward[sl] if gt is not None
                       else np.zeros(T, np.float32))
            g.create_dataset("rewards", data=np.asarray(rewards, np.float32))
            if reward_std is not None:
                g.create_dataset("reward_std", data=np.asarray(reward_std[sl], np.float32))
            g.create_dataset("dones", data=ds.terminals[sl].astype(np.int64))
            total += T
        data.attrs["total"] = total
    return out
