"""`import orlvlmf` stays light: no heavy dependency is imported, and it takes well under 1 s."""

import subprocess
import sys

HEAVY = ["torch", "timm", "lightning", "litellm", "mujoco", "metaworld", "h5py", "torchvision"]


def test_import_is_light_and_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import orlvlmf; dt = time.perf_counter() - t;"
        f"print(dt); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        dt, loaded = out.stdout.splitlines()[0], (out.stdout.splitlines() + [""])[1]
        assert loaded == "", f"import orlvlmf pulled in heavy modules: {loaded}"
        times.append(float(dt))
    assert min(times) < 1.0, times
