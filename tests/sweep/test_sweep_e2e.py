"""The sweep through the real stages on a tiny cartpole grid (slow: ~30 s)."""

import csv
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.reward.column import load_rewards
from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.runner import run_sweep
from tests.evaluation.helpers import replay_returns

# Spearman of "ours"' relabeled column with the true reward: 0.80 measured with this protocol, -0.07
# with the Bradley-Terry sign flipped
SPEARMAN_MIN = 0.3

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
                "reward.encoder={{name: mlp, hidden: [32]}}", reward.max_epochs=20, reward.lr=0.01,
                reward.patience=20, reward.ensemble=1,
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
    cells = tmp_path / "out/e2e/cells/cartpole_random"
    for method in ("ours", "iql_gt", "iql_avg", "bc"):  # deterministic policies: replayable
        # the table's figure is the return of the policy this method trained, replayed independently
        run = cells / f"{method}_seed0" / "seed_0"
        seeds = [e["seed"] for e in json.loads((run / "eval.json").read_text())["episodes"]]
        replay = replay_returns(run / "policy.ckpt", "cartpole", seeds)
        assert float(rows[method]["mean"]) == pytest.approx(np.mean([r for r, _, _ in replay]), rel=1e-5)
    # the reward column "ours" trained on ranks transitions like the true reward, and the labels it
    # came from agree with the true reward (the noiseless scripted teacher)
    ds = OfflineDataset.open(cells / "ours_seed0/dataset.h5")
    gt = ds.ground_truth().reward
    col = load_rewards(cells / "ours_seed0/seed_0/rewards.npz", ds.num_transitions).reward
    assert spearmanr(col, gt).statistic > SPEARMAN_MIN
    pairs = np.load(cells / "ours_seed0/pairs.npz")
    decided = pairs["label"] != -1
    truth = (gt[pairs["idx1"]] > gt[pairs["idx0"]]).astype(int)
    assert np.array_equal(pairs["label"][decided], truth[decided])
    again = run_sweep(cfg, file, echo=lines.append)
    assert len(again.skipped) == 6 and not again.ran
