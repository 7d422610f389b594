"""Fake instant stages and a tiny sweep config for the sweep tests.

The stages count their runs in ``CALLS`` (this process) and in ``<sweep>/runs.log`` (any process,
e.g. Ray workers).  Files in the sweep's folder steer them across processes: ``die_at`` (a train
key: that train's worker kills itself once), ``sleep`` (seconds each train takes), ``bytes_vary``
(each collect writes other bytes, as LZF-compressed HDF5 can).  A reward scale
of 13 makes train raise.
"""

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from orlvlmf.pipeline.stage import Stage, torch_threads
from orlvlmf.registry import register

CALLS: Counter = Counter()
INTERRUPT: dict = {}


def sweep_root(ctx) -> Path:
    return Path(ctx.run_dir).parents[2]  # <out>/<name>/cells/<group>/<cell>


def log_run(ctx, what: str) -> None:
    node = ""
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    with open(sweep_root(ctx) / "runs.log", "a") as fh:  # threads: what an executor gave, else 7
        fh.write(f"{what} {node or '-'} {os.getpid()} {torch_threads(7)}\n")


@register("stages", "sweeptest_collect")
class FakeCollect(Stage):
    sections = ("env", "dataset")
    outputs = ("dataset.h5",)

    def run(self, ctx):
        CALLS[f"collect:{ctx.cfg.dataset.quality}"] += 1
        log_run(ctx, f"collect:{ctx.cfg.dataset.quality}")
        data = f"data {ctx.cfg.dataset.quality} {ctx.cfg.dataset.episodes}"
        if (sweep_root(ctx) / "bytes_vary").is_file():  # equal contents, other bytes each run
            data += f" {os.urandom(4).hex()}"
        ctx.output("dataset.h5").write_text(data)
        return {"episodes": int(ctx.cfg.dataset.episodes)}


@register("stages", "sweeptest_train")
class FakeTrain(Stage):
    sections = ("train",)
    inputs = ("sweeptest_collect/dataset.h5",)
    outputs = ("policy.ckpt",)
    per_seed = True

    def run(self, ctx):
        key = f"{ctx.cfg.dataset.quality}:{ctx.cfg.train.reward_scale}:{ctx.seed}"
        ckpt = ctx.work_dir / "half.ckpt"
        if INTERRUPT.get("at") == key and not ckpt.exists():
            ckpt.write_text("half way")
            raise KeyboardInterrupt
        root = sweep_root(ctx)
        log_run(ctx, f"train-start:{key}")
        if (root / "die_at").is_file() and (root / "die_at").read_text().strip() == key:
            (root / "die_at").unlink()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-stage
        if (root / "sleep").is_file():
            time.sleep(float((root / "sleep").read_text()))
        if float(ctx.cfg.train.reward_scale) == 13:
            raise ValueError("unlucky reward scale 13")
        log_run(ctx, f"train:{key}")
        CALLS["train"] += 1
        CALLS["resumed"] += ckpt.exists()
        data = ctx.input("dataset.h5").read_text()
        ctx.output("policy.ckpt").write_text(f"{data} {ctx.cfg.train.reward_scale} {ctx.seed} v{self.version}")


@register("stages", "sweeptest_eval")
class FakeEval(Stage):
    sections = ("train",)
    inputs = ("sweeptest_train/policy.ckpt",)
    outputs = ("eval.json",)
    per_seed = True

    def run(self, ctx):
        CALLS["eval"] += 1
        scale = float(ctx.cfg.train.reward_scale)
        ret = -100.0 * scale - 10 * ctx.seed - (0 if ctx.cfg.dataset.quality == "expert" else 50)
        ctx.output("eval.json").write_text(json.dumps({"return_mean": ret, "success_rate": 0.5}))


STAGES = "[sweeptest_collect, sweeptest_train, sweeptest_eval]"


def write_sweep(tmp: Path, extra: str = "") -> Path:
    for q in ("random", "expert"):
        (tmp / f"toy_{q}.yaml").write_text(
            f"extends: base.yaml\nname: toy\nenv: {{name: cartpole}}\n"
            f"dataset: {{quality: {q}, episodes: 3}}\n")
    path = tmp / "sweep.yaml"
    path.write_text(f"""
kind: sweep
name: tiny
out_dir: {tmp / 'out'}
table: none
protocol: quick
tasks: [{{name: toy, config: "toy_{{quality}}.yaml", metric: return_mean}}]
qualities: [random, expert]
methods: [one, two]
seeds: [0, 1]
protocols:
  quick: {{overrides: [trainer.progress=false]}}
custom_methods:
  one: {{stages: {STAGES}, overrides: [train.reward_scale=1.0], label: Method one}}
  two: {{stages: {STAGES}, overrides: [train.reward_scale=2.0]}}
{extra}""")
    return path
