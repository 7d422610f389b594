"""Synthetic robot datasets written in each format's own layout (not through our writers).

Every frame shows a red bar across its middle rows whose length is the frame's hidden score (the
local VLM stand-in measures it); the state is [bar fraction, episode]; actions span [-2, 2] on
their first dimension (outside the [-1, 1] the learners assume) and [-1, 1] on the second.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

TASK = "make the red bar as long as possible"


def bar_frames(lengths: np.ndarray, h: int, w: int) -> np.ndarray:
    img = np.zeros((len(lengths), h, w, 3), np.uint8)
    img[..., 2] = 40  # a blue-ish background, so colour conversions are exercised
    for i, frac in enumerate(lengths):
        img[i, h // 2 - max(2, h // 8):h // 2 + max(2, h // 8), :int(round(frac * w)), 0] = 220
        img[i, h // 2 - max(2, h // 8):h // 2 + max(2, h // 8), :int(round(frac * w)), 2] = 0
    return img


def synth_episodes(n: int = 4, rows: int = 12, h: int = 48, w: int = 64, seed: int = 0) -> list[dict]:
    """``n`` episodes of ``rows`` logged frames, each with the action taken there."""
    rng = np.random.default_rng(seed)
    eps = []
    for e in range(n):
        lengths = np.clip(np.cumsum(rng.normal(0, 0.08, rows)) + rng.uniform(0.2, 0.8), 0.0, 1.0)
        state = np.stack([lengths, np.full(rows, e)], 1).astype(np.float32)
        action = np.stack([rng.uniform(-2, 2, rows), rng.uniform(-1, 1, rows)], 1).astype(np.float32)
        eps.append({"frames": bar_frames(lengths, h, w), "state": state, "action": action,
                    "reward": lengths.astype(np.float32), "length": lengths})
    return eps


def write_video(path: Path, frames: np.ndarray, fps: int, codec: str) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        if codec == "libx265":  # quiet: x265 logs every encode to stderr by default
            opts = {"crf": "20", "x265-params": "log-level=error:keyint=2"}
        elif codec in ("libsvtav1", "libx264"):
            opts = {"g": "2", "crf": "20"}
        else:
            opts = {"qscale": "2"}
        s = c.add_stream(codec, rate=fps, options=opts)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _features(eps, h, w, codec, cam="observation.images.front", extra_cam=None):
    vid = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
           "info": {"video.codec": codec, "video.pix_fmt": "yuv420p", "video.fps": 10}}
    feats = {cam: vid}
    if extra_cam:
        feats[extra_cam] = vid
    feats.update({
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["bar", "episode"]},
        "action": {"dtype": "float32", "shape": [2], "names": ["a0", "a1"]},
        "next.reward": {"dtype": "float32", "shape": [1], "names": None},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None}})
    return feats


def _rows(ep: dict, e: int, start: int, fps: int):
    import pyarrow as pa

    n = len(ep["state"])
    return pa.table({
        "observation.state": pa.array(list(ep["state"]), pa.list_(pa.float32())),
        "action": pa.array(list(ep["action"]), pa.list_(pa.float32())),
        "next.reward": pa.array(ep["reward"], pa.float32()),
        "timestamp": pa.array(np.arange(n, dtype=np.float32) / fps),
        "frame_index": pa.array(np.arange(n)), "episode_index": pa.array(np.full(n, e)),
        "index": pa.array(np.arange(start, start + n)), "task_index": pa.array(np.zeros(n, np.int64))})


def write_lerobot_v21(root: Path, eps: list[dict], fps: int = 10, codec: str = "libsvtav1",
                      declared_codec: str | None = None, swap_video_dirs: bool = False,
                      extra_cam: str | None = None, png_images: bool = False) -> Path:
    """v2.1: one parquet + one mp4 per episode, ``meta/*.jsonl``.  ``declared_codec`` writes a
    codec into info.json that is not the stream's; ``swap_video_dirs`` puts the videos under
    ``videos/<key>/chunk-000/`` while info.json's template says ``videos/chunk-000/<key>/``;
    ``png_images`` stores the camera as an ``image`` feature (PNG bytes in the parquet)."""
    import pyarrow.parquet as pq

    h, w = eps[0]["frames"].shape[1:3]
    cam = "observation.images.front"
    info = {"codebase_version": "v2.1", "robot_type": "synthetic", "total_episodes": len(eps),
            "total_frames": sum(len(e["state"]) for e in eps), "total_tasks": 1, "chunks_size": 1000,
            "fps": fps, "splits": {"train": f"0:{len(eps)}"},
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": _features(eps, h, w, declared_codec or codec, cam, extra_cam)}
    if png_images:
        info["features"][cam]["dtype"] = "image"
        info["video_path"] = None
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    (root / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": TASK}) + "\n")
    (root / "meta" / "episodes.jsonl").write_text("".join(
        json.dumps({"episode_index": e, "tasks": [TASK], "length": len(ep["state"])}) + "\n"
        for e, ep in enumerate(eps)))
    start = 0
    for e, ep in enumerate(eps):
        path = root / f"data/chunk-000/episode_{e:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = _rows(ep, e, start, fps)
        if png_images:
            import io

            import pyarrow as pa
            from PIL import Image

            cells = []
            for img in ep["frames"]:
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                cells.append({"bytes": buf.getvalue(), "path": None})
            table = table.append_column(cam, pa.array(cells, pa.struct([("bytes", pa.binary()),
                                                                        ("path", pa.string())])))
        pq.write_table(table, path)
        start += len(ep["state"])
        for key in ([] if png_images else [cam]) + ([extra_cam] if extra_cam else []):
            sub = f"videos/{key}/chunk-000" if swap_video_dirs else f"videos/chunk-000/{key}"
            write_video(root / sub / f"episode_{e:06d}.mp4", ep["frames"], fps, codec)
    return root


def write_lerobot_v30(root: Path, eps: list[dict], fps: int = 10, codec: str = "libsvtav1",
                      per_file: int = 2) -> Path:
    """v3.0: ``per_file`` episodes per parquet and per mp4, cut by meta/episodes/ indices and
    timestamps; ``meta/tasks.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    h, w = eps[0]["frames"].shape[1:3]
    cam = "observation.images.front"
    info = {"codebase_version": "v3.0", "robot_type": "synthetic", "total_episodes": len(eps),
            "total_frames": sum(len(e["state"]) for e in eps), "total_tasks": 1, "chunks_size": 1000,
            "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": fps,
            "splits": {"train": f"0:{len(eps)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": _features(eps, h, w, codec, cam)}
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    pq.write_table(pa.table({"task_index": [0], "task": [TASK]}), root / "meta" / "tasks.parquet")
    rows, start = [], 0
    for f0 in range(0, len(eps), per_file):
        fi = f0 // per_file
        group = eps[f0:f0 + per_file]
        tables, frames, t0 = [], [], 0.0
        for k, ep in enumerate(group):
            e = f0 + k
            n = len(ep["state"])
            tables.append(_rows(ep, e, start, fps))
            frames.append(ep["frames"])
            rows.append({"episode_index": e, "tasks": [TASK], "length": n,
                         "data/chunk_index": 0, "data/file_index": fi,
                         "dataset_from_index": start, "dataset_to_index": start + n,
                         f"videos/{cam}/chunk_index": 0, f"videos/{cam}/file_index": fi,
                         f"videos/{cam}/from_timestamp": t0, f"videos/{cam}/to_timestamp": t0 + n / fps,
                         "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                         "stats/action/mean": [float(x) for x in ep["action"].mean(0)]})
            start += n
            t0 += n / fps
        path = root / f"data/chunk-000/file-{fi:03d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(tables), path)
        write_video(root / f"videos/{cam}/chunk-000/file-{fi:03d}.mp4", np.concatenate(frames), fps, codec)
    pq.write_table(pa.Table.from_pylist(rows), root / "meta/episodes/chunk-000/file-000.parquet")
    return root


def write_robomimic(path: Path, eps: list[dict], task: str | None = TASK) -> Path:
    """robomimic: data/demo_<i>/{obs, next_obs, actions, rewards, dones}, T = rows - 1 steps."""
    import h5py

    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Synthetic", "type": 1, "env_kwargs": {}})
        if task:
            data.attrs["problem_info"] = json.dumps({"language_instruction": task})
        for e, ep in enumerate(eps):
            g = data.create_group(f"demo_{e}")
            T = len(ep["state"]) - 1
            g.attrs["num_samples"] = T
            for key, val in (("agentview_image", ep["frames"]), ("robot0_eef_pos", ep["state"][:, :1]),
                             ("robot0_gripper_qpos", ep["state"][:, 1:])):
                g.create_dataset(f"obs/{key}", data=val[:-1])
                g.create_dataset(f"next_obs/{key}", data=val[1:])
            g.create_dataset("actions", data=ep["action"][:-1])
            g.create_dataset("rewards", data=ep["reward"][1:])
            g.create_dataset("dones", data=np.r_[np.zeros(T - 1), 1].astype(np.int64))
        data.attrs["total"] = sum(len(e["state"]) - 1 for e in eps)
    return path


def write_rlds(folder: Path, eps: list[dict], shards: int = 2) -> Path:
    """TFDS folder: features.json, dataset_info.json, ``<name>-train.tfrecord-XXXXX-of-YYYYY``
    shards of tf.train.Example records (PNG frames), written with the tfrecord package."""
    import io

    from PIL import Image
    from tfrecord import TFRecordWriter

    folder.mkdir(parents=True, exist_ok=True)
    h, w = eps[0]["frames"].shape[1:3]

    def tensor(shape, dtype):
        return {"tensor": {"shape": {"dimensions": [str(d) for d in shape]} if shape else {},
                           "dtype": dtype, "encoding": "none"}}

    steps = {"action": tensor([2], "float32"), "reward": tensor([], "float32"),
             "is_first": tensor([], "bool"), "is_last": tensor([], "bool"),
             "is_terminal": tensor([], "bool"), "language_instruction": {"text": {}},
             "observation": {"featuresDict": {"features": {
                 "image": {"image": {"shape": {"dimensions": [str(h), str(w), "3"]}, "dtype": "uint8",
                                     "encodingFormat": "png"}},
                 "state": tensor([2], "float32")}}}}
    (folder / "features.json").write_text(json.dumps({"featuresDict": {"features": {
        "steps": {"sequence": {"feature": {"featuresDict": {"features": steps}}, "length": "-1"}}}}}))
    per = [eps[i::shards] for i in range(shards)]
    (folder / "dataset_info.json").write_text(json.dumps({
        "name": "synthetic_bar", "version": "1.0.0",
        "splits": [{"name": "train", "shardLengths": [str(len(p)) for p in per]}]}))
    for s, part in enumerate(per):
        writer = TFRecordWriter(str(folder / f"synthetic_bar-train.tfrecord-{s:05d}-of-{shards:05d}"))
        for ep in part:
            n = len(ep["state"])
            pngs = []
            for img in ep["frames"]:
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                pngs.append(buf.getvalue())
            writer.write({
                "steps/observation/image": (pngs, "byte"),
                "steps/observation/state": (ep["state"].reshape(-1).tolist(), "float"),
                "steps/action": (ep["action"].reshape(-1).tolist(), "float"),
                "steps/reward": (np.r_[ep["reward"][1:], 0].tolist(), "float"),
                "steps/is_first": ([1] + [0] * (n - 1), "int"),
                "steps/is_last": ([0] * (n - 1) + [1], "int"),
                "steps/is_terminal": ([0] * n, "int"),
                "steps/language_instruction": ([TASK.encode()] * n, "byte")})
        writer.close()
    return folder


def write_minari(root: Path, dataset_id: str, eps: list[dict]):
    """A Minari dataset (through minari's API) whose rendered camera is gymnasium's ``pixels``."""
    import os
    import warnings

    import minari
    from gymnasium import spaces
    from minari.data_collector import EpisodeBuffer

    h, w = eps[0]["frames"].shape[1:3]
    obs_space = spaces.Dict({"pixels": spaces.Box(0, 255, (h, w, 3), np.uint8),
                             "agent_pos": spaces.Box(-np.inf, np.inf, (2,), np.float32)})
    act_space = spaces.Box(np.array([-2, -1], np.float32), np.array([2, 1], np.float32))
    buffers = []
    for e, ep in enumerate(eps):
        T = len(ep["state"]) - 1
        buffers.append(EpisodeBuffer(
            id=e, observations={"pixels": ep["frames"], "agent_pos": ep["state"]},
            actions=ep["action"][:-1], rewards=ep["reward"][1:], terminations=np.zeros(T, bool),
            truncations=np.r_[np.zeros(T - 1, bool), True], infos={"success": np.zeros(T + 1, bool)}))
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return minari.create_dataset_from_buffers(dataset_id, buffers, observation_space=obs_space,
                                                      action_space=act_space, jpeg_encoding=False)
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
