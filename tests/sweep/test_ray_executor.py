"""``--executor ray`` on a cluster of two Ray nodes started on this machine (issue 15)."""

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.runner import run_sweep
from tests.sweep.helpers import write_sweep

ray = pytest.importorskip("ray", reason="the Ray executor's tests need the extra orlvlmf[ray] (make setup)")

from tests.sweep.ray_cluster import REPO, LocalRayCluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of 2 logical CPUs each on this machine; stopped whatever happens."""
    c = LocalRayCluster()
    try:
        c.add_node(num_cpus=2)
        c.add_node(num_cpus=2)
        yield c
    finally:
        c.stop()


# besides `one` and `two`: `bad` fails in its train stage, `same` is `one` again (it shares every
# stage run with `one`: its run directory is linked in from the cache by a final task)
METHODS = """  bad: {stages: [sweeptest_collect, sweeptest_train, sweeptest_eval], overrides: [train.reward_scale=13]}
  same: {stages: [sweeptest_collect, sweeptest_train, sweeptest_eval], overrides: [train.reward_scale=1.0]}
executor:
  resources: {sweeptest_train: {num_cpus: 2}, default: {num_cpus: 1}}
"""


def _sweep(tmp: Path) -> Path:
    path = write_sweep(tmp, METHODS)
    path.write_text(path.read_text().replace("methods: [one, two]", "methods: [one, two, bad, same]"))
    return path


def _results(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "tiny/results").glob("*.json"))}


def _runs(out: Path) -> list[list[str]]:
    """(what, node, pid, threads) of every fake stage run (helpers.log_run)."""
    path = out / "tiny/runs.log"
    return [line.split() for line in path.read_text().splitlines()] if path.is_file() else []


def test_two_nodes_write_the_same_table_stage_for_stage(tmp_path, cluster):
    """Same table and fingerprints as in-process; both nodes used; a worker killed mid-stage is
    retried; a failing cell is reported and the rest go on; threads = the CPUs a task was given."""
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir()
    remote.mkdir()
    cfg_a, file_a = load_sweep_config(_sweep(local))
    cfg_b, file_b = load_sweep_config(_sweep(remote))
    in_process = run_sweep(cfg_a, file_a, echo=lambda s: None)
    (remote / "out/tiny").mkdir(parents=True)
    (remote / "out/tiny/die_at").write_text("expert:2.0:1")  # this train's worker dies once, mid-stage
    lines: list[str] = []
    summary = run_sweep(cfg_b, file_b, echo=lines.append, executor="ray", address=cluster.address)

    assert sorted(summary.ran) == sorted(in_process.ran) and len(summary.ran) == 12
    assert summary.failed == in_process.failed and sorted(summary.failed) == [
        "toy_expert_bad_seed0", "toy_expert_bad_seed1", "toy_random_bad_seed0", "toy_random_bad_seed1"]
    assert all("ValueError: unlucky reward scale 13" in m for m in summary.failed.values())
    for name in ("table.md", "table.csv"):
        assert (local / "out/tiny" / name).read_text() == (remote / "out/tiny" / name).read_text()
    a, b = _results(local / "out"), _results(remote / "out")
    assert a.keys() == b.keys() and len(a) == 16
    for cell in summary.ran:  # the same stage runs, fingerprint for fingerprint, and the same metrics
        assert a[cell]["stages"] == b[cell]["stages"] and a[cell]["metrics"] == b[cell]["metrics"]
    assert b["toy_random_same_seed0"]["stages"] == b["toy_random_one_seed0"]["stages"]
    assert (remote / "out/tiny/cells/toy_random/same_seed0/seed_0/eval.json").is_file()

    runs = _runs(remote / "out")
    done = Counter(r[0] for r in runs)
    assert done["collect:random"] == done["collect:expert"] == 1  # shared stages ran once
    assert sum(n for k, n in done.items() if k.startswith("train:")) == 8  # one, two (same = one)
    assert done["train-start:expert:2.0:1"] == 2 and done["train:expert:2.0:1"] == 1  # retried
    assert not (remote / "out/tiny/die_at").exists()
    assert len({r[1] for r in runs}) == 2  # tasks ran on both nodes
    assert {r[3] for r in runs if r[0].startswith("train")} == {"2"}  # num_cpus of sweeptest_train
    assert {r[3] for r in runs if r[0].startswith("collect")} == {"1"}  # default
    assert {r[3] for r in _runs(local / "out")} == {"7"}  # in-process: the config's own number
    assert any(line.startswith("[12/16 done, 0 running, 4 failed") for line in lines), lines[-3:]
    assert any("FAILED" in line and "toy_random_bad_seed0" in line for line in lines)


DRIVER = """
import sys
import tests.sweep.helpers  # registers the fake stages
from orlvlmf.cli import main
sys.exit(main(["sweep", "--config", sys.argv[1], "--executor", "ray", "--address", sys.argv[2],
              "--max-parallel", "2"]))
"""


@pytest.mark.slow
def test_a_killed_driver_reruns_and_skips_every_finished_stage(tmp_path, cluster):
    """The CLI with --max-parallel; its driver killed mid-sweep; the rerun redoes no finished stage."""
    cfg, file = load_sweep_config(_sweep(tmp_path))
    root = tmp_path / "out/tiny"
    root.mkdir(parents=True)
    (root / "sleep").write_text("1.5")
    cmd = [sys.executable, "-c", DRIVER, str(file), cluster.address]
    driver = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while len(list((root / "results").glob("*.json"))) < 3 and time.monotonic() - t0 < 240:
            time.sleep(0.2)
    finally:
        driver.kill()
        driver.wait()
    finished_before = {r[0] for r in _runs(tmp_path / "out") if not r[0].startswith("train-start")}
    assert 3 <= len(list((root / "results").glob("*.json"))) < 16  # killed mid-sweep
    (root / "sleep").unlink()
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1, rerun.stdout[-2000:] + rerun.stderr[-2000:]  # the `bad` cells
    assert "12 cells ran" not in rerun.stdout and "4 failed" in rerun.stdout
    finished = Counter(r[0] for r in _runs(tmp_path / "out") if not r[0].startswith("train-start"))
    assert all(finished[k] == 1 for k in finished_before)  # no finished stage ran again
    assert len(finished) == 10 and set(finished.values()) == {1}  # 2 datasets, 8 policies, each once
    results = _results(tmp_path / "out")
    assert len(results) == 16 and sum(r["status"] == "done" for r in results.values()) == 12
