"""Shared test helpers for the policy tests (tiny buffers, tiny learners, a 2-process DDP launcher)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

TINY = {"name": "iql", "encoder": {"name": "mlp", "hidden": [32, 32]}, "batch_size": 64}


def random_buffer(n: int = 512, s: int = 5, a: int = 2, seed: int = 0, terminal_p: float = 0.05):
    from orlvlmf.policy.buffer import TransitionBuffer

    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, s)).astype(np.float32) * 3 + 1
    return TransitionBuffer(obs, rng.uniform(-1, 1, (n, a)), rng.normal(size=n),
                            rng.random(n) < terminal_p, next_obs=obs + 0.1)


def timeout_dataset(path: Path) -> Path:
    """Three episodes with state (2,) and 8x8 image frames; episodes 0 and 2 end with a timeout,
    episode 1 with a terminal (5, 3 and 4 transitions).  Frame value = global frame number, so a
    frame identifies its row: state = (row, row), image = row everywhere."""
    from orlvlmf.data.dataset import DatasetWriter

    lengths, ends = (5, 3, 4), ("timeout", "terminal", "timeout")
    row = 0
    with DatasetWriter(path, metadata={"env": "synthetic"}) as w:
        for t, end in zip(lengths, ends):
            rows = np.arange(row, row + t + 1)
            row += t + 1
            last = np.eye(t, dtype=bool)[-1]
            w.add_episode({"state": np.stack([rows, rows], 1).astype(np.float32),
                           "image": np.broadcast_to(rows[:, None, None, None], (t + 1, 8, 8, 3))
                           .astype(np.uint8)},
                          np.zeros((t, 1), np.float32),
                          terminals=last if end == "terminal" else None,
                          timeouts=last if end == "timeout" else None)
    return path


def make_learner(cfg: dict | None = None, s: int = 5, a: int = 2, seed: int = 0):
    import torch

    from orlvlmf.registry import REGISTRY

    torch.manual_seed(seed)
    return REGISTRY.create("learners", "iql", {**TINY, **(cfg or {})}, {"state": (s,)}, a)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ddp(script: str, args: list[str], world_size: int = 2, timeout: float = 300) -> list[str]:
    """Run ``python script *args`` as ``world_size`` ranks of one CPU/gloo DDP job.

    The ranks are started here with the environment Lightning reads (``LOCAL_RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR/PORT``), so Lightning does not re-launch the script.  Returns each rank's output;
    raises AssertionError with all outputs if any rank fails.  Reusable by any Lightning module test.
    """
    port = free_port()
    procs = []
    for rank in range(world_size):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "WORLD_SIZE": str(world_size), "NODE_RANK": "0", "LOCAL_RANK": str(rank),
               "RANK": str(rank), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        procs.append(subprocess.Popen([sys.executable, script, *args], env=env, cwd=str(REPO),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = [p.returncode for p in procs]
    assert all(c == 0 for c in codes), f"DDP ranks exited {codes}:\n" + "\n----\n".join(outs)
    return outs
