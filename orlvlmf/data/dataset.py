"""The orlvlmf offline dataset: one HDF5 file, written atomically, read lazily.

Layout (``format = "orlvlmf-dataset"``, ``format_version = 1``)::

    /actions               (N, A) float32       transition i = (o_i, a_i, o'_i)
    /terminals, /timeouts  (N,)   bool
    /episode_starts        (E+1,) int64         transition offsets; episode e = [s_e, s_{e+1})
    /observations/<key>    (N+E, ...)           T_e + 1 frames per episode, episodes back to back
    /ground_truth/reward   (N,) float32         only when the source had them
    /ground_truth/success  (N,) bool
    attrs["metadata"]      JSON (``action_min`` / ``action_max``: the per-dimension range of the
                           actions, written by the writer; readers add their source's details)

Frame row of transition ``i`` in episode ``e``: ``row(i) = i + e`` (its next frame is ``row(i) + 1``),
so ``next_observations`` needs no copy.  Images are chunked one frame per chunk and compressed
(lzf), so a random batch of frames touches only the chunks it needs.

Ground truth (reward, success) is reachable only through :meth:`OfflineDataset.ground_truth`;
:meth:`OfflineDataset.without_ground_truth` returns a view that raises :class:`GroundTruthHidden`
there (reward learning gets that view).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from orlvlmf.data.errors import DatasetError
from orlvlmf.data.validate import check_finite

FORMAT = "orlvlmf-dataset"
FORMAT_VERSION = 1
PARTIAL_SUFFIX = ".partial"
_IMAGE_LIKE_MIN_BYTES = 4096  # frames at least this large get one chunk per frame


class GroundTruthHidden(DatasetError):
    """Ground truth was asked for through a view that hides it (reward learning)."""


@dataclass(frozen=True)
class GroundTruth:
    """Per-transition ground truth: ``reward[i]`` = r(o_i, a_i), ``success[i]`` after step i."""

    reward: np.ndarray
    success: np.ndarray


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
WRITE_MARGIN = 1 << 20  # bytes kept free for HDF5's metadata when the file is closed


class DiskFull(DatasetError):
    """The disk filled up while a dataset was written; the message names the file, the free
    space and the space the dataset needs."""


def _no_space(err: OSError) -> bool:
    import errno

    return err.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(err)


class DatasetWriter:
    """Append episodes to ``<path>.partial``; on a clean exit rename it to ``path``.

    An exception inside the ``with`` block (or a killed process) leaves no file at ``path``:
    only the ``.partial`` file, which readers refuse (an exception deletes it too).

    A full disk raises :class:`DiskFull` (a :class:`DatasetError`) naming the file, the free space
    and what the dataset needs — from the bytes its episodes took so far, for
    ``expected_episodes`` when given.  It is raised *before* the disk fills: an episode is written
    only when the disk has room for its raw bytes plus :data:`WRITE_MARGIN` (HDF5 cannot close
    a file whose writes failed: the interpreter would crash at exit), and each episode is flushed
    to disk before the next is checked.  With ``expected_episodes`` the writer also stops as soon
    as the episodes still to come cannot fit.
    """

    def __init__(self, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None,
                 compression: str = "lzf", expected_episodes: int | None = None):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self.metadata = dict(metadata or {})
        self.compression = compression
        self.expected_episodes = expected_episodes
        self._file = None
        self._n = 0  # transitions written
        self._rows = 0  # frames written
        self._starts = [0]
        self._obs_keys: tuple[str, ...] | None = None
        self._has_gt: bool | None = None
        self._act_min: np.ndarray | None = None
        self._act_max: np.ndarray | None = None

    # -- context manager --------------------------------------------------------------------
    def __enter__(self) -> "DatasetWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial.unlink(missing_ok=True)
        self._file = h5py.File(self.partial, "w")
        self._file.attrs["format"] = FORMAT
        self._file.attrs["format_version"] = FORMAT_VERSION
        self._file.attrs["complete"] = False

    def abort(self) -> None:
        """Drop the partial file.  It is emptied first, so that HDF5 can flush and close it even
        on a full disk (a file left half-open crashes the interpreter at exit)."""
        if self._file is not None:
            f, self._file = self._file, None
            try:
                os.truncate(self.partial, 0)
            except OSError:
                pass
            try:
                f.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
        self.partial.unlink(missing_ok=True)

    def _disk_full(self, err: OSError | None = None, episode_bytes: float | None = None) -> "DiskFull":
        """The :class:`DiskFull` error for this file: free space and what the dataset needs
        (per episode: what the written ones took, else ``episode_bytes``)."""
        import shutil

        written = self.partial.stat().st_size if self.partial.exists() else 0
        free = shutil.disk_usage(self.partial.parent).free + written  # once the partial file is gone
        done = self.num_episodes
        per_episode = written / done if done else (episode_bytes or 0)
        mib = lambda b: f"{b / 2**20:.1f} MiB"  # noqa: E731
        if self.expected_episodes:
            need = (f"it needs about {mib(per_episode * self.expected_episodes + WRITE_MARGIN)} for "
                    f"{self.expected_episodes} episodes")
        else:
            need = f"it needs about {mib(per_episode)} per episode ({done} written)"
        return DiskFull(f"disk full writing {self.path}: {mib(free)} free there and {need}. Free "
                        f"space or point run_dir at a larger disk and run again (nothing was kept)"
                        + (f" [{err.strerror or err}]" if err is not None else ""))
    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._file is None:
            return
        if self._n == 0:
            self.abort()
            raise DatasetError(f"{self.path}: no episodes were added; nothing written")
        f = self._file
        try:
            f.create_dataset("episode_starts", data=np.asarray(self._starts, dtype=np.int64))
            self.metadata["action_min"] = self._act_min.tolist()
            self.metadata["action_max"] = self._act_max.tolist()
            f.attrs["metadata"] = json.dumps(self.metadata, default=_json_default, sort_keys=True)
            f.attrs["num_transitions"] = self._n
            f.attrs["num_episodes"] = len(self._starts) - 1
            f.attrs["complete"] = True
            f.flush()
        except OSError as err:
            full = self._disk_full(err) if _no_space(err) else None
            self.abort()
            if full is not None:
                raise full from None
            raise
        f.close()
        self._file = None
        os.replace(self.partial, self.path)

    # -- episodes ---------------------------------------------------------------------------
    def _create(self, name: str, first: np.ndarray) -> None:
        shape = first.shape[1:]
        frame_bytes = int(np.prod(shape, dtype=np.int64)) * first.dtype.itemsize
        per_frame = frame_bytes >= _IMAGE_LIKE_MIN_BYTES or name.endswith("image")
        if per_frame:
            chunks = (1, *shape)
        else:
            rows = max(1, min(4096, (1 << 16) // max(frame_bytes, 1)))
            chunks = (rows, *shape)
        self._file.create_dataset(
            name, shape=(0, *shape), maxshape=(None, *shape), dtype=first.dtype, chunks=chunks,
            compression=self.compression, shuffle=not per_frame,
        )

    def _check_shape(self, name: str, data: np.ndarray, where: str) -> None:
        if name in self._file and self._file[name].shape[1:] != data.shape[1:]:
            raise DatasetError(f"{where}: '{name}' has per-item shape {data.shape[1:]} but "
                               f"{self._file[name].shape[1:]} in earlier episodes; every episode "
                               f"must match")

    def _append(self, name: str, data: np.ndarray) -> None:
        if name not in self._file:
            self._create(name, data)
        d = self._file[name]
        n = d.shape[0]
        d.resize(n + len(data), axis=0)
        d[n:] = data

    def add_episode(self, observations: Mapping[str, np.ndarray], actions: np.ndarray,
                    terminals: np.ndarray | None = None, timeouts: np.ndarray | None = None,
                    reward: np.ndarray | None = None, success: np.ndarray | None = None,
                    where: str | None = None) -> None:
        """Add one episode of ``T`` transitions: observations have ``T+1`` frames.

        ``where`` names the episode's origin (file, episode) in errors; non-finite observations,
        actions or rewards are refused before anything of the episode is written.
        """
        if self._file is None:
            raise DatasetError(f"{self.path}: DatasetWriter used outside its `with` block")
        ep = len(self._starts) - 1
        where = where or f"{self.path}: episode {ep}"
        actions = np.asarray(actions).astype(np.float32)
        if actions.ndim == 1:
            actions = actions[:, None]
        T = len(actions)
        if T == 0:
            raise DatasetError(f"{where}: no transitions")
        if not observations:
            raise DatasetError(f"{where}: no observations")
        check_finite("actions", actions, where)  # after the cast: float64 can overflow float32
        keys = tuple(sorted(observations))
        if self._obs_keys is None:
            self._obs_keys = keys
        elif keys != self._obs_keys:
            raise DatasetError(f"{where}: observation keys {list(keys)}, "
                               f"earlier episodes {list(self._obs_keys)}")
        obs = {}
        for k in keys:
            v = np.asarray(observations[k])
            if len(v) != T + 1:
                raise DatasetError(
                    f"{where}: observation '{k}' has {len(v)} frames for {T} "
                    f"actions; store T+1 frames (the last one is the final next observation)")
            if k == "image" and (v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3):
                raise DatasetError(f"{where}: 'image' must be (T+1, H, W, 3) "
                                   f"uint8, got {v.shape} {v.dtype}")
            check_finite(k, v, where)
            if v.dtype == np.float64:
                v = v.astype(np.float32)
                check_finite(k, v, where)
            obs[k] = v
        term = np.zeros(T, bool) if terminals is None else np.asarray(terminals, bool).reshape(-1)
        tout = np.zeros(T, bool) if timeouts is None else np.asarray(timeouts, bool).reshape(-1)
        has_gt = reward is not None
        if (reward is None) != (success is None):
            raise DatasetError(f"{where}: give both reward and success or neither")
        if self._has_gt is None:
            self._has_gt = has_gt
        elif self._has_gt != has_gt:
            raise DatasetError(f"{where}: ground truth given for some episodes "
                               f"only; give it for all or none")
        cols = {"terminals": term, "timeouts": tout}
        if has_gt:
            check_finite("reward", np.asarray(reward), where)
            cols["ground_truth/reward"] = np.asarray(reward, np.float32).reshape(-1)
            cols["ground_truth/success"] = np.asarray(success, bool).reshape(-1)
        for name, col in cols.items():
            if len(col) != T:
                raise DatasetError(f"{where}: '{name}' has {len(col)} entries "
                                   f"for {T} actions")
        self._check_shape("actions", actions, where)
        lo, hi = actions.min(axis=0), actions.max(axis=0)
        self._act_min = lo if self._act_min is None else np.minimum(self._act_min, lo)
        self._act_max = hi if self._act_max is None else np.maximum(self._act_max, hi)
        for k, v in obs.items():  # nothing of the episode is written unless all of it fits
            self._check_shape(f"observations/{k}", v, where)
        raw = actions.nbytes + sum(c.nbytes for c in cols.values()) + sum(v.nbytes for v in obs.values())
        self._room_for(raw)
        try:
            self._append("actions", actions)
            for name, col in cols.items():
                self._append(name, col)
            for k, v in obs.items():
                self._append(f"observations/{k}", v)
            self._file.flush()  # on disk now: the next episode's room check sees what this one took
        except OSError as err:
            if _no_space(err):
                raise self._disk_full(err) from None
            raise
        self._n += T
        self._rows += T + 1
        self._starts.append(self._n)
        self._check_room()

    def _room_for(self, raw_bytes: int) -> None:
        """Refuse an episode the disk has no room for (compression may not shrink it)."""
        import shutil

        if shutil.disk_usage(self.partial.parent).free < raw_bytes * 1.05 + WRITE_MARGIN:
            raise self._disk_full(episode_bytes=raw_bytes)

    def _check_room(self) -> None:
        """Stop early when the episodes still to come cannot fit (from the bytes per episode so
        far); the real write failure is caught too, this only saves the wait."""
        import shutil

        left = (self.expected_episodes or 0) - self.num_episodes
        if left <= 0 or not self.partial.exists():
            return
        per_episode = self.partial.stat().st_size / self.num_episodes
        if per_episode * left > shutil.disk_usage(self.partial.parent).free:
            raise self._disk_full()

    @property
    def num_transitions(self) -> int:
        return self._n

    @property
    def num_episodes(self) -> int:
        return len(self._starts) - 1


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _read_rows(dset, rows: np.ndarray) -> np.ndarray:
    """``dset[rows]`` for any int rows (unsorted, repeated).

    Sort and de-duplicate; read a dense set as one slice, a sparse set as one slice per run of
    consecutive rows (h5py's own fancy indexing builds a point selection that is orders of
    magnitude slower on chunked data), each frame read once and copied straight to every
    position that asked for it.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    out = np.empty((rows.size, *dset.shape[1:]), dtype=dset.dtype)
    if rows.size == 0:
        return out
    order = np.argsort(rows, kind="stable")
    uniq, first, counts = np.unique(rows[order], return_index=True, return_counts=True)
    lo, hi = int(uniq[0]), int(uniq[-1]) + 1
    if hi - lo <= 2 * len(uniq) + 8:  # dense: one contiguous read, one gather
        out[:] = dset[lo:hi][rows - lo]
        return out
    cut = np.flatnonzero(np.diff(uniq) != 1) + 1
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(uniq)]):
        block = dset[int(uniq[a]):int(uniq[a]) + int(b - a)]
        for j in range(int(a), int(b)):
            if counts[j] == 1:
                out[order[first[j]]] = block[j - a]
            else:
                out[order[first[j]:first[j] + counts[j]]] = block[j - a]
    return out


