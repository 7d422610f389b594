"""``minari``: import a Minari dataset; export ours (with a learned reward) to Minari.

Mapping: observation dict keys ↔ a Minari ``Dict`` observation space with the same keys (a plain
``Box`` observation is offered as key ``observation``; gymnasium's rendered ``pixels`` is one
camera like any other); actions ↔ actions; terminals / timeouts ↔ terminations / truncations;
rewards ↔ the dataset's recorded (ground-truth) reward; ``infos["success"]`` (T+1 entries, the
reset info first) ↔ success.  A ``Box`` action space's finite bounds are recorded as
``action_space_low`` / ``action_space_high``.  Images are exported without JPEG encoding, so a
round trip is lossless.  Minari datasets live under ``MINARI_DATASETS_PATH``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from orlvlmf.data.dataset import DatasetError, OfflineDataset
from orlvlmf.data.formats.episodes import key_info
from orlvlmf.data.importer import (DatasetReader, ImportOptions, ImportSource, KeyInfo,
                                   SourceEpisode, mapped_episode)
from orlvlmf.pipeline.progress import ticked
from orlvlmf.registry import register


@contextlib.contextmanager
def datasets_root(root: str | os.PathLike | None):
    """Point Minari at ``root`` (``MINARI_DATASETS_PATH``) for the block; restore it after."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    if root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def load_minari(dataset_id: str):
    """A MinariDataset from an id, or from a dataset directory (``<root>/<namespace>/<name>``)."""
    import minari

    p = Path(dataset_id)
    root = None
    if p.is_dir() and (p / "data").is_dir():
        # a dataset directory: its id is the path below the root that holds namespace folders
        meta = p / "data" / "metadata.json"
        parts = 1
        if meta.is_file():
            import json

            parts = len(str(json.loads(meta.read_text()).get("dataset_id", p.name)).split("/"))
        root = p.parents[parts - 1]
        dataset_id = "/".join(p.parts[-parts:])
    try:
        with datasets_root(root):
            return minari.load_dataset(dataset_id), dataset_id
    except Exception as err:
        raise DatasetError(f"cannot load Minari dataset '{dataset_id}' ({type(err).__name__}: "
                           f"{err}); give a local dataset id (see `minari list local`) or its "
                           f"directory") from None


def _space_info(space) -> KeyInfo:
    return key_info(np.zeros((1, *space.shape), space.dtype))


@register("datasets", "minari")
class MinariReader(DatasetReader):
    """Import a Minari dataset (``dataset.path`` = its id, or its directory)."""

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        from gymnasium import spaces

        mds, dataset_id = load_minari(str(path))
        space = mds.observation_space
        if isinstance(space, spaces.Dict):
            available = {k: _space_info(s) for k, s in space.spaces.items() if isinstance(s, spaces.Box)}
        else:
            available = {"observation": _space_info(space)}
        available["actions"] = _space_info(mds.action_space)
        available["rewards"] = KeyInfo("vector", (), "float32")
        meta: dict[str, Any] = {"minari_id": dataset_id}
        act = mds.action_space
        if isinstance(act, spaces.Box) and np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high)):
            meta["action_space_low"] = np.asarray(act.low, float).tolist()
            meta["action_space_high"] = np.asarray(act.high, float).tolist()

        def episodes(keys: dict[str, Any]) -> Iterator[SourceEpisode]:
            for e, ep in enumerate(mds.iterate_episodes()):
                o = ep.observations
                columns = {"actions": ep.actions, "rewards": ep.rewards}

                def get(name: str, o=o, columns=columns) -> np.ndarray:
                    if name in columns:
                        return np.asarray(columns[name])
                    return np.asarray(o[name] if isinstance(o, dict) else o)

                infos = ep.infos or {}
                T = len(ep.actions)
                success = (np.asarray(infos["success"], bool).reshape(-1)[-T:] if "success" in infos
                           else None)
                yield mapped_episode(get, keys, f"Minari {dataset_id}: episode {e}",
                                     terminals=ep.terminations, timeouts=ep.truncations,
                                     success=success)

        return ImportSource(Path(path), available, meta, int(mds.total_episodes), episodes,
                            key_help="observation-space keys, 'actions', 'rewards'")


def import_minari(dataset_id: str, out: str | os.PathLike,
                  options: ImportOptions | None = None) -> Path:
    """Write Minari dataset ``dataset_id`` (an id or a dataset directory) as an orlvlmf dataset."""
    options = options or ImportOptions(observations=None)
    return MinariReader().read(dataset_id, out, options)


def _space_for(ds: OfflineDataset, key: str):
    from gymnasium import spaces

    shape, dtype = ds.observation_shape(key), ds.observation_dtype(key)
    if dtype == np.uint8:
        return spaces.Box(0, 255, shape, np.uint8)
    return spaces.Box(-np.inf, np.inf, shape, np.float32)


def export_minari(dataset: str | os.PathLike | OfflineDataset, dataset_id: str,
                  description: str | None = None, reward: np.ndarray | None = None,
                  reward_std: np.ndarray | None = None, root: str | os.PathLike | None = None,
                  on_episode: Callable[[], None] | None = None):
    """Write the orlvlmf dataset as Minari dataset ``dataset_id`` (under ``root`` when given).

    ``reward`` (N,) replaces the recorded reward (a learned one); ``reward_std`` goes to
    ``infos["reward_std"]``.  Returns the MinariDataset.
    """
    import minari
    from gymnasium import spaces
    from minari.data_collector import EpisodeBuffer

    ds = dataset if isinstance(dataset, OfflineDataset) else OfflineDataset.open(dataset)
    gt = ds.ground_truth() if ds.has_ground_truth else None
    obs_space = spaces.Dict({k: _space_for(ds, k) for k in ds.observation_keys})
    lo = np.minimum(-1.0, np.asarray(ds.metadata.get("action_min", -1.0), np.float32))
    hi = np.maximum(1.0, np.asarray(ds.metadata.get("action_max", 1.0), np.float32))
    act_space = spaces.Box(np.broadcast_to(lo, (ds.action_dim,)).astype(np.float32),
                           np.broadcast_to(hi, (ds.action_dim,)).astype(np.float32),
                           (ds.action_dim,), np.float32)
    buffers = []
    for e in ticked(range(ds.num_episodes), on_episode):
        sl = ds.episode_slice(e)
        T = sl.stop - sl.start
        obs = {k: ds.episode_frames(k, e) for k in ds.observation_keys}
        success = (np.r_[False, gt.success[sl]] if gt is not None else np.zeros(T + 1, bool))
        infos = {"success": success}
        if reward_std is not None:
            infos["reward_std"] = np.r_[0.0, reward_std[sl]].astype(np.float32)
        rewards = (reward[sl] if reward is not None else
                   gt.reward[sl] if gt is not None else np.zeros(T, np.float32))
        buffers.append(EpisodeBuffer(
            id=e, observations=obs, actions=ds.actions[sl], rewards=rewards,
            terminations=ds.terminals[sl], truncations=ds.timeouts[sl], infos=infos))
    collector = ds.metadata.get("collector")
    algorithm = str(collector.get("quality", "unknown")) if isinstance(collector, dict) else "unknown"
    with warnings.catch_warnings(), datasets_root(root):  # Minari nags about author / permalink
        warnings.simplefilter("ignore", UserWarning)
        return minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=obs_space, action_space=act_space,
            algorithm_name=algorithm,
            description=description or f"orlvlmf dataset {ds.path.name} "
                                       f"(env {ds.metadata.get('env_id')})",
            jpeg_encoding=False)
