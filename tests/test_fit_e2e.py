"""`orlvlmf fit` end to end on a tiny cartpole config: every stage, the report, then a rerun that skips."""

import json

from orlvlmf.cli import main

TINY = [
    "name=tiny", "seeds=[0,1]",
    "dataset.episodes=6", "dataset.image_size=32",
    "pairs.num_queries=120", "pairs.min_gap=5",
    "reward.encoder.model=resnet10t", "reward.ensemble=1", "reward.max_epochs=2", "reward.batch_size=32",
    "reward.gt_eval_transitions=100",
    "train.steps=300", "train.eval_every=150", "train.eval_episodes=2", "train.checkpoint_every=150",
    "train.log_every=50", "evaluation.episodes=2", "trainer.progress=false", "trainer.num_threads=1",
]


def test_fit_runs_every_stage_writes_report_and_skips_on_rerun(tmp_path, capsys):
    args = ["fit", "--config", "cartpole_random.yaml", f"run_dir={tmp_path}", *TINY]
    assert main(args) == 0
    run = tmp_path / "tiny"
    for seed in (0, 1):
        evaluation = json.loads((run / f"seed_{seed}" / "eval.json").read_text())
        assert evaluation["success_rate"] is not None and len(evaluation["episodes"]) == 2
        metrics = json.loads((run / f"seed_{seed}" / "train_metrics.json").read_text())
        assert metrics["steps"] == 300 and metrics["evals"]
    report = (run / "report" / "report.md").read_text()
    for section in ("## Dataset", "## Preference labels", "## Reward model", "## Policy training",
                    "## Final evaluation"):
        assert section in report
    assert (run / "report" / "reward_vs_gt.png").stat().st_size > 1000
    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    assert set(manifest) == {"collect", "label", "reward@seed0", "reward@seed1", "relabel@seed0",
                             "relabel@seed1", "train@seed0", "train@seed1", "evaluate@seed0",
                             "evaluate@seed1", "report"}
    capsys.readouterr()

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "11 stage runs (0 ran, 11 up to date)" in out
