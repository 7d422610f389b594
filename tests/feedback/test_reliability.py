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
from orlvlmf.cli import main
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


# -- issue 12, item 1: the label store's disk fills up -------------------------------------------
def _label_run_config(tmp_path, ds_path, srv, store, **feedback):
    import yaml

    cfg = {"name": "full", "run_dir": str(tmp_path / "runs"), "stages": ["collect", "label"],
           "dataset": {"source": "file", "path": str(ds_path), "observations": ["image"]},
           "pairs": {"num_queries": 150, "min_gap": 2},
           "feedback": {"name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url,
                        "image_size": 32, "concurrency": 4, "timeout_s": 30, "backoff_s": 0.05,
                        **feedback},
           "labels": {"shared_path": str(store)}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _orlvlmf(args, timeout):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.run([sys.executable, "-m", "orlvlmf.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


import pytest  # noqa: E402


@pytest.mark.parametrize("latency_s", [0.4, 0.0], ids=["slow-server", "fast-server"])
def test_a_full_disk_under_the_label_store_is_reported_within_seconds(latency_s, tmp_path, fake_server,
                                                                      small_disk):
    """Slow server: the process used to sit silent forever (the producer's last put on a full queue
    nobody read); fast server: a raw sqlite3.OperationalError and ~8 paid answers silently lost.
    Wanted: one error within seconds, exit code non-zero, every answer received stored or counted."""
    disk = small_disk.mount(1024)
    store = disk / "labels.sqlite"
    LabelStore(store).close()  # an existing store, then the disk fills up
    small_disk.fill(disk, leave=256 * 1024)
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    srv = fake_server(latency_s=latency_s)
    cfg = _label_run_config(tmp_path, ds_path, srv, store)
    assert main(["collect", "--config", str(cfg)]) == 0
    try:
        out = _orlvlmf(["label", "--config", str(cfg)], timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("labeling hung on a full disk (no error within 120 s)")
    assert time.time() - max(r["time"] for r in srv.log) < 20  # it stopped soon after the disk filled
    assert out.returncode == 2, out.stdout + out.stderr
    err = out.stderr
    assert "Traceback" not in err and str(store) in err and "full" in err, err
    assert "LiteLLM completion()" not in err  # item 12: litellm's per-call lines only with --verbose
    m = re.search(r"(\d+) answers? received: (\d+) stored, (\d+) lost", err)
    assert m, err
    received, stored, lost = map(int, m.groups())
    assert received == stored + lost and received >= 1, err
    with LabelStore(store, readonly=True) as s:
        assert s.count("answered") == stored
    clean = len(srv.records(kind="text", fault=None))  # stage-2 replies the server sent
    assert stored <= clean
    assert not (tmp_path / "runs" / "full" / "pairs.npz").exists()


# -- issue 12, item 4: two processes never pay twice ---------------------------------------------
def test_two_label_commands_on_one_run_the_second_stops_naming_the_first(tmp_path, fake_server):
    """The reported case: two `orlvlmf label` on the same run started together sent all queries twice."""
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    srv = fake_server(latency_s=0.2)  # labeling takes seconds: the two overlap
    cfg = _label_run_config(tmp_path, ds_path, srv, tmp_path / "store.sqlite")
    cfg.write_text(cfg.read_text().replace("num_queries: 150", "num_queries: 40"))
    assert main(["collect", "--config", str(cfg)]) == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, "-m", "orlvlmf.cli", "label", "--config", str(cfg)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    loser = 0 if procs[0].returncode == 2 else 1
    err = outs[loser][1]
    assert f"pid {procs[1 - loser].pid}" in err and "Traceback" not in err, err
    vision = [r["ref"] for r in srv.records(kind="vision")]
    assert len(vision) == 40 and len(set(vision)) == 40  # every query asked once


def test_processes_sharing_a_store_never_send_a_query_another_has_in_flight(tmp_path, fake_server):
    """Two runs (two run directories) sharing ``labels.shared_path``: a query one process has in
    flight is not sent by the other, which waits and reuses the answer."""
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    store = tmp_path / "shared.sqlite"
    srv = fake_server(latency_s=0.15)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, str(WORKER), str(ds_path), str(store), srv.url, "30", "3"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0 and "DONE answered=30 failed=0" in out, out
    vision = [r["ref"] for r in srv.records(kind="vision")]
    text = [r["ref"] for r in srv.records(kind="text")]
    assert len(set(vision)) == 30
    assert len(vision) == 30 and len(text) == 30, "a query was sent by both processes"
    with LabelStore(store) as s:
        assert s.count("answered") == 30
        assert s.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # all released


def test_a_claim_dies_with_its_process(tmp_path, fake_server):
    """A process killed with a query in flight leaves a claim: it must not block the query for good."""
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=6, steps=40)
    store = tmp_path / "shared.sqlite"
    srv = fake_server(latency_s=1.0)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    cmd = [sys.executable, str(WORKER), str(ds_path), str(store), srv.url, "6", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 120
    while len(srv.log) < 3 and time.time() < deadline:  # three queries in flight
        assert proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    srv.latency_s = 0.0
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "DONE answered=6 failed=0" in out.stdout, out.stdout + out.stderr
    assert time.time() - t0 < 60  # the dead process's claims did not hold the rerun up


# -- issue 12, item 8: bad data stops before any paid query --------------------------------------
BAD_DATA = {  # the cases, as a folder of episode files would hold them: (arrays, key named)
    "nan_state": ({"state": np.r_[np.zeros((10, 2)), [[np.nan, 0]]]}, "state"),
    "inf_state": ({"state": np.r_[np.zeros((10, 2)), [[0, np.inf]]]}, "state"),
    "nan_actions": ({"actions": np.r_[np.zeros((9, 2)), [[np.nan, 0]]]}, "actions"),
    "nan_float_image": ({"image": np.full((11, 16, 16, 3), np.nan)}, "image"),
    "int_image_outside_0_255": ({"image": np.full((11, 16, 16, 3), 300, np.int32)}, "image"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_refused_at_import_before_any_paid_query(case, tmp_path, fake_server, capsys):
    import yaml

    root = tmp_path / "episodes"
    root.mkdir()
    rng = np.random.default_rng(0)
    good = {"image": rng.integers(0, 255, (11, 16, 16, 3), dtype=np.uint8), "state": np.zeros((11, 2)),
            "actions": rng.uniform(-1, 1, (10, 2))}
    arrays, key = BAD_DATA[case]
    np.savez(root / "ep0.npz", **good)
    np.savez(root / "ep1.npz", **{**good, **arrays})
    srv = fake_server()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bad", "run_dir": str(tmp_path / "runs"), "task": "make it bright",
        "stages": ["collect", "label", "reward"],
        "dataset": {"source": "episodes", "path": str(root), "observations": ["image", "state"],
                    "image_size": 16},
        "pairs": {"num_queries": 4, "min_gap": 1},
        "feedback": {"name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url, "image_size": 16}}))
    assert main(["fit", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "ep1.npz" in err and f"'{key}'" in err and "Traceback" not in err, err
    assert srv.log == []  # nothing was asked (nor paid for)
