"""Test helpers for the feedback tests: tiny 'bar' datasets, the fake server's rule, backend runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fake_vlm_server import rule_label
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends import make_backend
from orlvlmf.feedback.backends.base import PairSource
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.labeling import label_pairs
from orlvlmf.feedback.sampling import sample_pairs
from orlvlmf.feedback.store import LabelStore

TASK = "make the red bar as long as possible"


def bar_frame(length: int, frame_id: int, width: int = 32) -> np.ndarray:
    """Black frame, red bar of ``length`` px across the middle rows, frame id bits in row 0."""
    img = np.zeros((width, width, 3), np.uint8)
    img[width // 2 - 4:width // 2 + 4, :length, 0] = 220
    for b in range(16):
        if (frame_id >> b) & 1:
            img[0, b, 2] = 255
    return img


def make_bar_dataset(path: Path, episodes: int = 4, steps: int = 30, width: int = 32, seed: int = 0,
                     task: str | None = TASK) -> Path:
    """Episodes of random-walk bar lengths; GT reward of transition i = bar length of o'_i / width."""
    from orlvlmf.data.dataset import DatasetWriter

    rng = np.random.default_rng(seed)
    fid = 0
    with DatasetWriter(path, metadata={"task_text": task} if task else {}) as w:
        for _ in range(episodes):
            lengths = np.clip(np.cumsum(rng.integers(-3, 4, steps + 1)) + rng.integers(0, width), 0, width)
            frames = []
            for L in lengths:
                frames.append(bar_frame(int(L), fid, width))
                fid += 1
            reward = lengths[1:] / width
            w.add_episode(observations={"image": np.stack(frames), "state": lengths[:, None].astype(np.float32)},
                          actions=rng.uniform(-1, 1, (steps, 2)), reward=reward,
                          success=lengths[1:] >= width)
    return path


def vlm_options(server, **kw) -> dict:
    return {"name": "litellm", "model": "openai/fake-vlm", "api_base": server.url, "image_size": 32,
            "concurrency": 4, "timeout_s": 5.0, "backoff_s": 0.05, **kw}


def run_vlm(ds_path, store_path, server, n=20, seed=0, **kw):
    ds = OfflineDataset.open(ds_path)
    pairs = sample_pairs(ds, n, min_gap=2, seed=seed)
    with LabelStore(store_path) as store:
        return label_pairs(pairs, PairSource(ds.without_ground_truth(), "image", TASK),
                           make_backend(vlm_options(server, **kw)), store, log=lambda m: None)


def server_ref(ds, i: int, j: int, size: int = 32) -> str:
    """The fake server's reference of the pair (i, j) as the backend sends it."""
    a, b = ds.next_observations("image", np.asarray([i, j]))
    u0, u1 = png_data_url(encode_png(a, size)), png_data_url(encode_png(b, size))
    return hashlib.sha256((u0 + "|" + u1).encode()).hexdigest()[:16]


def rule_labels(ds_path, idx0, idx1) -> np.ndarray:
    r = OfflineDataset.open(ds_path).ground_truth().reward
    return np.asarray([rule_label(float(r[a]), float(r[b]), 0.0) for a, b in zip(idx0, idx1)])


def start_worker(script: Path, *args) -> tuple:
    """(process, command, env) of ``python script args...`` with the repository on its path."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, str(script), *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env), cmd, env


def kill_9_when(proc, ready, timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` holds (it must still be running then)."""
    import os
    import signal
    import time

    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.time() < deadline, "the worker never got where the test kills it"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
