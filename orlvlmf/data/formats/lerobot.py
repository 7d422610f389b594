"""``lerobot``: LeRobot datasets v2.0 / v2.1 / v3.0, read with pyarrow + PyAV (no ``lerobot``).

Layouts (``meta/info.json`` has ``codebase_version``, ``fps``, ``features``, and the
``data_path`` / ``video_path`` templates):

* v2.x — one parquet per episode (``data/chunk-XXX/episode_XXXXXX.parquet``) and one mp4 per
  episode and camera; episodes and their task sentences in ``meta/episodes.jsonl`` /
  ``meta/tasks.jsonl``;
* v3.0 — several episodes per parquet and per mp4 (``data/chunk-XXX/file-XXX.parquet``,
  ``videos/<key>/chunk-XXX/file-XXX.mp4``); ``meta/episodes/*/*.parquet`` gives each episode's
  files and its ``videos/<key>/from_timestamp`` in the video; ``meta/tasks.parquet`` the tasks.

One parquet row per frame: the frame's observation and the action taken there; frame ``t`` of a
video is the one at ``from_timestamp + timestamp[t]`` (±0.4 / fps).  Features of dtype ``video``
(mp4: AV1, h264, hevc, mpeg4 — the stream is probed, the codec info.json declares is not
trusted) or ``image`` (PNG bytes in the parquet) are cameras; ``list<float>`` columns are
vectors (``observation.state``, ``action``); ``next.reward`` is kept as ground truth,
``next.done`` marks terminal transitions.  A file not where the template says is looked for
under the dataset root (same name, under a folder named like the camera); a file really
missing is one error naming the episode, the key and the paths tried.

``write_lerobot`` writes an orlvlmf dataset as LeRobot v3.0 (``orlvlmf export --format
lerobot``): ``observation.image`` (video), ``observation.state``, ``action``, ``next.reward``
(the learned reward), ``next.reward_std`` (ensemble std), ``next.done``, ``next.truncated``.
Each episode of T transitions is T + 1 rows; the last row repeats the last action with reward 0
(its next frame does not exist), so our reader gives back the same T transitions.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from orlvlmf.data.dataset import DatasetError, OfflineDataset
from orlvlmf.data.importer import (DatasetReader, ImportOptions, ImportSource, KeyInfo,
                                   SourceEpisode, decode_images, mapped_episode,
                                   optional_import)
from orlvlmf.pipeline.progress import ticked
from orlvlmf.registry import register

INFO = "meta/info.json"
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
FRAME_TOLERANCE = 0.4  # of a frame period: how far a decoded frame may sit from its timestamp


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: cannot read ({type(err).__name__}: {err})") from None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    try:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                rows.append(json.loads(line))
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: cannot read line {n} ({type(err).__name__}: {err})") from None
    return rows


def _feature_info(name: str, feat: dict) -> KeyInfo:
    dtype = str(feat.get("dtype", ""))
    shape = tuple(int(d) for d in feat.get("shape") or ())
    if dtype in ("video", "image"):
        names = [str(n).lower() for n in (feat.get("names") or [])]
        if names[:1] in (["c"], ["channel"], ["channels"]) or (
                not names and len(shape) == 3 and shape[0] in (1, 3) and shape[-1] not in (1, 3)):
            shape = (*shape[1:], shape[0])  # (C, H, W) → (H, W, C)
        info = feat.get("info") or feat.get("video_info") or {}
        codec = info.get("video.codec")
        note = f"{dtype}" + (f", info.json says {codec}" if codec and dtype == "video" else "")
        return KeyInfo("image", shape, "uint8", note)
    if dtype in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8",
                 "bool"):
        return KeyInfo("vector", shape if shape != () else (1,), dtype)
    return KeyInfo("other", shape, dtype)


class _Files:
    """Finds a dataset's files, trusting info.json's templates only as a first guess."""

    def __init__(self, root: Path):
        self.root = root
        self._by_name: dict[str, list[Path]] | None = None
        self.relocated = 0

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = defaultdict(list)
            for p in self.root.rglob("*"):
                if p.is_file():
                    self._by_name[p.stem].append(p)
        return self._by_name

    def find(self, rel: str, where: str, camera: str | None = None) -> Path:
        """``root/rel``, else the one file of that name (any video suffix for a camera) under
        the root — in a folder named like ``camera`` and, if several, in the same chunk."""
        direct = self.root / rel
        if direct.is_file():
            return direct
        name = Path(rel)
        suffixes = VIDEO_SUFFIXES if camera else (name.suffix,)
        cands = [p for p in self._index().get(name.stem, []) if p.suffix in suffixes]
        if camera:
            cands = [p for p in cands if camera in p.relative_to(self.root).parts]
        if len(cands) > 1:
            chunks = [part for part in name.parts if part.startswith("chunk-")]
            same_chunk = [p for p in cands if all(c in p.parts for c in chunks)]
            cands = same_chunk or cands
        if len(cands) == 1:
            self.relocated += 1
            return cands[0]
        what = f"camera '{camera}' " if camera else ""
        if not cands:
            raise DatasetError(
                f"{where}: {what}file missing: not at {direct} (info.json's template) nor anywhere "
                f"under {self.root} as '{name.stem}{''.join(suffixes[:1])}'"
                + (f" in a folder named '{camera}'" if camera else "")
                + ". Download the dataset completely (videos included)")
        raise DatasetError(f"{where}: {what}file not at {direct}; several candidates under "
                           f"{self.root}: {', '.join(str(c) for c in cands[:5])}")


class _Layout:
    """Episodes of a LeRobot dataset and where each one's data and videos are."""

    def __init__(self, root: Path):
        self.root = root
        info_path = root / INFO
        if not info_path.is_file():
            raise DatasetError(f"{root}: no {INFO}; dataset.path must be a LeRobot dataset's root "
                               f"folder (with meta/, data/, videos/)")
        self.info = _read_json(info_path)
        version = str(self.info.get("codebase_version", ""))
        data_path = str(self.info.get("data_path", ""))
        if version.startswith("v3") or (not version and "file_index" in data_path):
            self.version = 3
        elif version.startswith("v2") or (not version and "episode_index" in data_path):
            self.version = 2
        else:
            raise DatasetError(f"{info_path}: codebase_version '{version}' is not one we read "
                               f"(v2.0, v2.1, v3.0)")
        self.codebase_version = version or f"v{self.version}"
        self.fps = float(self.info.get("fps") or 0)
        if self.fps <= 0:
            raise DatasetError(f"{info_path}: 'fps' is missing or not positive")
        self.features: dict = dict(self.info.get("features") or {})
        self.chunks_size = int(self.info.get("chunks_size") or 1000)
        self.files = _Files(root)
        self.episodes = self._episodes()
        self.task_names = self._tasks()

    # -- metadata -----------------------------------------------------------------------------
    def _episodes(self) -> list[dict]:
        if self.version == 2:
            path = self.root / "meta" / "episodes.jsonl"
            if path.is_file():
                eps = _read_jsonl(path)
            else:  # no episode list: one parquet per episode, the index in its name
                found = sorted(self.root.glob("data/**/episode_*.parquet"))
                eps = [{"episode_index": int(re.findall(r"\d+", p.stem)[-1])} for p in found]
            if not eps:
                raise DatasetError(f"{self.root}: no episodes (meta/episodes.jsonl is empty and "
                                   f"no data/**/episode_*.parquet)")
            return sorted(eps, key=lambda e: int(e["episode_index"]))
        pq = optional_import("pyarrow.parquet", "lerobot")
        files = sorted((self.root / "meta" / "episodes").glob("**/*.parquet"))
        if not files:
            raise DatasetError(f"{self.root}: no meta/episodes/**/*.parquet (a v3.0 dataset lists "
                               f"its episodes there)")
        eps: list[dict] = []
        for f in files:
            try:
                names = pq.ParquetFile(f).schema_arrow.names
                cols = [n for n in names if not n.startswith("stats/")]
                eps += pq.read_table(f, columns=cols).to_pylist()
            except Exception as err:
                raise DatasetError(f"{f}: cannot read ({type(err).__name__}: {err})") from None
        return sorted(eps, key=lambda e: int(e["episode_index"]))

    def _tasks(self) -> dict[int, str]:
        if self.version == 2:
            path = self.root / "meta" / "tasks.jsonl"
            rows = _read_jsonl(path) if path.is_file() else []
            return {int(r["task_index"]): str(r["task"]) for r in rows if "task" in r}
        path = self.root / "meta" / "tasks.parquet"
        if not path.is_file():
            return {}
        pq = optional_import("pyarrow.parquet", "lerobot")
        table = pq.read_table(path)
        text = next((c for c in ("task", "__index_level_0__") if c in table.column_names), None)
        if text is None or "task_index" not in table.column_names:
            return {}
        return {int(i): str(t) for i, t in zip(table.column("task_index").to_pylist(),
                                                 table.column(text).to_pylist())}

    def episode_tasks(self, ep: dict) -> list[str]:
        tasks = ep.get("tasks")
        if isinstance(tasks, str):
            return [tasks]
        return [str(t) for t in tasks] if tasks else []

    # -- files --------------------------------------------------------------------------------
    def data_file(self, ep: dict) -> Path:
        e = int(ep["episode_index"])
        where = f"{self.root}: episode {e}"
        if self.version == 2:
            rel = str(self.info.get("data_path") or
                      "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet")
            rel = rel.format(episode_chunk=e // self.chunks_size, episode_index=e)
        else:
            rel = str(self.info.get("data_path") or
                      "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet")
            rel = rel.format(chunk_index=int(ep.get("data/chunk_index", 0)),
                             file_index=int(ep.get("data/file_index", 0)))
        return self.files.find(rel, where)

    def video_file(self, ep: dict, key: str) -> tuple[Path, float]:
        """The video holding ``key`` for episode ``ep``, and the episode's start time in it."""
        e = int(ep["episode_index"])
        where = f"{self.root}: episode {e}"
        template = self.info.get("video_path")
        if self.version == 2:
            rel = str(template or "videos/chunk-{episode_chunk:03d}/{video_key}/"
                                  "episode_{episode_index:06d}.mp4")
            rel = rel.format(episode_chunk=e // self.chunks_size, video_key=key, episode_index=e)
            return self.files.find(rel, where, camera=key), 0.0
        rel = str(template or "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
        rel = rel.format(video_key=key, chunk_index=int(ep.get(f"videos/{key}/chunk_index", 0)),
                         file_index=int(ep.get(f"videos/{key}/file_index", 0)))
        start = ep.get(f"videos/{key}/from_timestamp")
        if start is None:
            raise DatasetError(f"{where}: meta/episodes has no 'videos/{key}/from_timestamp'")
        return self.files.find(rel, where, camera=key), float(start)


class _Video:
    """Sequential decoder of one video file at a time: frames at given timestamps.

    Episodes that follow each other in a file (v3.0) are decoded in one pass; a jump backwards
    or far ahead seeks to the keyframe before it.
    """

    def __init__(self, size: int | None):
        self.size = size
        self.path: Path | None = None
        self.container = None
        self.decoded = None
        self.last_t = -math.inf
        self.codecs: dict[str, str] = {}

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container, self.decoded, self.path = None, None, None

    def _open(self, path: Path, key: str) -> None:
        av = optional_import("av", "lerobot")
        self.close()
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
        except (av.FFmpegError, IndexError) as err:
            raise DatasetError(f"{path}: not a readable video ({type(err).__name__}: {err})") from None
        self.stream.thread_type = "AUTO"
        self.offset = (float(self.stream.start_time * self.stream.time_base)
                       if self.stream.start_time is not None else 0.0)
        self.codecs[key] = self.stream.codec_context.codec.canonical_name
        self.path, self.decoded, self.last_t = path, None, -math.inf

    def _seek(self, t: float) -> None:
        self.container.seek(max(0, int((t + self.offset) / self.stream.time_base)),
                            stream=self.stream, backward=True)
        self.decoded, self.last_t = None, -math.inf

    def frames(self, path: Path, key: str, times: np.ndarray, tol: float, where: str) -> np.ndarray:
        if path != self.path:
            self._open(path, key)
        first = float(times[0])
        if first < self.last_t - tol or first > self.last_t + 2.0 or (self.decoded is None and first > 1.0):
            self._seek(first)
        if self.decoded is None:
            self.decoded = self.container.decode(self.stream)
        n = len(times)
        out: np.ndarray | None = None
        j = 0
        opts = {"format": "rgb24"}
        if self.size is not None:
            opts.update(width=self.size, height=self.size, interpolation="AREA")
        av = optional_import("av", "lerobot")
        try:
            for frame in self.decoded:
                if frame.pts is None:
                    continue
                t = float(frame.pts * self.stream.time_base) - self.offset
                self.last_t = t
                if t < times[j] - tol:
                    continue
                if t > times[j] + tol:
                    raise DatasetError(f"{where}: no frame at t={times[j]:.4f} s (frame {j}) in "
                                       f"{path}: the video jumps to {t:.4f} s")
                img = frame.to_ndarray(**opts)
                if out is None:
                    out = np.empty((n, *img.shape), np.uint8)
                while j < n and abs(t - times[j]) <= tol:
                    out[j] = img
                    j += 1
                if j == n:
                    return out
        except av.FFmpegError as err:
            raise DatasetError(f"{where}: cannot decode {path} ({type(err).__name__}: {err})") from None
        self.decoded = None
        raise DatasetError(f"{where}: {path} ends at t={self.last_t:.4f} s but frame {j} of the "
                           f"episode is at t={times[j]:.4f} s (video shorter than the data)")


def _column(table, name: str, where: str) -> np.ndarray:
    """A parquet column as numpy: (F,) for scalars, (F, D) for list columns."""
    pa = optional_import("pyarrow", "lerobot")
    col = table.column(name).combine_chunks()
    if col.null_count:
        raise DatasetError(f"{where}: column '{name}' has {col.null_count} missing value(s)")
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or \
            pa.types.is_fixed_size_list(col.type):
        values = col.flatten()
        if values.null_count:
            raise DatasetError(f"{where}: column '{name}' has {values.null_count} missing value(s)")
        arr = values.to_numpy(zero_copy_only=False)
        if len(col) and len(arr) % len(col):
            raise DatasetError(f"{where}: column '{name}' has rows of different lengths")
        return arr.reshape(len(col), -1)
    return col.to_numpy(zero_copy_only=False)


def _png_column(table, name: str, root: Path, size: int | None, where: str) -> np.ndarray:
    """An ``image`` feature (struct of PNG ``bytes`` / ``path``) as (F, H, W, 3) uint8."""
    cells = table.column(name).to_pylist()
    items = [cell.get("bytes") or root / str(cell.get("path")) if isinstance(cell, dict) else cell
             for cell in cells]
    return decode_images(items, size, where, name)


@register("datasets", "lerobot")
class LeRobotReader(DatasetReader):
    """Import a LeRobot dataset (``dataset.path`` = its root folder)."""

    def open(self, path: Path, options: ImportOptions) -> ImportSource:
        pq = optional_import("pyarrow.parquet", "lerobot")
        pc = optional_import("pyarrow.compute", "lerobot")
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(f"dataset.path {root} is not a LeRobot dataset folder")
        lay = _Layout(root)
        available = {k: _feature_info(k, f) for k, f in lay.features.items() if k not in BOOKKEEPING}
        tasks = sorted({t for ep in lay.episodes for t in lay.episode_tasks(ep)} or
                       set(lay.task_names.values()))
        meta: dict[str, Any] = {"lerobot_version": lay.codebase_version, "fps": lay.fps,
                                "robot_type": lay.info.get("robot_type"), "tasks": tasks}
        if len(tasks) == 1:
            meta["task_text"] = tasks[0]
        size = options.image_size
        video = _Video(size)

        def episodes(keys: dict[str, Any]) -> Iterator[SourceEpisode]:
            vectors = [k for k in _as_list(keys.get("state")) + [keys.get("actions"), keys.get("reward")]
                       if k]
            cameras = [keys[k] for k in ("image",) if keys.get(k)]
            pngs = [c for c in cameras if lay.features[c].get("dtype") == "image"]
            extra = [c for c in ("next.done", "next.success") if c in lay.features]
            columns = list(dict.fromkeys([*vectors, *pngs, *extra, "timestamp", "frame_index",
                                          "episode_index"]))
            cached: tuple[Path | None, Any] = (None, None)
            try:
                for ep in lay.episodes:
                    e = int(ep["episode_index"])
                    f = lay.data_file(ep)
                    where = f"{f}: episode {e}"
                    if cached[0] != f:
                        try:
                            schema = pq.ParquetFile(f).schema_arrow.names
                            optional = ("timestamp", "frame_index", *extra) + (
                                ("episode_index",) if lay.version == 2 else ())
                            missing = [c for c in columns if c not in schema and c not in optional]
                            if missing:
                                raise DatasetError(f"{where}: columns {missing} missing (the file has "
                                                   f"{schema})")
                            cached = (f, pq.read_table(f, columns=[c for c in columns if c in schema]))
                        except DatasetError:
                            raise
                        except Exception as err:
                            raise DatasetError(f"{f}: cannot read ({type(err).__name__}: {err})") from None
                    table = cached[1]
                    if "episode_index" in table.column_names:
                        table = table.filter(pc.equal(table.column("episode_index"), e))
                    if table.num_rows == 0:
                        raise DatasetError(f"{where}: no rows for this episode")
                    if "frame_index" in table.column_names:
                        table = table.sort_by("frame_index")
                    times = (_column(table, "timestamp", where).astype(np.float64).reshape(-1)
                             if "timestamp" in table.column_names
                             else np.arange(table.num_rows) / lay.fps)

                    def get(name: str, table=table, where=where, ep=ep, times=times) -> np.ndarray:
                        if name in pngs:
                            return _png_column(table, name, root, size, where)
                        if lay.features.get(name, {}).get("dtype") == "video":
                            vf, start = lay.video_file(ep, name)
                            return video.frames(vf, name, start + times, FRAME_TOLERANCE / lay.fps,
                                                f"{vf}: episode {ep['episode_index']}, key '{name}'")
                        return _column(table, name, where)

                    flags = {k: get(c).reshape(-1).astype(bool) if c in table.column_names else None
                             for k, c in (("terminals", "next.done"), ("success", "next.success"))}
                    yield mapped_episode(get, keys, where, **flags)
            finally:
                video.close()
                meta["video_codecs"] = dict(video.codecs)
                meta["files_not_at_template"] = lay.files.relocated

        return ImportSource(root, available, meta, len(lay.episodes), episodes,
                            key_help="the feature names in meta/info.json")


def _as_list(value: Any) -> list:
    return [] if value is None else (list(value) if isinstance(value, list) else [value])


# ---------------------------------------------------------------------------------------------
# writing (v3.0)
# ---------------------------------------------------------------------------------------------
def _encoder(preferred: str | None) -> str:
    av = optional_import("av", "lerobot")
    for name in ([preferred] if preferred else []) + ["libsvtav1", "libx264", "mpeg4"]:
        if name in av.codecs_available:
            return name
    raise DatasetError("no video encoder available (libsvtav1, libx264, mpeg4)")


def _pandas_metadata(index: str, columns: list[tuple[str, str, str]]) -> bytes:
    """Schema metadata that makes pandas read ``index`` back as the frame's index (LeRobot's
    ``meta/tasks.parquet`` is a DataFrame indexed by the task sentence)."""
    cols = [{"name": n, "field_name": n, "pandas_type": pt, "numpy_type": nt, "metadata": None}
            for n, pt, nt in columns]
    return json.dumps({"index_columns": [index], "column_indexes": [], "columns": cols,
                       "creator": {"library": "pyarrow"}, "pandas_version": "2.2.0"}).encode()


def _stats(values: np.ndarray) -> dict:
    v = np.asarray(values, np.float64)
    return {"min": v.min(0).tolist(), "max": v.max(0).tolist(), "mean": v.mean(0).tolist(),
            "std": v.std(0).tolist(), "count": [int(len(v))]}


def write_lerobot(ds: OfflineDataset, out: str | os.PathLike, *, reward: np.ndarray | None = None,
                  reward_std: np.ndarray | None = None, task: str | None = None,
                  fps: float | None = None, codec: str | None = None,
                  on_episode: Callable[[], None] | None = None) -> Path:
    """Write ``ds`` as a LeRobot v3.0 dataset at ``out`` (a new folder, moved into place at the end);
    ``on_episode()`` after each episode."""
    pa = optional_import("pyarrow", "lerobot")
    pq = optional_import("pyarrow.parquet", "lerobot")
    av = optional_import("av", "lerobot")
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner otherwise
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    fps = float(fps or ds.metadata.get("fps") or 10)
    task = task or ds.metadata.get("task_text") or ""
    has_image, has_state = "image" in ds.observation_keys, "state" in ds.observation_keys
    cam = "observation.image"
    data_rel = "data/chunk-000/file-000.parquet"
    video_rel = f"videos/{cam}/chunk-000/file-000.mp4"
    for rel in (data_rel, video_rel, "meta/episodes/chunk-000/file-000.parquet"):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)

    container = stream = None
    if has_image:
        h, w = ds.observation_shape("image")[:2]
        enc = _encoder(codec)
        container = av.open(str(tmp / video_rel), "w")
        opts = {"g": "2", "crf": "30"} if enc in ("libsvtav1", "libx264") else {"qscale": "2"}
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(enc, rate=rate, options=opts)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    writer = None
    episodes, frame_total = [], 0
    stats: dict[str, list] = defaultdict(list)
    try:
        for e in ticked(range(ds.num_episodes), on_episode):
            sl = ds.episode_slice(e)
            T = sl.stop - sl.start
            rows = T + 1
            actions = np.concatenate([ds.actions[sl], ds.actions[sl.stop - 1:sl.stop]])
            cols: dict[str, Any] = {}
            if has_state:
                state = ds.episode_frames("state", e).astype(np.float32).reshape(rows, -1)
                cols["observation.state"] = pa.FixedSizeListArray.from_arrays(
                    pa.array(state.reshape(-1)), state.shape[1])
                stats["observation.state"].append(state)
            cols["action"] = pa.FixedSizeListArray.from_arrays(
                pa.array(actions.reshape(-1).astype(np.float32)), actions.shape[1])
            stats["action"].append(actions)
            r = np.zeros(rows, np.float32)
            if reward is not None:
                r[:T] = reward[sl]
                cols["next.reward"] = pa.array(r)
            if reward_std is not None:
                rs = np.zeros(rows, np.float32)
                rs[:T] = reward_std[sl]
                cols["next.reward_std"] = pa.array(rs)
            cols["next.done"] = pa.array(np.r_[ds.terminals[sl], False])
            cols["next.truncated"] = pa.array(np.r_[ds.timeouts[sl], False])
            cols["timestamp"] = pa.array((np.arange(rows) / fps).astype(np.float32))
            cols["frame_index"] = pa.array(np.arange(rows, dtype=np.int64))
            cols["episode_index"] = pa.array(np.full(rows, e, np.int64))
            cols["index"] = pa.array(np.arange(frame_total, frame_total + rows, dtype=np.int64))
            cols["task_index"] = pa.array(np.zeros(rows, np.int64))
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(tmp / data_rel, table.schema)
            writer.write_table(table)  # one row group per episode, as LeRobot writes them
            row = {"episode_index": e, "tasks": [task], "length": rows,
                   "data/chunk_index": 0, "data/file_index": 0,
                   "dataset_from_index": frame_total, "dataset_to_index": frame_total + rows,
                   "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
            if has_image:
                frames = ds.episode_frames("image", e)
                for i, img in enumerate(frames):
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    vf.pts, vf.time_base = frame_total + i, 1 / rate
                    for packet in stream.encode(vf):
                        container.mux(packet)
                stats[cam].append(frames[:: max(1, rows // 8)].reshape(-1, 3) / 255.0)
                row.update({f"videos/{cam}/chunk_index": 0, f"videos/{cam}/file_index": 0,
                            f"videos/{cam}/from_timestamp": frame_total / fps,
                            f"videos/{cam}/to_timestamp": (frame_total + rows) / fps})
            episodes.append(row)
            frame_total += rows
        if has_image:
            for packet in stream.encode():
                container.mux(packet)
    finally:
        if writer is not None:
            writer.close()
        if container is not None:
            container.close()
    pq.write_table(pa.Table.from_pylist(episodes), tmp / "meta/episodes/chunk-000/file-000.parquet")
    tasks = pa.table({"task_index": pa.array([0], pa.int64()), "task": pa.array([task])})
    tasks = tasks.replace_schema_metadata({b"pandas": _pandas_metadata(
        "task", [("task_index", "int64", "int64"), ("task", "unicode", "object")])})
    pq.write_table(tasks, tmp / "meta/tasks.parquet")
    features: dict[str, Any] = {}
    if has_image:
        h, w = ds.observation_shape("image")[:2]
        features[cam] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                         "info": {"video.height": h, "video.width": w, "video.codec": enc,
                                  "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
                                  "video.fps": fps, "video.channels": 3, "has_audio": False}}
    if has_state:
        features["observation.state"] = {"dtype": "float32", "shape": [int(np.prod(ds.observation_shape("state")))],
                                         "names": None}
    features["action"] = {"dtype": "float32", "shape": [ds.action_dim], "names": None}
    if reward is not None:
        features["next.reward"] = {"dtype": "float32", "shape": [1], "names": None}
    if reward_std is not None:
        features["next.reward_std"] = {"dtype": "float32", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    features["next.truncated"] = {"dtype": "bool", "shape": [1], "names": None}
    for k, dt in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                  ("index", "int64"), ("task_index", "int64")):
        features[k] = {"dtype": dt, "shape": [1], "names": None}
    info = {"codebase_version": "v3.0", "robot_type": ds.metadata.get("robot_type"),
            "total_episodes": ds.num_episodes, "total_frames": frame_total, "total_tasks": 1,
            "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
            "fps": fps, "splits": {"train": f"0:{ds.num_episodes}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": ("videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
                           if has_image else None),
            "features": features}
    (tmp / INFO).write_text(json.dumps(info, indent=4))
    stat_out = {k: _stats(np.concatenate(v)) for k, v in stats.items()}
    if cam in stat_out:  # LeRobot keeps image stats per channel as (3, 1, 1)
        stat_out[cam] = {k: ([[[x]] for x in v] if k != "count" else v) for k, v in stat_out[cam].items()}
    (tmp / "meta/stats.json").write_text(json.dumps(stat_out, indent=4))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
