"""One process per run directory: an OS file lock on ``<run_dir>/.lock`` held for the whole command.

Two commands on one run (two ``orlvlmf label`` started together) would pay for every query twice
and race on the manifest.  The second one does not wait: it stops at once with a
:class:`RunDirBusy` naming the holder's pid and command (waiting could hang a script behind a
run of hours; stopping says what to do).  The lock is ``fcntl.flock`` on an open file: the OS
drops it when the holder exits or is killed (``kill -9`` included), so a stale ``.lock`` file
never blocks anyone.  Within one process the lock is shared: every :class:`RunDirLock` of a
directory holds the same file open, and the lock is released when the last one is closed or
garbage-collected.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from pathlib import Path

from orlvlmf.pipeline.stage import StageError

LOCK_FILE = ".lock"


class RunDirBusy(StageError):
    """Another process holds the run directory; the message names its pid."""


class _Held:
    """The open, locked file of one run directory in this process, and how many hold it."""

    def __init__(self, fd: int):
        self.fd, self.count = fd, 0


_held: dict[str, _Held] = {}
_guard = threading.Lock()


class RunDirLock:
    """Hold ``run_dir``'s lock until :meth:`release` (or until this object is collected)."""

    def __init__(self, run_dir: str | Path):
        self.key = str(Path(run_dir).resolve())
        self._released = False
        with _guard:
            held = _held.get(self.key)
            if held is None:
                held = _held[self.key] = _Held(_acquire(Path(self.key)))
            held.count += 1

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held.get(self.key)
            if held is None:
                return
            held.count -= 1
            if held.count <= 0:
                del _held[self.key]
                os.close(held.fd)  # closing the file drops the flock

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # interpreter shutdown
            pass

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _acquire(run_dir: Path) -> int:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask, as every file
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = _holder(fd)
        finally:
            os.close(fd)
        pid, _, command = holder.partition(" ")
        raise RunDirBusy(
            f"run directory {run_dir} is in use by another orlvlmf process (pid {pid or '?'}"
            + (f": {command}" if command else "") + "). Wait for it to finish or stop it; two "
            "commands on one run would pay for labels twice") from None
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else ""
    line = f"{os.getpid()} {command}\n".encode()  # the command, never its arguments
    os.pwrite(fd, line, 0)  # one write, then the old holder's longer line (if any) cut off
    os.ftruncate(fd, len(line))
    return fd


def _holder(fd: int, patience_s: float = 2.0) -> str:
    """The holder's line ("pid command").  A holder that has just taken the lock may not have
    written it yet (two commands started together): the file is still empty, or holds the line
    of an earlier holder that is gone; wait a moment for a line naming a live process."""
    deadline = time.monotonic() + patience_s
    while True:
        line = os.pread(fd, 4096, 0).decode(errors="replace").partition("\n")
        pid = line[0].split(" ")[0]
        if (line[1] and pid.isdigit() and pid_alive(int(pid))) or time.monotonic() > deadline:
            return line[0].strip()
        time.sleep(0.01)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
