"""The block `orlvlmf fit` ends with, from a run folder's artifacts."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from orlvlmf.report.summary import evaluation_spread, fit_summary, sweep_summary, tensorboard_command


def write_run(run, returns_by_seed, successes_by_seed, with_gt=True):
    stages = {}
    for seed, (returns, successes) in enumerate(zip(returns_by_seed, successes_by_seed)):
        d = run / f"seed_{seed}"
        d.mkdir(parents=True)
        episodes = [{"return": r, "success": s} for r, s in zip(returns, successes)]
        (d / "eval.json").write_text(json.dumps({
            "success_rate": float(np.mean(successes)), "return_mean": float(np.mean(returns)),
            "return_std": float(np.std(returns)), "episodes": episodes}))
        (d / "reward_metrics.json").write_text(json.dumps({
            "val_acc": 0.8 + 0.1 * seed, "pairs_val": 40, "gt_pearson": 0.9 if with_gt else None,
            "gt_spearman": 0.7 if with_gt else None, "gt_transitions": 500}))
        stages[f"train@seed{seed}"] = {"summary": {"seconds": 100.0}}
        stages[f"reward@seed{seed}"] = {"summary": {"seconds": 30.0}}
    stages["collect"] = {"summary": {"seconds": 12.0}}
    (run / "manifest.json").write_text(json.dumps({"stages": stages}))
    (run / "report").mkdir()
    (run / "report" / "report.md").write_text("# r\n")
    (run / "tb").mkdir()


def test_fit_summary_gives_per_episode_and_across_seed_spread(tmp_path):
    run = tmp_path / "runs" / "x"
    write_run(run, [[10.0, 20.0], [30.0, 50.0]], [[True, False], [True, True]])
    text = fit_summary(run, [0, 1], up_to_date=2)
    # per episode: success [1, 0, 1, 1] → 0.75 ± 0.43; returns [10, 20, 30, 50] → 27.5 ± 14.8
    assert "success 0.75 ± 0.43 per episode (4 episodes, 2 seeds)" in text
    assert "GT return 27.5 ± 14.8 per episode" in text
    # across seeds: success means 0.5, 1.0 → 0.75 ± 0.25; return means 15, 40 → 27.5 ± 12.5
    assert "across seeds: success 0.75 ± 0.25, return 27.5 ± 12.5" in text
    assert "held-out accuracy 0.850 ± 0.050 on 40 labeled pairs" in text
    assert "Pearson 0.90, Spearman 0.70" in text
    assert "collect 12 s · reward 60 s · train 3.3 min = 4.5 min (2 stage runs were up to date" in text
    assert f"report       {run / 'report' / 'report.md'}" in text
    assert text.splitlines()[-2].strip().endswith(f"--logdir {run / 'tb'}")


def test_fit_summary_without_ground_truth_says_so(tmp_path):
    run = tmp_path / "r"
    write_run(run, [[1.0]], [[False]], with_gt=False)
    text = fit_summary(run, [0], up_to_date=1)
    assert "no true reward to compare with" in text and "across seeds" not in text
    assert "(1 stage run was up to date: its time is from the run that made it)" in text


def test_without_simulator_the_headline_is_the_held_out_action_error(tmp_path):
    run = tmp_path / "r"
    (run / "seed_0").mkdir(parents=True)
    (run / "seed_0" / "train_metrics.json").write_text(json.dumps(
        {"offline": {"action_mae": 0.1234, "mean_action_mae": 0.4}}))
    text = fit_summary(run, [0])
    assert "no simulator: held-out action MAE 0.1234 ± 0.0000 (always answering the mean action: 0.4000" in text


def test_tensorboard_command_is_runnable_as_printed(tmp_path, monkeypatch):
    mine = tmp_path / "venv" / "bin"
    mine.mkdir(parents=True)
    (mine / "tensorboard").write_text("")
    monkeypatch.setattr(sys, "executable", str(mine / "python"))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert tensorboard_command(tmp_path / "tb") == f"{mine / 'tensorboard'} --logdir {tmp_path / 'tb'}"
    monkeypatch.chdir(tmp_path)  # `make run` runs in the repository: the venv's path relative to it
    assert tensorboard_command(Path("runs/x/tb")) == "venv/bin/tensorboard --logdir runs/x/tb"
    monkeypatch.setenv("PATH", str(mine))
    (mine / "tensorboard").chmod(0o755)
    assert tensorboard_command(tmp_path / "tb") == f"tensorboard --logdir {tmp_path / 'tb'}"


def test_sweep_summary_names_the_tables_and_tensorboard(tmp_path):
    (tmp_path / "cells").mkdir()
    text = sweep_summary("t1", tmp_path, 4, 1, 0, {"markdown": tmp_path / "table.md", "csv": tmp_path / "table.csv"})
    assert "4 cells ran, 1 already done, 0 failed" in text and f"markdown     {tmp_path / 'table.md'}" in text
    assert f"--logdir {tmp_path / 'cells'}" in text


def test_evaluation_spread_needs_episodes():
    assert evaluation_spread({0: {"episodes": 5}}) is None
    out = evaluation_spread({0: {"episodes": [{"return": 1.0, "success": True}], "success_rate": 1.0,
                                 "return_mean": 1.0}})
    assert out["success"] == pytest.approx((1.0, 0.0)) and "success_seeds" not in out
