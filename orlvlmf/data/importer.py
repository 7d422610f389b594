"""What every dataset reader shares: key mapping, frame resizing, checks, streaming writes.

A reader (registry kind ``datasets``) subclasses :class:`DatasetReader` and implements ``open``,
which returns an :class:`ImportSource`: the keys the source offers (:class:`KeyInfo`), its
metadata (task sentences, fps, ...) and an iterator of :class:`SourceEpisode` — one episode in
memory at a time.  :meth:`DatasetReader.read` does the rest the same way for every format:

* ``dataset.keys`` maps our names (``image``, ``state``, ``actions``, ``reward``,
  ``point_cloud``) to the source's; unset ones are detected when unambiguous (one camera, one
  state vector), otherwise one error lists the keys the source has;
* frames are checked (uint8, or ints in 0–255, or floats in [0, 1] / [0, 255]) and resized to
  ``image_size`` (the whole frame, bilinear with antialiasing; the aspect ratio is not kept);
* an episode of F frames has F − 1 transitions: F actions (one per frame, as robots log them)
  lose the last one, whose next frame was never recorded;
* NaN / inf anywhere stops the import naming file, episode and key (``DatasetWriter`` checks);
* the per-dimension action range lands in the metadata (``action_min`` / ``action_max``; a
  declared action space as ``action_space_low`` / ``action_space_high``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from orlvlmf.data.dataset import DatasetError, DatasetWriter
from orlvlmf.pipeline.progress import Progress
from orlvlmf.data.validate import as_uint8_images, check_finite

OURS = ("image", "state", "actions", "reward", "point_cloud")
OBSERVATION_KEYS = ("image", "point_cloud", "state")


@dataclass(frozen=True)
class KeyInfo:
    """One key a source offers: ``kind`` image | vector | point_cloud | text | other, the shape of
    one frame's value, its dtype and a short note (e.g. the video codec)."""

    kind: str
    shape: tuple = ()
    dtype: str = ""
    note: str = ""

    def describe(self) -> str:
        shape = "x".join(str(d) for d in self.shape)
        what = f"{self.kind} {self.dtype}[{shape}]" if self.shape else f"{self.kind} {self.dtype}".strip()
        return f"{what}, {self.note}" if self.note else what


@dataclass
class ImportOptions:
    """What the caller wants from a source (``dataset.*`` of the run config)."""

    keys: Mapping[str, Any] = field(default_factory=dict)
    observations: Sequence[str] | None = ("image",)  # None: all the source has
    image_size: int | None = None
    progress: bool = False


@dataclass
class SourceEpisode:
    """One episode as the source logged it: ``frames`` (our key → (F, ...)), ``actions`` (F or
    F − 1 rows, or None), and optional per-step columns aligned with the actions."""

    frames: dict[str, np.ndarray]
    actions: np.ndarray | None
    where: str
    terminals: np.ndarray | None = None
    timeouts: np.ndarray | None = None
    reward: np.ndarray | None = None
    success: np.ndarray | None = None


@dataclass
class ImportSource:
    """An opened source: its keys, metadata, episode count and the episode stream."""

    path: Path
    available: dict[str, KeyInfo]
    metadata: dict
    num_episodes: int | None
    episodes: Callable[[dict[str, Any]], Iterator[SourceEpisode]]
    key_help: str = ""  # how the source names keys, for error messages


# ---------------------------------------------------------------------------------------------
# key mapping
# ---------------------------------------------------------------------------------------------
_PREFERRED = {
    "state": ("observation.state", "state", "states", "observation/state", "proprio",
              "robot_state", "observation"),
    "actions": ("action", "actions"),
    "reward": ("next.reward", "reward", "rewards"),
    "point_cloud": ("point_cloud", "point_clouds"),
    "image": ("image", "images"),
}
_NOT_STATE = ("action", "reward", "done", "terminal", "truncat", "timeout", "success", "index",
              "timestamp", "is_first", "is_last", "discount")
