"""The sweep through the real stages on a tiny cartpole grid (slow: ~30 s)."""

import csv

import pytest

from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.runner import run_sweep

SWEEP = """
kind: sweep
name: e2e
out_dir: {out}
table: I
protocol: tiny
tasks: [cartpole]
qualities: [random]
methods: [ours, iql_gt, iql_avg, bc, diffusion, gail]
seeds: [0]
protocols:
  tiny:
    overrides: [trainer.progress=false, trainer.num_threads=1, dataset.episodes=4, dataset.image_size=32,
                pairs.num_queries=100, pairs.min_gap=2, reward.observation=state,
                "reward.encoder={{name: mlp, hidden: [32]}}", reward.max_epochs=2, reward.ensemble=1,
                train.steps=60, train.eval_every=0, train.log_every=20, evaluation.episodes=1,
                "policy.encoder={{name: mlp, hidden: [32, 32]}}"]
    methods:
      gail: [train.steps=2, policy.rollout_steps=100, policy.minibatch_size=50, policy.batch_size=50,
             "policy.hidden=[16]"]
      bc: ["policy.hidden=[32]"]
      diffusion: ["policy.hidden=[32]", policy.num_train_timesteps=10, policy.num_inference_steps=5]
"""


@pytest.mark.slow
def test_real_stages_tiny_cartpole(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.format(out=tmp_path / "out"))
    cfg, file = load_sweep_config(path)
    lines: list[str] = []
    summary = run_sweep(cfg, file, echo=lines.append)
    assert not summary.failed, summary.failed
    assert len(summary.ran) == 6
    assert sum("collect: running" in line for line in lines) == 1  # one dataset for all methods
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "out/e2e/table.csv").open())}
    assert set(rows) == set(cfg.methods)
    assert all(r["mean"] not in ("", None) and r["paper_mean"] != "" for r in rows.values())
    again = run_sweep(cfg, file, echo=lines.append)
    assert len(again.skipped) == 6 and not again.ran
