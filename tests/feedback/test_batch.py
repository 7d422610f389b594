"""feedback.batch: labeling through the batch API of the fake server (files + batches endpoints):
answers, batch ids in the store, batch prices, failures, budget, and a kill -9 while a batch is in
progress resumed by polling the same batch instead of submitting again."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from feedback_helpers import TASK, kill_9_when, make_bar_dataset, rule_labels, run_vlm, start_worker, vlm_options
from orlvlmf.feedback.backends import make_backend
from orlvlmf.feedback.store import LabelStore

WORKER = Path(__file__).with_name("label_worker.py")
BATCH = {"batch": True, "batch_poll_s": 0.05}


def test_two_stage_batches_answer_every_query_at_batch_prices(bar_dataset, tmp_path, fake_server):
    srv = fake_server(batch_steps=2)
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12, input_usd_per_mtok=1.0,
                  output_usd_per_mtok=4.0, **BATCH)
    assert res.answered.all() and res.stats.answered == 12 and res.stats.failed == 0
    assert np.array_equal(res.label, rule_labels(bar_dataset, res.idx0, res.idx1))
    assert {r["via"] for r in srv.records()} == {"batch"} and len(srv.records("batch_create")) == 2
    assert len(srv.records("vision")) == 12 and len(srv.records("text")) == 12
    with LabelStore(tmp_path / "s.sqlite") as store:
        batches = store.batches()
        rows = store.rows()
        snap = store.snapshot(tmp_path / "snap.sqlite", keys=[r["query_key"] for r in rows])
    assert [(b["step"], b["status"], b["provider_status"], b["requests"]) for b in batches] == [
        ("vision", "done", "completed", 12), ("label", "done", "completed", 12)]
    assert {b["batch_id"] for b in batches} == set(srv.batch.batches)  # the provider's ids, recorded
    assert all(r["calls"] == 2 and r["cost_usd"] == pytest.approx(
        (r["prompt_tokens"] * 1.0 + r["completion_tokens"] * 4.0) / 1e6) for r in rows)
    assert res.stats.cost_usd == pytest.approx(sum(r["cost_usd"] for r in rows))
    with LabelStore(snap, readonly=True) as s:
        assert len(s.batches()) == 2
    again = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12, **BATCH)
    assert again.cached == 12 and len(srv.records("batch_create")) == 2  # nothing submitted again


def test_single_call_batch_failures_are_asked_again_by_the_next_run(bar_dataset, tmp_path, fake_server):
    srv = fake_server(batch_fault_rate=0.5, seed=3)
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=16, two_stage=False, **BATCH)
    failed = int((~res.answered).sum())
    assert 0 < failed < 16 and res.stats.failed == failed and res.stats.errors == {"batch_request": failed}
    with LabelStore(tmp_path / "s.sqlite") as store:
        errors = [r["error"] for r in store.rows("status='failed'")]
    assert len(errors) == failed and all("status 500" in e for e in errors)
    srv.batch.fault_rate = 0.0
    again = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=16, two_stage=False, **BATCH)
    assert again.answered.all() and again.stats.sent == failed
    second = srv.batch.batches[sorted(srv.batch.batches)[-1]]
    assert second["object"]["request_counts"]["total"] == failed
    assert np.array_equal(again.label, rule_labels(bar_dataset, again.idx0, again.idx1))


def test_budget_admits_queries_before_the_batch_and_bad_models_are_refused(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=10, max_queries=4, **BATCH)
    assert int(res.answered.sum()) == 4 and res.stats.stop_reason == "budget: max_queries=4 reached"
    assert srv.batch.batches[sorted(srv.batch.batches)[0]]["object"]["request_counts"]["total"] == 4
    cheap = run_vlm(bar_dataset, tmp_path / "c.sqlite", srv, n=10, max_cost_usd=1e-9,
                    input_usd_per_mtok=1.0, output_usd_per_mtok=1.0, **BATCH)
    assert int(cheap.answered.sum()) <= 1 and cheap.stats.stop_reason.startswith("budget: max_cost_usd")
    with pytest.raises(ValueError, match="batch API reaches OpenAI, Azure and OpenAI-compatible"):
        make_backend({"name": "litellm", "model": "gemini/gemini-2.0-flash", "batch": True})
    assert make_backend(vlm_options(srv, model="hosted_vllm/qwen", batch=True)).cfg.batch


def test_a_batch_created_by_a_run_killed_before_recording_its_id_is_found_by_tag(bar_dataset, tmp_path,
                                                                                  fake_server):
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends.base import PairSource, Query
    from orlvlmf.feedback.labeling import label_pairs, query_key
    from orlvlmf.feedback.sampling import sample_pairs

    srv = fake_server()
    ds = OfflineDataset.open(bar_dataset)
    pairs = sample_pairs(ds, 6, min_gap=2)
    backend = make_backend(vlm_options(srv, two_stage=False, **BATCH))
    source = PairSource(ds.without_ground_truth(), "image", TASK)
    backend.open(source)
    keys = [query_key(pk, backend.identity(), TASK) for pk in pairs.pair_keys]
    from orlvlmf.feedback.labeling.batch import _BatchRun
    from orlvlmf.feedback.labeling.records import LabelingStats

    with LabelStore(tmp_path / "s.sqlite") as store:
        run = _BatchRun(backend, source, store, 0, "litellm", lambda m: None, LabelingStats())
        queries = [Query(k, pk, a, b) for k, pk, a, b in zip(keys, pairs.pair_keys, pairs.idx0.tolist(),
                                                              pairs.idx1.tolist())]
        lines = [line for part in run._chunks(queries, "single") for _, line in part]
        store.put_batch("orlvlmf-lost", step="single", backend="litellm", model=backend.model,
                        status="submitting", requests=6, query_keys=keys, session_id=0)
        backend.submit_batch(lines, "orlvlmf-lost")  # created; the id never reached the store
        logs = []
        res = label_pairs(pairs, source, make_backend(vlm_options(srv, two_stage=False, **BATCH)), store,
                          log=logs.append)
        assert res.answered.all() and len(srv.records("batch_create")) == 1
        assert any("resuming single batch orlvlmf-lost" in m for m in logs)
        (row,) = store.batches()
        assert row["batch_id"] in srv.batch.batches and row["status"] == "done"


def test_kill_9_while_a_batch_is_in_progress_then_restart_polls_the_same_batch(tmp_path, fake_server):
    ds_path = make_bar_dataset(tmp_path / "d.h5", episodes=4, steps=30)
    store = tmp_path / "store.sqlite"
    srv = fake_server(batch_steps=2)
    srv.batch.hold = True
    proc, cmd, env = start_worker(WORKER, ds_path, store, srv.url, 10, 2, json.dumps(BATCH))
    kill_9_when(proc, lambda: len(srv.records("batch_retrieve")) >= 5)  # polled while held in progress
    with LabelStore(store, readonly=True) as s:
        (row,) = s.batches()
    assert row["status"] == "submitted" and row["step"] == "vision" and row["batch_id"] in srv.batch.batches
    assert len(srv.records("batch_create")) == 1 and not srv.records("vision")

    srv.batch.hold = False
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DONE answered=10 failed=0" in out.stdout
    assert f"resuming vision batch {row['batch_id']} (10 due queries)" in out.stdout
    assert "in_progress, " in out.stdout and "completed, 10/10 done" in out.stdout  # progress logged
    creates = srv.records("batch_create")
    assert len(creates) == 2 and creates[0]["ref"] == row["batch_id"]  # the vision batch, then the label one
    assert len(srv.records("vision")) == 10  # every image request answered once
