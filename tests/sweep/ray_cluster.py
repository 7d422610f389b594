"""A Ray cluster of several nodes on this machine, for the Ray executor's tests.

Each node is ``ray start --block`` in a session of its own, with its own temp dir and free ports
(nothing collides with another Ray on the machine); :meth:`LocalRayCluster.stop` ends exactly the
processes it started (SIGTERM to each ``ray start``, which stops its node; SIGKILL to what is left
of that session).  Never ``ray stop``: it would stop every Ray on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).parent / "ray"
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    def __init__(self) -> None:
        self.nodes: list[tuple[subprocess.Popen, Path]] = []
        self.address: str | None = None
        self.root = Path(tempfile.mkdtemp(prefix="rayt", dir="/tmp"))  # short: sockets live there
        # Ray >= 2.59 turns token authentication on for a head started here, while a node or driver
        # joining by address stays without a token (Ray reads RAY_AUTH_MODE when it is imported):
        # this short-lived test cluster opts out, the same way on every node
        self.env = {"RAY_AUTH_MODE": "disabled"}

    def add_node(self, num_cpus: int = 1, timeout: float = 120.0) -> None:
        head = self.address is None
        temp = self.root / f"n{len(self.nodes)}"
        temp.mkdir()
        port = _free_port()
        ports = {flag: _free_port() for flag in (
            "node-manager-port", "object-manager-port", "metrics-export-port", "dashboard-agent-grpc-port",
            "dashboard-agent-listen-port", "runtime-env-agent-port")}
        cmd = [str(RAY), "start", "--block", f"--num-cpus={num_cpus}", f"--temp-dir={temp}",
               "--disable-usage-stats", "--object-store-memory=100000000",
               *[f"--{k}={v}" for k, v in ports.items()]]
        if head:
            cmd += ["--head", f"--port={port}", "--include-dashboard=false",
                    f"--dashboard-port={_free_port()}", f"--ray-client-server-port={_free_port()}"]
        else:
            cmd += [f"--address={self.address}"]
        env = {**os.environ, **self.env,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        log = temp / "start.log"
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.nodes.append((proc, log))
        t0 = time.monotonic()
        while "--block" not in log.read_text():  # printed once the node is up
            if proc.poll() is not None or time.monotonic() - t0 > timeout:
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        if head:
            found = re.search(r"ray start --address='([^']+)'", log.read_text())
            if not found:
                raise RuntimeError(f"no address in the head's output:\n{log.read_text()[-3000:]}")
            self.address = found.group(1)

    def stop(self) -> None:
        for proc, _ in reversed(self.nodes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.nodes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for pid in _session_members(proc.pid):  # whatever of this node is still there
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.nodes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (the session ``ray start`` opened: its node's processes)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after the command: state, ppid, pgrp, session
            out.append(int(stat.parent.name))
    return out
