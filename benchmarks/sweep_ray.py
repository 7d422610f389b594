"""Wall clock of one sweep row: the in-process executor vs ``--executor ray`` on this machine.

Runs ``orlvlmf sweep --config table2.yaml --tasks cartpole --qualities random`` (reduced protocol,
3 seeds: 18 cells — IQL-GT and the five label-noise columns; ``--methods`` picks fewer columns)
twice from scratch, into two fresh out_dirs, in the same run: first in-process (one process,
``trainer.num_threads`` from the configs, 2), then ``--executor ray`` (Ray started on this machine,
one CPU and one torch thread per stage task, as many tasks side by side as there are cores).  Prints both wall clocks and their ratio
(in-process / Ray; issue 15's goal on 2 cores: >= 1.7), whether the two tables agree, and ends with
one JSON line.

Usage::

    python benchmarks/sweep_ray.py [--out /tmp/sweep_ray_bench] [--max-parallel N]
    python benchmarks/sweep_ray.py --methods iql_gt flip_25 proximity   # 9 of the 18 cells
    python benchmarks/sweep_ray.py --smoke     # tiny sizes: checks the commands work (seconds)

Measure on an otherwise idle machine: other jobs on the cores change both runs, not alike.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ROW = ["--tasks", "cartpole", "--qualities", "random"]
SMOKE = ["dataset.episodes=6", "dataset.image_size=32", "dataset.workers=1", "pairs.num_queries=60",
         "pairs.min_gap=2", "reward.observation=state", "reward.encoder={name: mlp, hidden: [32]}",
         "reward.ensemble=1", "reward.max_epochs=1", "train.steps=50", "train.eval_every=0",
         "train.log_every=25", "train.checkpoint_every=25", "evaluation.episodes=1",
         "policy.encoder={name: mlp, hidden: [32, 32]}"]


def sweep_file(out: Path, smoke: bool) -> Path:
    """table2.yaml itself, or (smoke) a copy whose protocol has tiny sizes and 1 seed."""
    shipped = REPO / "configs" / "table2.yaml"
    if not smoke:
        return shipped
    data = yaml.safe_load(shipped.read_text())
    data["protocols"] = {"smoke": {"overrides": SMOKE}}
    data.update(protocol="smoke", seeds=[0])
    path = out / "table2_smoke.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(config: Path, out_dir: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "orlvlmf.cli", "sweep", "--config", str(config),
           f"out_dir={out_dir}", *ROW, *extra]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, text=True, capture_output=True)
    seconds = time.perf_counter() - t0
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
    print(tail, flush=True)
    if proc.returncode != 0:
        sys.exit(f"the sweep failed (exit {proc.returncode})")
    return seconds


def table(out_dir: Path) -> dict:
    path = next(out_dir.glob("*/table.csv"))
    return {(r["quality"], r["method"]): r["values"] for r in csv.DictReader(path.open())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/sweep_ray_bench", help="scratch folder (emptied first)")
    ap.add_argument("--max-parallel", type=int, help="--max-parallel of the Ray run")
    ap.add_argument("--methods", nargs="+", help="only these columns of the row (default: all six)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, 1 seed: only checks it runs")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = sweep_file(out, args.smoke)
    os.environ.setdefault("MUJOCO_GL", "egl")
    methods = ["--methods", *args.methods] if args.methods else []
    inprocess = run(config, out / "inprocess", methods)
    ray_extra = ["--executor", "ray"] + (["--max-parallel", str(args.max_parallel)] if args.max_parallel else [])
    ray = run(config, out / "ray", methods + ray_extra)
    same = table(out / "inprocess") == table(out / "ray")
    ratio = inprocess / ray
    print(f"in-process {inprocess:.1f} s, ray {ray:.1f} s: {ratio:.2f}x (goal >= 1.7 on 2 cores); "
          f"tables {'identical' if same else 'differ (thread counts differ: float sums may too)'}")
    print(json.dumps({"benchmark": "sweep_ray", "smoke": args.smoke, "cpus": os.cpu_count(),
                      "methods": args.methods or "all",
                      "inprocess_s": round(inprocess, 1), "ray_s": round(ray, 1),
                      "ratio": round(ratio, 3), "tables_identical": same}))


if __name__ == "__main__":
    main()
