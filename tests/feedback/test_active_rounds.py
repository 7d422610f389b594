"""Active query selection through the label stage: rounds scored by a brief reward fit, the round
of each pair in pairs.npz, and a run killed mid-round resumed without paying an answer twice."""

import json
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from active_worker import stage_config, stage_context
from feedback_helpers import kill_9_when, make_bar_dataset, start_worker
from test_reliability import answered_rows

WORKER = Path(__file__).with_name("active_worker.py")


def test_disagreement_rounds_through_the_stage(tmp_path):
    from orlvlmf.feedback.stage import ROUND_LOG, LabelStage

    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    cfg = stage_config({"name": "scripted"}, pairs={"num_queries": 26})
    ctx = stage_context(cfg, ds_path, tmp_path / "run")
    sections = LabelStage().config_sections(cfg)
    assert sections[:4] == ("pairs", "feedback", "task", "labels") and "reward.encoder" in sections
    assert "reward.max_epochs" not in sections  # the brief fit sets it (test_final_fit_settings...)
    s = LabelStage().run(ctx)
    npz = np.load(ctx.staging_dir / "pairs.npz")
    assert s["pairs"] == 26 and npz["round"].tolist() == [0] * 10 + [1] * 10 + [2] * 6
    log = json.loads((ctx.work_dir / ROUND_LOG).read_text())
    assert [len(r["idx0"]) for r in log["rounds"]] == [10, 10, 6]
    later = log["rounds"][1:]
    assert all(r["pool"] == 200 and r["chosen_score"] >= r["pool_score"] for r in later)
    pairs = {(min(a, b), max(a, b)) for a, b in zip(npz["idx0"].tolist(), npz["idx1"].tolist())}
    assert len(pairs) == 26  # no pair asked twice, in either order
    # round 0 is the uniform sampler's first pairs
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.sampling import sample_pairs

    first = sample_pairs(OfflineDataset.open(ds_path), 10, min_gap=2, seed=0)
    assert npz["idx0"][:10].tolist() == first.idx0.tolist()
    # a rerun replays the logged rounds from the store
    again = LabelStage().run(ctx)
    assert again["cached"] == 26 and np.array_equal(np.load(ctx.staging_dir / "pairs.npz")["idx1"], npz["idx1"])
    uniform = stage_context(stage_config({"name": "scripted"}, pairs={"strategy": "uniform"}), ds_path,
                            tmp_path / "u")
    assert LabelStage().config_sections(uniform.cfg) == ("pairs", "feedback", "task", "labels")
    # explore_fraction reaches the rounds: a mixed run logs its own plan and still asks no pair twice
    mixed = stage_context(stage_config({"name": "scripted"}, pairs={"num_queries": 26, "explore_fraction": 0.5}),
                          ds_path, tmp_path / "x")
    LabelStage().run(mixed)
    mlog = json.loads((mixed.work_dir / ROUND_LOG).read_text())
    assert mlog["plan"]["explore"] == 0.5 and "explore" not in log["plan"]
    m = np.load(mixed.staging_dir / "pairs.npz")
    assert len({(min(a, b), max(a, b)) for a, b in zip(m["idx0"].tolist(), m["idx1"].tolist())}) == 26
    assert all(r["chosen_score"] <= g["chosen_score"] + 1e-9 for r, g in zip(mlog["rounds"][1:2], later[:1]))
    # bald: the same rounds, each chosen by mutual information; the log names its score
    bald = stage_context(stage_config({"name": "scripted"}, pairs={"num_queries": 26, "strategy": "bald"}),
                         ds_path, tmp_path / "b")
    assert "reward.encoder" in LabelStage().config_sections(bald.cfg)
    LabelStage().run(bald)
    blog = json.loads((bald.work_dir / ROUND_LOG).read_text())
    assert blog["plan"]["strategy"] == "bald" and log["plan"]["strategy"] == "disagreement"
    b = np.load(bald.staging_dir / "pairs.npz")
    assert b["round"].tolist() == npz["round"].tolist() and b["idx0"][:10].tolist() == first.idx0.tolist()
    assert all(r["pool"] == 200 and r["chosen_score"] >= r["pool_score"] for r in blog["rounds"][1:])
    assert len({(min(a, b), max(a, b)) for a, b in zip(b["idx0"].tolist(), b["idx1"].tolist())}) == 26
    assert b["idx0"][10:].tolist() != npz["idx0"][10:].tolist()  # another score picks other pairs