_KINDS = {"image": ("image",), "state": ("vector",), "actions": ("vector",), "reward": ("vector",),
          "point_cloud": ("point_cloud",)}


def _listing(available: Mapping[str, KeyInfo]) -> str:
    return "; ".join(f"{k} ({v.describe()})" for k, v in sorted(available.items())) or "(none)"


def _candidates(ours: str, available: Mapping[str, KeyInfo]) -> list[str]:
    kinds = _KINDS[ours]
    names = [k for k, v in available.items() if v.kind in kinds]
    if ours == "state":
        names = [k for k in names if not any(w in k.lower() for w in _NOT_STATE)]
    elif ours == "actions":
        names = [k for k in names if "action" in k.lower()]
    elif ours == "reward":
        names = [k for k in names if "reward" in k.lower() and available[k].shape in ((), (1,))]
    return sorted(names)


def resolve_keys(available: Mapping[str, KeyInfo], requested: Mapping[str, Any],
                 wanted: Sequence[str] | None, where: str, key_help: str = "") -> dict[str, Any]:
    """Our name → the source's key (a list for a concatenated ``state``; None when absent).

    Observations in ``wanted`` must be found (``wanted=None``: every observation the source has
    unambiguously, none required); ``actions`` and ``reward`` are optional unless named.
    Ambiguity or a named key the source lacks is one error listing what it has.
    """
    detect_all = wanted is None
    wanted = () if wanted is None else tuple(wanted)
    requested = {k: v for k, v in dict(requested or {}).items() if v not in (None, "", [])}
    unknown = sorted(set(requested) - set(OURS))
    if unknown:
        raise DatasetError(f"dataset.keys: unknown name(s) {unknown}; ours are {list(OURS)}")
    hint = f" ({key_help})" if key_help else ""
    out: dict[str, Any] = {}
    for ours in OURS:
        if ours in requested:
            value = requested[ours]
            names = [value] if isinstance(value, str) else [str(v) for v in value]
            if len(names) > 1 and ours != "state":
                raise DatasetError(f"dataset.keys.{ours}: one key expected, got {names}")
            for name in names:
                if name not in available:
                    raise DatasetError(f"{where}: dataset.keys.{ours} = '{name}' is not a key of this "
                                       f"source{hint}. Available keys: {_listing(available)}")
                if available[name].kind not in _KINDS[ours]:
                    raise DatasetError(f"{where}: dataset.keys.{ours} = '{name}' is "
                                       f"{available[name].describe()}, not {' or '.join(_KINDS[ours])}")
            out[ours] = names if ours == "state" and len(names) > 1 else names[0]
            continue
        if ours in OBSERVATION_KEYS and ours not in wanted and not detect_all:
            out[ours] = None
            continue
        cands = _candidates(ours, available)
        preferred = [p for p in _PREFERRED[ours] if p in cands]
        if len(cands) == 1:
            out[ours] = cands[0]
        elif preferred and ours != "image":
            out[ours] = preferred[0]
        elif len(cands) > 1 and detect_all and ours in OBSERVATION_KEYS:
            out[ours] = None
        elif len(cands) > 1:
            what = "cameras" if ours == "image" else "candidates"
            raise DatasetError(
                f"{where}: several {what} for '{ours}': {', '.join(cands)}. Name one with "
                f"dataset.keys.{ours}: <key>" + (" (or a list of keys to concatenate)"
                                                 if ours == "state" else "")
                + f". Available keys: {_listing(available)}")
        elif ours in wanted:
            raise DatasetError(
                f"{where}: no '{ours}' found. Name its key with dataset.keys.{ours}: <key>, or "
                f"drop '{ours}' from dataset.observations. Available keys{hint}: "
                f"{_listing(available)}")
        else:
            out[ours] = None
    return out