class OfflineDataset:
    """Lazy reader of an orlvlmf HDF5 dataset (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = None
        self._pid = None
        self._check_path()
        f = self._h5()
        try:
            self._load_index(f)
        except DatasetError:
            self.close()
            raise
        except Exception as err:  # h5py raises KeyError/OSError on corrupt content
            self.close()
            raise DatasetError(f"{self.path}: corrupt dataset file ({type(err).__name__}: {err})") from None

    @classmethod
    def open(cls, path: str | os.PathLike) -> "OfflineDataset":
        return cls(path)

    # -- file handling ------------------------------------------------------------------------
    def _check_path(self) -> None:
        if not self.path.exists():
            partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
            hint = (f" (found {partial.name}: an interrupted write; collect again)"
                    if partial.exists() else "")
            raise DatasetError(f"dataset file {self.path} does not exist{hint}")
        if self.path.is_dir():
            raise DatasetError(f"{self.path} is a directory, not an orlvlmf dataset file; to import "
                               f"a directory of episodes use dataset.source=episodes")

    def _h5(self):
        """The open h5py file (reopened after a fork so DataLoader workers can read)."""
        if self._file is None or self._pid != os.getpid():
            import h5py

            try:
                self._file = h5py.File(self.path, "r", rdcc_nbytes=32 << 20)
            except OSError as err:
                raise DatasetError(f"{self.path}: not a readable HDF5 file (truncated or corrupt?): "
                                   f"{err}") from None
            self._pid = os.getpid()
        return self._file

    def _dset(self, key: str):
        try:
            return self._h5()[key]
        except KeyError:
            raise DatasetError(f"{self.path}: missing key '{key}' (truncated or corrupt file?)") from None

    def _load_index(self, f) -> None:
        if f.attrs.get("format") != FORMAT:
            raise DatasetError(f"{self.path}: not an orlvlmf dataset (attribute 'format' is "
                               f"{f.attrs.get('format')!r}, expected {FORMAT!r})")
        if not bool(f.attrs.get("complete", False)):
            raise DatasetError(f"{self.path}: incomplete dataset (attribute 'complete' is false): "
                               f"its writer was interrupted; collect again")
        for key in ("actions", "terminals", "timeouts", "episode_starts", "observations"):
            if key not in f:
                raise DatasetError(f"{self.path}: missing key '{key}' (truncated or corrupt file?)")
        try:
            self.metadata: dict = json.loads(f.attrs.get("metadata", "{}"))
        except json.JSONDecodeError as err:
            raise DatasetError(f"{self.path}: attribute 'metadata' is not valid JSON: {err}") from None
        self.actions = self._read_full("actions").astype(np.float32, copy=False)
        self.terminals = self._read_full("terminals").astype(bool, copy=False)
        self.timeouts = self._read_full("timeouts").astype(bool, copy=False)
        starts = self._read_full("episode_starts").astype(np.int64)
        n = len(self.actions)
        if (len(starts) < 2 or starts[0] != 0 or starts[-1] != n or np.any(np.diff(starts) <= 0)
                or len(self.terminals) != n or len(self.timeouts) != n):
            raise DatasetError(f"{self.path}: key 'episode_starts' is inconsistent with 'actions' "
                               f"({n} transitions): corrupt file")
        self.episode_starts = starts
        lengths = np.diff(starts)
        self.episode_index = np.repeat(np.arange(len(lengths)), lengths)
        self.step_index = np.arange(n) - np.repeat(starts[:-1], lengths)
        self._rows = np.arange(n) + self.episode_index  # frame row of o_i
        self.observation_keys: tuple[str, ...] = tuple(sorted(f["observations"].keys()))
        for k in self.observation_keys:
            d = f["observations"][k]
            if d.shape[0] != n + len(lengths):
                raise DatasetError(f"{self.path}: key 'observations/{k}' has {d.shape[0]} frames, "
                                   f"expected {n + len(lengths)}: truncated or corrupt file")
        self._has_gt = "ground_truth" in f
        if self._has_gt:
            for k in ("reward", "success"):
                d = f["ground_truth"].get(k)
                if d is None or d.shape[0] != n:
                    raise DatasetError(f"{self.path}: key 'ground_truth/{k}' is missing or has the "
                                       f"wrong length: corrupt file")

    def _read_full(self, key: str) -> np.ndarray:
        d = self._dset(key)
        try:
            return d[()]
        except Exception as err:
            raise DatasetError(f"{self.path}: key '{key}' cannot be read ({err}): corrupt file") from None

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except Exception:
                pass
        self._file = None

    def __enter__(self) -> "OfflineDataset":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, transitions={self.num_transitions}, "
                f"episodes={self.num_episodes}, observations={list(self.observation_keys)})")

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_transitions(self) -> int:
        return len(self.actions)

    def __len__(self) -> int:
        return self.num_transitions

    @property
    def num_episodes(self) -> int:
        return len(self.episode_starts) - 1

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def has_ground_truth(self) -> bool:
        return self._has_gt

    def episode_slice(self, e: int) -> slice:
        """Transition indices of episode ``e``."""
        return slice(int(self.episode_starts[e]), int(self.episode_starts[e + 1]))

    def observation_shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._obs_dset(key).shape[1:])

    def observation_dtype(self, key: str) -> np.dtype:
        return self._obs_dset(key).dtype

    def require(self, keys: Iterable[str]) -> None:
        """Raise :class:`DatasetError` if any observation key in ``keys`` is absent."""
        missing = [k for k in keys if k not in self.observation_keys]
        if missing:
            raise DatasetError(
                f"{self.path}: the config asks for observation(s) {missing}, but this dataset has "
                f"only {list(self.observation_keys)}. Collect it with dataset.observations including "
                f"{missing}, or use an encoder for one of the keys it has")

    # -- observations ------------------------------------------------------------------------
    def _obs_dset(self, key: str):
        if key not in self.observation_keys:
            raise DatasetError(f"{self.path}: no observation '{key}'; this dataset has "
                               f"{list(self.observation_keys)}")
        return self._dset(f"observations/{key}")

    def _index(self, idx: Any) -> np.ndarray:
        arr = np.asarray(idx)
        if arr.dtype == bool:
            raise DatasetError("observation indices must be integers, not a boolean mask "
                               "(use np.flatnonzero(mask))")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise DatasetError(f"observation indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        n = self.num_transitions
        if arr.size and (arr.min() < -n or arr.max() >= n):
            raise DatasetError(f"{self.path}: transition index out of range [0, {n}): "
                               f"min {arr.min()}, max {arr.max()}")
        return np.where(arr < 0, arr + n, arr)

    def observations(self, key: str, idx: Any) -> np.ndarray:
        """``o_i`` for transitions ``idx`` (any ints, any order, repeats allowed); shape idx.shape+item."""
        arr = self._index(idx)
        data = _read_rows(self._obs_dset(key), self._rows[arr.reshape(-1)])
        return data.reshape(*arr.shape, *data.shape[1:])

    def next_observations(self, key: str, idx: Any) -> np.ndarray:
        """``o'_i`` (the frame after transition ``i``)."""
        arr = self._index(idx)
        data = _read_rows(self._obs_dset(key), self._rows[arr.reshape(-1)] + 1)
        return data.reshape(*arr.shape, *data.shape[1:])

    def load_all(self, key: str, next: bool = False) -> np.ndarray:  # noqa: A002 - contract name
        """The whole ``o`` (or ``o'``) column as an (N, ...) array; meant for small keys like state."""
        d = self._obs_dset(key)
        try:
            frames = d[()]
        except Exception as err:
            raise DatasetError(f"{self.path}: key 'observations/{key}' cannot be read ({err})") from None
        return frames[self._rows + (1 if next else 0)]

    def episode_frames(self, key: str, e: int) -> np.ndarray:
        """All ``T+1`` frames of episode ``e``."""
        s, t = int(self.episode_starts[e]), int(self.episode_starts[e + 1])
        return self._obs_dset(key)[s + e:t + e + 1]

    # -- ground truth ------------------------------------------------------------------------
    def ground_truth(self) -> GroundTruth:
        if not self._has_gt:
            raise DatasetError(f"{self.path}: this dataset has no ground-truth reward/success "
                               f"(imported data without a simulator)")
        return GroundTruth(reward=self._read_full("ground_truth/reward").astype(np.float32),
                           success=self._read_full("ground_truth/success").astype(bool))

    def without_ground_truth(self) -> "HiddenGroundTruthDataset":
        """A view for reward learning: same data, ``ground_truth()`` raises GroundTruthHidden."""
        return HiddenGroundTruthDataset(self)


