"""Dataset readers (registry kind ``datasets``): import outside data into an orlvlmf dataset.

``episodes`` — a directory of per-episode files, one ``.npz`` or ``.h5``/``.hdf5`` per episode,
read in file-name order.  Keys in each file (real robot logs: no simulator, no ground truth):

    image        (T+1, H, W, 3) uint8     camera frames (``images`` also accepted)
    point_cloud  (T+1, P, 3+F) float      optional; P fixed across episodes (``point_clouds`` ok)
    state        (T+1, S) float           optional proprioception
    actions      (T, A) float             optional; all-zero (A = 1) when absent
    terminals    (T,) bool                optional; default all false
    timeouts     (T,) bool                optional; default: true at the last step

At least one of image / point_cloud / state must be present.  Frames may also number T (one per
action): then the last action is dropped, since its next observation was not logged.

``minari`` — a Minari dataset id (or a path to one under ``MINARI_DATASETS_PATH``); rewards are
kept as ground truth (for evaluation only), ``infos["success"]`` when present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from orlvlmf.data.dataset import DatasetError, DatasetWriter, OfflineDataset
from orlvlmf.registry import register

_ALIASES = {"images": "image", "point_clouds": "point_cloud", "states": "state",
            "action": "actions", "dones": "terminals"}
_OBS_KEYS = ("image", "point_cloud", "state")
_EXTS = (".npz", ".h5", ".hdf5")


def _load_episode_file(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        else:
            import h5py

            with h5py.File(path, "r") as f:
                raw = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except Exception as err:
        raise DatasetError(f"{path}: cannot read episode file ({type(err).__name__}: {err})") from None
    return {_ALIASES.get(k, k): v for k, v in raw.items()}


def episode_from_arrays(raw: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    """Check one logged episode and turn it into DatasetWriter.add_episode arguments."""
    obs = {k: np.asarray(raw[k]) for k in _OBS_KEYS if k in raw}
    if not obs:
        raise DatasetError(f"{where}: no observations; expected at least one of {list(_OBS_KEYS)} "
                           f"(found keys {sorted(raw)})")
    lengths = {k: len(v) for k, v in obs.items()}
    if len(set(lengths.values())) != 1:
        raise DatasetError(f"{where}: observations have different frame counts {lengths}")
    frames = next(iter(lengths.values()))
    if "image" in obs:
        img = obs["image"]
        if img.ndim != 4 or img.shape[-1] != 3:
            raise DatasetError(f"{where}: 'image' must be (frames, H, W, 3), got {img.shape}")
        if img.dtype != np.uint8:
            if np.issubdtype(img.dtype, np.floating) and img.size and img.max() <= 1.0:
                img = np.round(img * 255)
            obs["image"] = np.clip(img, 0, 255).astype(np.uint8)
    if "point_cloud" in obs and (obs["point_cloud"].ndim != 3 or obs["point_cloud"].shape[-1] < 3):
        raise DatasetError(f"{where}: 'point_cloud' must be (frames, P, 3+F), got "
                           f"{obs['point_cloud'].shape}")
    if "actions" in raw:
        actions = np.asarray(raw["actions"], np.float32)
        if actions.ndim == 1:
            actions = actions[:, None]
        if len(actions) == frames:
            actions = actions[:-1]
        elif len(actions) != frames - 1:
            raise DatasetError(f"{where}: {len(actions)} actions for {frames} frames; expected "
                               f"{frames - 1} (or {frames}: the last one is dropped)")
    else:
        actions = np.zeros((frames - 1, 1), np.float32)
    T = len(actions)
    if T < 1:
        raise DatasetError(f"{where}: an episode needs at least 2 frames, got {frames}")
    out: dict[str, Any] = {"observations": obs, "actions": actions}
    for key in ("terminals", "timeouts"):
        if key in raw:
            col = np.asarray(raw[key], bool).reshape(-1)[:T]
            if len(col) != T:
                raise DatasetError(f"{where}: '{key}' has {len(col)} entries for {T} transitions")
            out[key] = col
    if "terminals" not in out:
        out["terminals"] = np.zeros(T, bool)
    if "timeouts" not in out:
        out["timeouts"] = np.r_[np.zeros(T - 1, bool), ~out["terminals"][-1:]]
    return out


@register("datasets", "episodes")
class EpisodeDirectoryReader:
    """Import a directory of per-episode ``.npz`` / ``.h5`` files (see the module docstring)."""

    def files(self, path: str | os.PathLike) -> list[Path]:
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(f"dataset.path {root} is not a directory of episode files "
                               f"({', '.join(_EXTS)})")
        files = sorted(p for p in root.iterdir() if p.suffix in _EXTS and p.is_file())
        if not files:
            raise DatasetError(f"{root}: no episode files ({', '.join(_EXTS)}) found")
        return files

    def read(self, path: str | os.PathLike, out: str | os.PathLike) -> Path:
        files = self.files(path)
        meta = {"source": "episodes", "source_path": str(Path(path).resolve()),
                "episode_files": [f.name for f in files], "env_id": None}
        with DatasetWriter(out, meta) as w:
            for f in files:
                ep = episode_from_arrays(_load_episode_file(f), str(f))
                try:
                    w.add_episode(**ep)
                except DatasetError as err:
                    raise DatasetError(f"{f}: {err}") from None
            w.metadata["observations"] = sorted(ep["observations"])
            if "image" in ep["observations"]:
                w.metadata["image_size"] = int(ep["observations"]["image"].shape[1])
        return Path(out)


@register("datasets", "minari")
class MinariReader:
    """Import a Minari dataset (``dataset.path`` = its id, or a directory holding one)."""

    def read(self, path: str | os.PathLike, out: str | os.PathLike) -> Path:
        from orlvlmf.data.minari_io import import_minari

        return import_minari(str(path), out)


def read_any(source: str, path: str | os.PathLike, out: str | os.PathLike) -> OfflineDataset:
    """Import ``path`` with reader ``source`` and open the result."""
    from orlvlmf.registry import REGISTRY

    REGISTRY.create("datasets", source).read(path, out)
    return OfflineDataset.open(out)
