"""`orlvlmf fit` end to end on a tiny cartpole config: every stage, the report, then a rerun that skips."""

import json

from orlvlmf.cli import main


def test_fit_runs_every_stage_writes_report_and_skips_on_rerun(tiny_fit, capsys):
    run = tiny_fit.run_dir
    for seed in (0, 1):
        evaluation = json.loads((run / f"seed_{seed}" / "eval.json").read_text())
        assert evaluation["success_rate"] is not None and len(evaluation["episodes"]) == 3
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
    assert "11 stage runs (11 ran, 0 up to date)" in tiny_fit.stdout

    assert main(tiny_fit.args) == 0
    out = capsys.readouterr().out
    assert "11 stage runs (0 ran, 11 up to date)" in out
    assert "(11 stage runs were up to date: their time is from the run that made them)" in out
