"""Test-wide settings: nothing waits on a hub, MuJoCo renders headless, litellm stays offline;
one tiny `orlvlmf fit` shared by the tests that check what a finished run shows."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


import contextlib
import io
import subprocess
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
    modes: dict  # file (relative to run_dir) -> its permission bits, right after the fit (umask 022)


@pytest.fixture(scope="session")
def tiny_fit(tmp_path_factory) -> FitRun:
    """`orlvlmf fit` on the tiny cartpole config, run once per session (its stdout kept)."""
    from orlvlmf.cli import main

    root = tmp_path_factory.mktemp("tiny_fit")
    args = ["fit", "--config", "cartpole_random.yaml", f"run_dir={root}", *TINY_FIT]
    out = io.StringIO()
    umask = os.umask(0o022)
    try:
        with contextlib.redirect_stdout(out):
            assert main(args) == 0
    finally:
        os.umask(umask)
    run_dir = root / "tiny"
    modes = {p.relative_to(run_dir).as_posix(): p.stat().st_mode & 0o777
             for p in run_dir.rglob("*") if p.is_file()}
    return FitRun(args, run_dir, out.getvalue(), modes)


# -- a small disk, for the full-disk tests (issue 12) -------------------------------------------


class SmallDisks:
    """``mount(kib)`` mounts a tmpfs of that size for the test and returns its folder;
    ``fill(folder, leave)`` then leaves only about ``leave`` bytes free on it.  Mounting needs root
    (CI runs as root): elsewhere the test is skipped, saying why."""

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.mounted = tmp_path, []

    def mount(self, kib: int) -> Path:
        d = self.tmp_path / f"disk{len(self.mounted)}"
        d.mkdir()
        if os.geteuid() != 0:
            pytest.skip("full-disk test: mounting a small tmpfs needs root")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0777", "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"full-disk test: cannot mount a tmpfs here ({r.stderr.strip()})")
        self.mounted.append(d)
        return d

    @staticmethod
    def fill(folder: Path, leave: int) -> None:
        st = os.statvfs(folder)
        with open(Path(folder) / "filler", "wb") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))

    def unmount_all(self) -> None:
        for d in self.mounted:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    disks = SmallDisks(tmp_path)
    yield disks
    disks.unmount_all()