def test_final_fit_settings_keep_the_rounds_asked(tmp_path):
    """Training the final reward model longer or with more members changes nothing the rounds'
    brief fit uses: the label stage stays up to date and a rerun resumes the logged rounds."""
    from orlvlmf.feedback.stage import ROUND_LOG, LabelStage
    from orlvlmf.pipeline.runner import fingerprint

    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    cfg = stage_config({"name": "scripted"}, pairs={"num_queries": 20})
    ctx = stage_context(cfg, ds_path, tmp_path / "run")
    LabelStage().run(ctx)
    before = (ctx.work_dir / ROUND_LOG).read_text()

    def fp(reward):
        return fingerprint(stage_config({"name": "scripted"}, pairs={"num_queries": 20}, reward=reward),
                           LabelStage(), "label", None, {})

    final = {"max_epochs": 40, "ensemble": 5, "patience": 9, "gt_eval_transitions": 0, "gt_eval_every": 0}
    assert fp(final) == fp(None)
    assert fp({"lr": 3e-4}) != fp(None) and fp({"encoder": {"name": "mlp", "hidden": [32]}}) != fp(None)
    lines = []
    longer = stage_context(stage_config({"name": "scripted"}, pairs={"num_queries": 20}, reward=final),
                           ds_path, tmp_path / "run")
    longer.log = lines.append
    assert LabelStage().run(longer)["cached"] == 20
    assert any("resuming active labeling after 2 logged round(s)" in line for line in lines)
    assert (ctx.work_dir / ROUND_LOG).read_text() == before


def test_bad_active_settings_are_refused_before_any_work(tmp_path):
    from orlvlmf.feedback.stage import LabelStage
    from orlvlmf.pipeline.stage import StageError

    ds_path = make_bar_dataset(tmp_path / "d.h5")
    for pairs, msg in (({"strategy": "active"},
                        "pairs.strategy must be one of uniform, disagreement, bald, got 'active'"),
                       ({"round_ensemble": 1}, "'pairs.round_ensemble' must be >= 2"),
                       ({"explore_fraction": 1.5}, r"'pairs.explore_fraction' must be in \[0, 1\], got 1.5"),
                       ({"initial_queries": 9}, "initial_queries=9 is odd")):
        cfg = stage_config({"name": "scripted", "both_orders": True}, pairs=pairs)
        with pytest.raises(StageError, match=msg):
            LabelStage().run(stage_context(cfg, ds_path, tmp_path / "r"))
    assert not (tmp_path / "r" / ".cache").exists()


def test_kill_9_mid_round_then_rerun_pays_no_answer_twice(tmp_path, fake_server):
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    run_dir = tmp_path / "run"
    store = run_dir / ".cache" / "label_store.sqlite"
    rounds = run_dir / ".work" / "label" / "rounds.json"
    srv = fake_server(latency_s=0.05)
    proc, cmd, env = start_worker(WORKER, ds_path, run_dir, srv.url)
    # killed while round 1 (chosen by disagreement) is being asked
    kill_9_when(proc, lambda: sum(r["status"] == "answered" for r in answered_rows(store)) >= 13)
    time.sleep(0.3)
    logged = json.loads(rounds.read_text())["rounds"]
    done_before = [r for r in answered_rows(store) if r["status"] == "answered"]
    assert len(logged) == 2 and 13 <= len(done_before) < 20, "the kill missed round 1"
    n_logged = len(srv.log)

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resuming active labeling after 2 logged round(s)" in out.stderr
    assert "DONE pairs=30" in out.stdout
    npz = np.load(run_dir / ".staging" / "label" / "pairs.npz")
    assert npz["round"].tolist() == [0] * 10 + [1] * 10 + [2] * 10
    kept = [(a, b) for r in logged for a, b in zip(r["idx0"], r["idx1"])]
    assert list(zip(npz["idx0"].tolist(), npz["idx1"].tolist()))[:20] == kept  # the logged rounds, unchanged
    ref_of = lambda text: re.search(r"ref=([0-9a-f]{16})", text).group(1)  # noqa: E731
    answered_refs = {ref_of(r["stage1_text"]) for r in done_before}
    rerun = srv.log[n_logged:]
    assert rerun and not [r for r in rerun if r["ref"] in answered_refs]
    # every pair's vision call reached the server once, except those in flight at the kill (<= 2)
    vision = [r["ref"] for r in srv.log if r["kind"] == "vision"]
    assert len(vision) - len(set(vision)) <= 2 and len(set(vision)) == 30
