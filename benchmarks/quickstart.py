"""The README's quickstart figures, from one fresh run of ``orlvlmf fit --config drawer.yaml``.

Runs the quickstart (what ``make run`` runs after set-up) as a subprocess in a fresh run
directory, times it, then reads the run's manifest, metrics and evaluation and prints the
README's sentence and per-stage table (``| stage | seconds | result |``) from them, and one JSON
line.  Measure on an idle machine: the figures are wall-clock times (the load average at the
start and end is printed beside them).

    python benchmarks/quickstart.py [--config drawer.yaml] [--run-dir DIR] [--keep] [override ...]

Overrides (``key=value``) go to ``orlvlmf fit`` after the config, e.g. a smoke run at tiny sizes:
``python benchmarks/quickstart.py dataset.episodes=2 dataset.workers=1 pairs.num_queries=20
reward.max_epochs=1 train.steps=20 train.eval_every=10 evaluation.episodes=1``
(its figures mean nothing; it checks the script end to end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("orlvlmf")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from orlvlmf.cli import main; sys.exit(main())"]


def _k(n: float) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else f"{n:g}"


def stage_rows(run: Path, seed: int = 0) -> tuple[list[dict], dict]:
    """(table rows, figures) from a finished run directory."""
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    cfg_text = (run / "config.yaml").read_text()
    import yaml

    cfg = yaml.safe_load(cfg_text)

    def rec(name: str) -> dict:
        return stages.get(name) or stages.get(f"{name}@seed{seed}") or {}

    rows, fig = [], {}
    s = rec("collect").get("summary", {})
    if s:
        workers = (cfg.get("dataset") or {}).get("workers", 1)
        rows.append({"stage": "collect", "seconds": s.get("seconds"),
                     "result": f"{_k(s['transitions'])} transitions, {s['steps_per_s']:.0f}/s with "
                               f"{workers} process{'es' if workers != 1 else ''}"})
        fig["dataset_success_rate"] = s.get("gt_success_rate")
    s = rec("label").get("summary", {})
    if s:
        rows.append({"stage": "label", "seconds": s.get("seconds"),
                     "result": f"{s['answered']} {(cfg.get('feedback') or {}).get('name', '')} labels"})
    s = rec("reward").get("summary", {})
    if s:
        rows.append({"stage": "reward", "seconds": s.get("seconds"),
                     "result": f"held-out preference accuracy {s['val_acc']:.2f}, Spearman with GT "
                               f"reward {s['gt_spearman']:.2f}"})
    s = rec("relabel").get("summary", {})
    if s:
        rows.append({"stage": "relabel", "seconds": s.get("seconds"),
                     "result": f"{_k(s['transitions'])} frames scored (Spearman {s['gt_spearman']:.2f} "
                               f"over all transitions)"})
    s = rec("train").get("summary", {})
    if s:
        metrics = json.loads((run / f"seed_{seed}" / "train_metrics.json").read_text())
        evals = metrics.get("evals", [])
        text = f"{_k(s['steps'])} steps ({s['steps_per_s']:.0f}/s)"
        if evals:
            text += ("; evaluation success " + " / ".join(f"{e['eval/success_rate']:.1f}" for e in evals)
                     + " at " + " / ".join(_k(e["step"]) for e in evals) + " steps")
        rows.append({"stage": "train (IQL)", "seconds": s.get("seconds"), "result": text})
    s = rec("evaluate").get("summary", {})
    if s:
        ev = json.loads((run / f"seed_{seed}" / "eval.json").read_text())
        rows.append({"stage": "evaluate", "seconds": s.get("seconds"),
                     "result": f"success {ev['success_rate']:.2f}, GT return {ev['return_mean']:.0f} "
                               f"± {ev['return_std']:.0f}"})
        fig.update({"success_rate": ev["success_rate"], "return_mean": ev["return_mean"],
                    "return_std": ev["return_std"], "eval_episodes": len(ev["episodes"])})
    s = rec("report").get("summary", {})
    if s:
        rows.append({"stage": "report", "seconds": s.get("seconds"), "result": "report.md"})
    return rows, fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="drawer.yaml")
    ap.add_argument("--run-dir", help="parent of the fresh run directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    parent = Path(args.run_dir or tempfile.mkdtemp(prefix="orlvlmf-quickstart-"))
    parent.mkdir(parents=True, exist_ok=True)
    name = "quickstart"
    if (parent / name).exists():
        raise SystemExit(f"{parent / name} exists: the quickstart is measured in a fresh run directory")
    cmd = [*_cli(), "fit", "--config", args.config, f"run_dir={parent}", f"name={name}", *args.overrides]
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    load0 = os.getloadavg()[0]
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    if proc.returncode != 0:
        print(f"orlvlmf fit exited with {proc.returncode}", file=sys.stderr)
        return proc.returncode
    run = parent / name
    rows, fig = stage_rows(run)
    minutes, seconds = divmod(round(wall), 60)
    print()
    print(f"`make run` took **{minutes} min {seconds} s** and reached a **success rate of "
          f"{fig.get('success_rate', float('nan')):.2f} over {fig.get('eval_episodes', 0)} evaluation "
          f"episodes** (GT return {fig.get('return_mean', float('nan')):.0f} ± "
          f"{fig.get('return_std', float('nan')):.0f}) — the random dataset itself succeeds in "
          f"{100 * (fig.get('dataset_success_rate') or 0):.1f}% of its episodes.")
    print(f"(load average {load0:.2f} at the start, {load1:.2f} at the end, {os.cpu_count()} CPUs)")
    print()
    print("| stage | seconds | result |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds']:.1f} | {r['result']} |")
    print(json.dumps({"benchmark": "quickstart", "config": args.config, "overrides": args.overrides,
                      "wall_s": round(wall, 1), "load_avg_start": round(load0, 2),
                      "load_avg_end": round(load1, 2), "cpus": os.cpu_count(), **fig, "stages": rows}))
    if not args.keep and not args.run_dir:
        shutil.rmtree(parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
