"""``episodes``: a directory of per-episode files, one ``.npz`` or ``.h5``/``.hdf5`` per episode,
read in file-name order.  Usual keys (others are mapped with ``dataset.keys``):

    image        (T+1, H, W, 3) uint8     camera frames (``images`` also found)
    point_cloud  (T+1, P, 3+F) float      optional; P fixed across episodes
    state        (T+1, S) float           optional proprioception
    actions      (T, A) float             optional; all-zero (A = 1) when absent
    terminals    (T,) bool                optional; default all false
    timeouts     (T,) bool                optional; default: true at the last step

Frames may also number T (one per action): the last action is then dropped, since its next
observation was not logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from orlvlmf.data.dataset import DatasetError
from orlvlmf.data.importer import (DatasetReader, ImportOptions, ImportSource, KeyInfo,
                                   SourceEpisode, mapped_episode)
from orlvlmf.registry import register

_EXTS = (".npz", ".h5", ".hdf5")
_FLAGS = {"terminals": ("terminals", "dones"), "timeouts": ("timeouts",)}


def array_kind(shape: tuple, dtype: np.dtype) -> str:
    """What one frame of an array is, from its per-frame shape and dtype."""
    if not (np.issubdtype(dtype, np.number) or dtype == bool):
        return "other"
    if len(shape) == 3 and shape[-1] == 3:
        return "image"
    if len(shape) == 2 and shape[-1] >= 3 and np.issubdtype(dtype, np.floating):
        return "point_cloud"
    if len(shape) <= 1:
        return "vector"
    return "other"


def key_info(arr: Any) -> KeyInfo:
    shape, dtype = tuple(arr.shape[1:]), np.dtype(arr.dtype)
    return KeyInfo(array_kind(shape, dtype), shape, str(dtype))


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        import h5py

        with h5py.File(path, "r") as f:
            return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except Exception as err:
        raise DatasetError(f"{path}: cannot read episode file ({type(err).__name__}: {err})") from None


@register("datasets", "episodes")
class EpisodeDirectoryReader(DatasetReader):
    """Import a directory of per-episode ``.npz`` / ``.h5`` files (see the module docstring)."""

    def files(self, path: Path) -> list[Path]:
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(f"dataset.path {root} is not a directory of episode files "
                               f"({', '.join(_EXTS)})")
        files = sorted(p for p in root.iterdir() if p.suffix in _EXTS and p.is_file())
        if not files:
            raise DatasetError(f"{root}: no episode files ({', '.join(_EXTS)}) found")
        return files

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        files = self.files(path)
        first = _load(files[0])
        available = {k: key_info(v) for k, v in first.items() if np.ndim(v) >= 1}

        def episodes(keys: dict[str, Any]) -> Iterator[SourceEpisode]:
            for i, f in enumerate(files):
                raw = first if i == 0 else _load(f)
                yield _episode(raw, keys, str(f))

        meta = {"episode_files": [f.name for f in files]}
        return ImportSource(Path(path), available, meta, len(files), episodes,
                            key_help=f"the arrays in {files[0].name}")


def _episode(raw: dict[str, np.ndarray], keys: dict[str, Any], where: str) -> SourceEpisode:
    def get(name: str) -> np.ndarray:
        if name not in raw:
            raise DatasetError(f"{where}: key '{name}' is missing (found {sorted(raw)})")
        return raw[name]

    flags = {}
    for ours, names in _FLAGS.items():
        found = [n for n in names if n in raw]
        flags[ours] = np.asarray(raw[found[0]], bool) if found else None
    return mapped_episode(get, keys, where, **flags)
