"""One process per run directory (issue 12, item 4): the second stops at once, naming the holder."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from orlvlmf.pipeline.lock import RunDirBusy, RunDirLock

HOLD = textwrap.dedent("""
    import sys, time
    from orlvlmf.pipeline.lock import RunDirLock
    lock = RunDirLock(sys.argv[1])
    print("locked", flush=True)
    time.sleep(120)
""")


def holder(run_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_naming_the_holder_until_it_dies(tmp_path):
    proc = holder(tmp_path / "run")
    try:
        with pytest.raises(RunDirBusy, match=f"pid {proc.pid}"):
            RunDirLock(tmp_path / "run")
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # kill -9: the OS drops the lock with the process
        proc.wait(timeout=30)
    RunDirLock(tmp_path / "run").release()


TRY = textwrap.dedent("""
    import sys
    from orlvlmf.pipeline.lock import RunDirBusy, RunDirLock
    try:
        RunDirLock(sys.argv[1])
    except RunDirBusy:
        print("busy")
    else:
        print("free")
""")


def other_process_finds(run_dir) -> str:
    return subprocess.run([sys.executable, "-c", TRY, str(run_dir)], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_within_one_process_the_lock_is_shared_and_released_with_its_last_holder(tmp_path):
    a = RunDirLock(tmp_path / "run")
    b = RunDirLock(tmp_path / "run")  # the same process may hold it twice (two Pipeline objects)
    a.release()
    assert other_process_finds(tmp_path / "run") == "busy"  # b still holds it
    del b  # collected: released
    assert other_process_finds(tmp_path / "run") == "free"


def test_a_process_started_together_with_the_holder_still_names_it(tmp_path):
    """Two commands started together: the loser may read the lock file before the winner wrote
    its line (still empty, or an earlier, dead holder's line). It waits for the live holder's."""
    import threading
    import time

    from orlvlmf.pipeline import lock

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    for before in ("", f"{dead} orlvlmf label\n"):
        path = tmp_path / f"lock{len(before)}"
        path.write_text(before)
        fd = os.open(path, os.O_RDWR)
        try:
            late = threading.Timer(0.2, lambda: path.write_text(f"{os.getpid()} orlvlmf fit\n"))
            late.start()
            t0 = time.monotonic()
            assert lock._holder(fd) == f"{os.getpid()} orlvlmf fit"
            assert time.monotonic() - t0 < 1.5
            late.join()
        finally:
            os.close(fd)
