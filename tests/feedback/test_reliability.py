"""The issue's reliability tests: kill -9 and resume, injected faults, the API key never written."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from feedback_helpers import make_bar_dataset
from feedback_helpers import rule_labels, run_vlm, server_ref
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.store import LabelStore
from orlvlmf.feedback.summary import summarize_store

WORKER = Path(__file__).with_name("label_worker.py")


def answered_rows(store_path):
    if not Path(store_path).exists():
        return []
    con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=30)
    try:
        return [dict(zip(("query_key", "status", "label", "stage1_text"), r)) for r in con.execute(
            "SELECT query_key, status, label, stage1_text FROM queries")]
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def test_kill_9_mid_run_then_rerun_resends_nothing_answered_and_loses_nothing(tmp_path, fake_server):
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    store = tmp_path / "store.sqlite"
    srv = fake_server(latency_s=0.08)
    n, conc = 60, 3
    cmd = [sys.executable, str(WORKER), str(ds_path), str(store), srv.url, str(n), str(conc)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if sum(r["status"] == "answered" for r in answered_rows(store)) >= 15:
            break
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)  # let the server log what the dead process had already sent
    before = {r["query_key"]: r for r in answered_rows(store)}
    done_before = {k: r for k, r in before.items() if r["status"] == "answered"}
    partial_before = {k: r for k, r in before.items() if r["status"] == "stage1"}
    assert 15 <= len(done_before) < n, "the kill came too late to test a resume"
    n_logged = len(srv.log)

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"DONE answered={n} failed=0" in out.stdout
    after = {r["query_key"]: r for r in answered_rows(store)}
    # zero lost: every answer stored before the kill is still there, unchanged
    for k, r in done_before.items():
        assert after[k]["status"] == "answered" and after[k]["label"] == r["label"]
    assert sum(r["status"] == "answered" for r in after.values()) == n
    # zero answered queries re-sent: no request of the rerun concerns a pair answered before
    ref_of = lambda text: re.search(r"ref=([0-9a-f]{16})", text).group(1)  # noqa: E731
    answered_refs = {ref_of(r["stage1_text"]) for r in done_before.values()}
    partial_refs = {ref_of(r["stage1_text"]) for r in partial_before.values()}
    rerun = srv.log[n_logged:]
    assert rerun, "the rerun sent nothing"
    assert not [r for r in rerun if r["ref"] in answered_refs]
    assert not [r for r in rerun if r["kind"] == "vision" and r["ref"] in partial_refs]
    # only queries that were unanswered (at most `conc` of them in flight) are asked again
    assert len({r["ref"] for r in rerun}) == n - len(done_before)
    # and the labels are right
    ds = OfflineDataset.open(ds_path)
    with LabelStore(store) as s:
        rows = s.rows("status='answered'")
    got = np.asarray([r["label"] for r in rows])
    assert np.array_equal(got, rule_labels(ds_path, [r["idx0"] for r in rows], [r["idx1"] for r in rows]))
    ds.close()


def test_faults_at_20_percent_complete_with_counts_and_right_labels(bar_dataset, tmp_path, fake_server):
    srv = fake_server(fault_rate=0.2, retry_after="1", hang_s=2.5, seed=1)
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=40, timeout_s=1.0, concurrency=6)
    faults = [r for r in srv.log if r["fault"]]
    kinds = {r["fault"] for r in faults}
    assert kinds == {"429", "500", "hang", "malformed"}, f"seed did not inject every fault: {kinds}"
    assert res.answered.all() and res.stats.failed == 0
    # each 429 / 500 / hang cost exactly one retry; malformed text is an answer, not an error
    retryable = sum(r["fault"] in ("429", "500", "hang") for r in faults)
    assert res.stats.retries == retryable
    s = summarize_store(tmp_path / "s.sqlite")
    assert s["retries"] == retryable and s["failed"] == 0 and s["answered"] == 40
    assert s["last_session"]["retries"] == retryable
    # labels: the rule's, except -1 where the server garbled the analysis or the label
    ds = OfflineDataset.open(bar_dataset)
    garbled = {r["ref"] for r in faults if r["fault"] == "malformed"}
    refs = [server_ref(ds, a, b) for a, b in zip(res.idx0, res.idx1)]
    expect = np.where([r in garbled for r in refs], -1, rule_labels(bar_dataset, res.idx0, res.idx1))
    assert np.array_equal(res.label, expect)
    assert any(r in garbled for r in refs)
    # Retry-After was honoured: no retry of a rate-limited pair came sooner than 1 s
    for f in [r for r in faults if r["fault"] == "429"]:
        later = [r for r in srv.log if r["ref"] == f["ref"] and r["kind"] == f["kind"] and r["time"] > f["time"]]
        if later:
            assert later[0]["time"] - f["time"] >= 0.95


def test_api_key_never_reaches_store_logs_tensorboard_or_config(tmp_path, fake_server, monkeypatch, capfd, caplog):
    from orlvlmf.feedback.stage import LabelStage
    from orlvlmf.pipeline.runner import save_config
    from orlvlmf.pipeline.stage import StageContext

    secret = "sk-orlvlmf-test-4f9c2d7e1b3a5c8d"
    monkeypatch.setenv("ORLVLMF_TEST_API_KEY", secret)
    srv = fake_server(api_key=secret, fault_rate=0.2, retry_after="0", hang_s=1.5, seed=3)
    run_dir = tmp_path / "run"
    ds_path = make_bar_dataset(run_dir / "dataset.h5")
    cfg = OmegaConf.create({
        "name": "t", "run_dir": str(tmp_path), "task": None,
        "pairs": {"num_queries": 16, "min_gap": 2, "seed": 0, "image_key": "image", "skip_identical": True},
        "labels": {"shared_path": None},
        "feedback": {"name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url,
                     "api_key_env": "ORLVLMF_TEST_API_KEY", "image_size": 32, "timeout_s": 1.0,
                     "backoff_s": 0.05}})
    save_config(cfg, run_dir)
    ctx = StageContext(cfg=cfg, run_dir=run_dir, stage="label", seed=None, staging_dir=run_dir / ".staging",
                       work_dir=run_dir / ".work", inputs={"collect/dataset.h5": ds_path})
    with caplog.at_level("DEBUG"):
        summary = LabelStage().run(ctx)
    assert summary["answered"] == 16
    assert srv.log and all(r["auth_ok"] for r in srv.log)  # the key was used...
    out, err = capfd.readouterr()
    texts = {"stdout": out, "stderr": err, "log": caplog.text}
    for name, text in texts.items():  # ...and never printed or logged
        assert secret not in text, name
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in files) and any("tfevents" in p.name for p in files)
    assert any(p.name == "label_store.sqlite" for p in files) and any(p.name == "labels.sqlite" for p in files)
    for p in files:
        assert secret.encode() not in p.read_bytes(), p
        assert secret[-12:].encode() not in p.read_bytes(), p


def test_a_key_echoed_by_the_server_is_masked_before_any_cut(bar_dataset, tmp_path, fake_server,
                                                             monkeypatch, capfd, caplog):
    """A 500 whose text echoes the key with the key across the 300-character cut: 14 of 16 key
    characters used to reach the abort message (stderr) and the store's ``error`` column."""
    import pytest

    from orlvlmf.feedback.backends.base import LabelingAborted

    secret = "Q7wX2mZ9kL4pT8vR"  # 16 characters, not shaped like sk-...
    monkeypatch.setenv("ORLVLMF_TEST_API_KEY", secret)
    # the n-th error puts the key at a different offset: one of them straddles any cut near 300
    srv = fake_server(fault_rate=1.0, faults=("500",),
                      error_text=lambda n, token: "x" * (190 + 3 * n) + f" bad key {token} (rejected)")
    with caplog.at_level("DEBUG"), pytest.raises(LabelingAborted) as info:
        run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=40, max_retries=3, concurrency=1,
                api_key_env="ORLVLMF_TEST_API_KEY")
    assert len(srv.log) >= 20 and all(r["auth_ok"] for r in srv.log)
    out, err = capfd.readouterr()
    with LabelStore(tmp_path / "s.sqlite") as s:
        errors = [r["error"] for r in s.rows()]
        sessions = [str(r["stop_reason"]) for r in s.sessions()]
    assert errors and all(e and "xxxx" in e for e in errors)  # the server's text is kept, cut...
    pieces = {secret[i:i + 6] for i in range(len(secret) - 5)}
    for name, text in {"abort message": str(info.value), "stdout": out, "stderr": err,
                       "log": caplog.text, "store errors": "\n".join(errors),
                       "sessions": "\n".join(sessions)}.items():
        leaked = [p for p in pieces if p in text]
        assert not leaked, f"{name} holds part of the key: {leaked}"  # ...but no 6 key characters
