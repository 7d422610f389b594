"""Test-wide settings: nothing waits on a hub, MuJoCo renders headless, litellm stays offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


# -- a small disk, for the full-disk tests (issue 12) -------------------------------------------
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


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
