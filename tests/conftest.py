"""Test-wide settings: nothing waits on a hub, MuJoCo renders headless, litellm stays offline;
one tiny `orlvlmf fit` shared by the tests that check what a finished run shows."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

#: a whole cartpole run in ~1 min on 2 cores: every stage, two seeds
TINY_FIT = [
    "name=tiny", "seeds=[0,1]",
    "dataset.episodes=6", "dataset.image_size=32",
    "pairs.num_queries=120", "pairs.min_gap=5",
    "reward.encoder.model=resnet10t", "reward.ensemble=1", "reward.max_epochs=4", "reward.lr=0.01",
    "reward.batch_size=32",
    "reward.gt_eval_transitions=100",
    "train.steps=300", "train.eval_every=150", "train.eval_episodes=2", "train.checkpoint_every=150",
    "train.log_every=50", "evaluation.episodes=3", "trainer.progress=false", "trainer.num_threads=1",
]


@dataclass
class FitRun:
    args: list
    run_dir: Path
    stdout: str


@pytest.fixture(scope="session")
def tiny_fit(tmp_path_factory) -> FitRun:
    """`orlvlmf fit` on the tiny cartpole config, run once per session (its stdout kept)."""
    from orlvlmf.cli import main

    root = tmp_path_factory.mktemp("tiny_fit")
    args = ["fit", "--config", "cartpole_random.yaml", f"run_dir={root}", *TINY_FIT]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return FitRun(args, root / "tiny", out.getvalue())