class HiddenGroundTruthDataset:
    """Read-only view of an :class:`OfflineDataset` without access to its ground truth.

    Only the reading API is forwarded; ground-truth figures in the metadata (keys starting with
    ``gt_``) are removed too, so nothing about the true reward reaches reward learning.
    """

    _FORWARD = ("path", "num_transitions", "num_episodes", "observation_keys", "actions",
                "terminals", "timeouts", "episode_index", "step_index", "episode_starts",
                "action_dim", "observations", "next_observations", "load_all", "episode_frames",
                "episode_slice", "observation_shape", "observation_dtype", "require", "close")

    def __init__(self, base: OfflineDataset):
        object.__setattr__(self, "_HiddenGroundTruthDataset__base", base)

    def __getattr__(self, name: str) -> Any:
        if name in self._FORWARD:
            return getattr(self.__base, name)
        raise AttributeError(f"{type(self).__name__} has no attribute '{name}' (ground truth and "
                             f"file handles are hidden from reward learning)")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __len__(self) -> int:
        return self.__base.num_transitions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__base!r})"

    @property
    def metadata(self) -> dict:
        return {k: v for k, v in self.__base.metadata.items() if not k.startswith("gt_")}

    @property
    def has_ground_truth(self) -> bool:
        return False

    def ground_truth(self) -> GroundTruth:
        raise GroundTruthHidden(f"{self.__base.path}: ground-truth reward/success are hidden from "
                                f"this view (reward learning must not read them)")

    def without_ground_truth(self) -> "HiddenGroundTruthDataset":
        return self


def episode_returns(reward: np.ndarray, episode_index: np.ndarray) -> np.ndarray:
    """Sum of ``reward`` per episode: R_e = sum_{i in e} r_i."""
    return np.bincount(episode_index, weights=reward).astype(np.float64)


def episode_success(success: np.ndarray, episode_index: np.ndarray) -> np.ndarray:
    """Whether each episode succeeded at any step."""
    out = np.zeros(int(episode_index.max()) + 1 if len(episode_index) else 0, bool)
    np.logical_or.at(out, episode_index, success.astype(bool))
    return out