def gather_frames(get: Callable[[str], np.ndarray], keys: Mapping[str, Any],
                  where: str) -> dict[str, np.ndarray]:
    """Our observations of one episode: ``get(source_key)`` for each mapped key (a ``state``
    given as a list of keys is concatenated along its last axis); NaN / inf is an error naming
    the source's key."""

    def checked(name: str) -> np.ndarray:
        arr = np.asarray(get(name))
        check_finite(name, arr, where)
        return arr

    frames = {}
    for ours in OBSERVATION_KEYS:
        src = keys.get(ours)
        if isinstance(src, list):
            parts = [checked(k) for k in src]
            frames[ours] = np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)
        elif ours == "image" and src is not None:
            frames[ours] = as_uint8_images(get(src), where, src)
        elif src is not None:
            frames[ours] = checked(src)
    return frames


def source_column(get: Callable[[str], np.ndarray], keys: Mapping[str, Any], ours: str,
                  where: str) -> np.ndarray | None:
    """``get(keys[ours])`` checked for NaN / inf under the source's key name (None if unmapped)."""
    name = keys.get(ours)
    if not name:
        return None
    arr = np.asarray(get(name))
    check_finite(name, arr, where)
    return arr


def mapped_episode(get: Callable[[str], np.ndarray], keys: Mapping[str, Any], where: str,
                   terminals: np.ndarray | None = None, timeouts: np.ndarray | None = None,
                   success: np.ndarray | None = None) -> SourceEpisode:
    """A :class:`SourceEpisode` from a getter of the source's columns and the key mapping
    (``success`` is kept only beside a recorded reward)."""
    reward = source_column(get, keys, "reward", where)
    return SourceEpisode(frames=gather_frames(get, keys, where), where=where,
                         actions=source_column(get, keys, "actions", where),
                         terminals=terminals, timeouts=timeouts, reward=reward,
                         success=success if reward is not None else None)


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------
def resize_frames(frames: np.ndarray, size: int | None) -> np.ndarray:
    """(F, H, W, 3) uint8 → (F, size, size, 3); unchanged when ``size`` is None or already met."""
    if size is None or (frames.shape[1] == size and frames.shape[2] == size):
        return frames
    from PIL import Image

    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR))
    return out


def decode_images(items: Sequence[Any], size: int | None, where: str, key: str) -> np.ndarray:
    """Encoded frames (PNG / JPEG bytes, or paths to such files) → (F, size, size, 3) uint8."""
    import io

    from PIL import Image

    frames = []
    for i, item in enumerate(items):
        try:
            img = Image.open(item if isinstance(item, Path) else io.BytesIO(item)).convert("RGB")
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
        except Exception as err:
            raise DatasetError(f"{where}: key '{key}' frame {i} is not a decodable image "
                               f"({type(err).__name__}: {err})") from None
        frames.append(np.asarray(img))
    return np.stack(frames)


