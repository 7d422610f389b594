"""Minari interop: export an orlvlmf dataset to Minari and import a Minari dataset.

Mapping (both ways): observation dict keys ``state`` / ``image`` / ``point_cloud`` ↔ a Minari
``Dict`` observation space with the same keys (a plain ``Box`` observation imports as ``state``);
actions ↔ actions; terminals/timeouts ↔ terminations/truncations; GT reward ↔ rewards; GT
success ↔ ``infos["success"]`` (T+1 entries: the reset info first).  Images are stored without
JPEG encoding so a round trip is lossless.  Minari datasets live under ``MINARI_DATASETS_PATH``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from orlvlmf.data.dataset import DatasetError, DatasetWriter, OfflineDataset


def _space_for(ds: OfflineDataset, key: str):
    from gymnasium import spaces

    shape, dtype = ds.observation_shape(key), ds.observation_dtype(key)
    if dtype == np.uint8:
        return spaces.Box(0, 255, shape, np.uint8)
    return spaces.Box(-np.inf, np.inf, shape, np.float32)


def export_minari(dataset: str | os.PathLike | OfflineDataset, dataset_id: str,
                  description: str | None = None):
    """Write the orlvlmf dataset as Minari dataset ``dataset_id``; returns the MinariDataset."""
    import minari
    from gymnasium import spaces
    from minari.data_collector import EpisodeBuffer

    ds = dataset if isinstance(dataset, OfflineDataset) else OfflineDataset.open(dataset)
    gt = ds.ground_truth() if ds.has_ground_truth else None
    obs_space = spaces.Dict({k: _space_for(ds, k) for k in ds.observation_keys})
    act_space = spaces.Box(-1.0, 1.0, (ds.action_dim,), np.float32)
    buffers = []
    for e in range(ds.num_episodes):
        sl = ds.episode_slice(e)
        T = sl.stop - sl.start
        obs = {k: ds.episode_frames(k, e) for k in ds.observation_keys}
        success = (np.r_[False, gt.success[sl]] if gt is not None else np.zeros(T + 1, bool))
        buffers.append(EpisodeBuffer(
            id=e, observations=obs, actions=ds.actions[sl],
            rewards=(gt.reward[sl] if gt is not None else np.zeros(T, np.float32)),
            terminations=ds.terminals[sl], truncations=ds.timeouts[sl],
            infos={"success": success}))
    with warnings.catch_warnings():  # Minari nags about author / permalink / env spec
        warnings.simplefilter("ignore", UserWarning)
        return minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=obs_space, action_space=act_space,
        algorithm_name=str(ds.metadata.get("collector", {}).get("quality", "unknown")
                           if isinstance(ds.metadata.get("collector"), dict) else "unknown"),
        description=description or f"orlvlmf dataset {ds.path.name} "
                                   f"(env {ds.metadata.get('env_id')})",
        jpeg_encoding=False)


def import_minari(dataset_id: str, out: str | os.PathLike) -> Path:
    """Write Minari dataset ``dataset_id`` (an id or a dataset directory) as an orlvlmf dataset."""
    import minari

    p = Path(dataset_id)
    old_root = os.environ.get("MINARI_DATASETS_PATH")
    if p.is_dir() and (p / "data").is_dir():  # a dataset directory: point Minari at its root
        dataset_id = p.name
        os.environ["MINARI_DATASETS_PATH"] = str(p.parent)
    try:
        mds = minari.load_dataset(dataset_id)
    except Exception as err:
        raise DatasetError(f"cannot load Minari dataset '{dataset_id}' ({type(err).__name__}: "
                           f"{err}); give a local dataset id (see `minari list local`)") from None
    finally:
        if old_root is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old_root
    meta = {"source": "minari", "minari_id": dataset_id, "env_id": None}
    returns, succ = [], []
    with DatasetWriter(out, meta) as w:
        for ep in mds.iterate_episodes():
            o = ep.observations
            if isinstance(o, dict):
                obs = {k: np.asarray(v) for k, v in o.items()}
            else:
                obs = {"state": np.asarray(o, np.float32)}
            infos = ep.infos or {}
            T = len(ep.actions)
            success = (np.asarray(infos["success"], bool).reshape(-1)[-T:] if "success" in infos
                       else np.zeros(T, bool))
            w.add_episode(observations=obs, actions=np.asarray(ep.actions, np.float32),
                          terminals=ep.terminations, timeouts=ep.truncations,
                          reward=np.asarray(ep.rewards, np.float32), success=success)
            returns.append(float(np.sum(ep.rewards)))
            succ.append(bool(success.any()))
        w.metadata["gt_return_mean"] = float(np.mean(returns))
        w.metadata["gt_success_rate"] = float(np.mean(succ))
        w.metadata["gt_success_from_infos"] = "success" in (ep.infos or {})
    return Path(out)