def writer_args(ep: SourceEpisode, image_size: int | None) -> dict[str, Any]:
    """Check one source episode and turn it into ``DatasetWriter.add_episode`` arguments."""
    where = ep.where
    frames = dict(ep.frames)
    if not frames:
        raise DatasetError(f"{where}: no observations")
    counts = {k: len(v) for k, v in frames.items()}
    if len(set(counts.values())) != 1:
        raise DatasetError(f"{where}: observations have different frame counts {counts}")
    F = next(iter(counts.values()))
    if "image" in frames:
        frames["image"] = resize_frames(as_uint8_images(frames["image"], where), image_size)
    if "point_cloud" in frames:
        pc = np.asarray(frames["point_cloud"])
        if pc.ndim != 3 or pc.shape[-1] < 3:
            raise DatasetError(f"{where}: 'point_cloud' must be (frames, P, 3+F), got {pc.shape}")
    if "state" in frames:
        st = np.asarray(frames["state"])
        frames["state"] = st[:, None] if st.ndim == 1 else st.reshape(len(st), -1)
    if ep.actions is None:
        actions = np.zeros((F - 1, 1), np.float32)
    else:
        actions = np.asarray(ep.actions)
        actions = actions[:, None] if actions.ndim == 1 else actions.reshape(len(actions), -1)
        if len(actions) == F:
            actions = actions[:-1]
        elif len(actions) != F - 1:
            raise DatasetError(f"{where}: {len(actions)} actions for {F} frames; expected {F - 1} "
                               f"(or {F}: the last one is dropped)")
    T = len(actions)
    if T < 1:
        raise DatasetError(f"{where}: an episode needs at least 2 frames, got {F}")
    out: dict[str, Any] = {"observations": frames, "actions": actions, "where": where}
    for key in ("terminals", "timeouts", "reward", "success"):
        col = getattr(ep, key)
        if col is not None:
            col = np.asarray(col).reshape(-1)
            if len(col) not in (T, T + 1):
                raise DatasetError(f"{where}: '{key}' has {len(col)} entries for {T} transitions")
            out[key] = col[:T]
    term = np.asarray(out.get("terminals", np.zeros(T)), bool)
    out["terminals"] = term
    if "timeouts" not in out:
        out["timeouts"] = np.r_[np.zeros(T - 1, bool), ~term[-1:]]
    if "reward" in out and "success" not in out:
        out["success"] = np.zeros(T, bool)
    return out


# ---------------------------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------------------------
class DatasetReader:
    """Base of the registered dataset readers: subclasses implement :meth:`open`."""

    #: registry name, for messages
    registry_name: str = "?"

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        raise NotImplementedError

    def shapes(self, path: str | os.PathLike, options: ImportOptions) -> tuple[int | None, int | None]:
        """(action dim, state dim) the import would give, from the source's key list alone."""
        src = self.open(Path(path), options)
        wanted = (None if options.observations is None else
                  [k for k in options.observations if k in OBSERVATION_KEYS])
        keys = resolve_keys(src.available, options.keys, wanted, str(src.path), src.key_help)

        def width(name: str) -> int:
            return int(np.prod(src.available[name].shape or (1,)))

        state = keys.get("state")
        state_dim = (None if state is None else
                     sum(width(k) for k in state) if isinstance(state, list) else width(state))
        return (width(keys["actions"]) if keys.get("actions") else 1), state_dim

    def read(self, path: str | os.PathLike, out: str | os.PathLike,
             options: ImportOptions | None = None) -> Path:
        """Import ``path`` into the orlvlmf dataset ``out`` (written atomically)."""
        options = options or ImportOptions()
        src = self.open(Path(path), options)
        wanted = (None if options.observations is None else
                  [k for k in options.observations if k in OBSERVATION_KEYS])
        keys = resolve_keys(src.available, options.keys, wanted, str(src.path), src.key_help)
        meta = {"source": self.registry_name, "source_path": str(Path(path).resolve()),
                "env_id": None, **src.metadata,
                "keys": {k: v for k, v in keys.items() if v is not None}}
        label = f"import {self.registry_name} {Path(path).name}"
        with DatasetWriter(out, meta, expected_episodes=src.num_episodes) as w, \
                Progress(src.num_episodes, label, options.progress) as bar:
            for ep in src.episodes(keys):
                args = writer_args(ep, options.image_size)
                w.add_episode(**args)
                bar.advance()
            w.metadata.update(src.metadata)  # what the source learnt while reading (codecs, ...)
            obs = args["observations"]
            w.metadata["observations"] = sorted(obs)
            if "image" in obs:
                w.metadata["image_size"] = int(obs["image"].shape[1])
            w.metadata["episodes"] = w.num_episodes
            w.metadata["transitions"] = w.num_transitions
        return Path(out)


def optional_import(module: str, source: str):
    """Import ``module`` or say which extra to install for ``dataset.source``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DatasetError(f"dataset.source={source} needs the Python package '{module}': "
                           f"pip install 'orlvlmf[real]'") from None
