"""The litellm backend driven through the real litellm path against the fake server."""

import numpy as np
import pytest

from feedback_helpers import rule_labels, run_vlm
from orlvlmf.feedback.backends.base import LabelingAborted
from orlvlmf.feedback.backends.vlm import classify, redact
from orlvlmf.feedback.store import LabelStore
from orlvlmf.feedback.summary import format_summary, summarize_store


def test_two_stage_labels_follow_the_images_and_rerun_sends_nothing(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=24)
    assert res.answered.all()
    assert np.array_equal(res.label, rule_labels(bar_dataset, res.idx0, res.idx1))
    assert len(srv.records("vision")) == 24 and len(srv.records("text")) == 24
    with LabelStore(tmp_path / "s.sqlite") as s:
        rows = list(s.lookup(res.query_keys).values())
    assert all(r["stage1_text"].startswith("Image 1: red bar") for r in rows)
    assert all(r["prompt_tokens"] > 0 and r["calls"] == 2 for r in rows)
    again = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=24)
    assert again.cached == 24 and again.stats.sent == 0 and len(srv.log) == 48
    assert np.array_equal(again.label, res.label)
    # another prompt version or model is another query: nothing is reused
    other = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=4, two_stage=False)
    assert other.cached == 0 and len(srv.log) == 52
    assert np.array_equal(other.label, rule_labels(bar_dataset, other.idx0, other.idx1))


def test_resumed_query_with_stored_analysis_sends_only_the_label_call(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=6)
    with LabelStore(tmp_path / "s.sqlite") as s:  # pretend a crash hit after stage 1 of two queries
        s.conn.execute("UPDATE queries SET status='stage1', label=NULL WHERE query_key IN (?, ?)",
                       res.query_keys[:2])
    n0 = len(srv.log)
    again = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=6)
    new = srv.log[n0:]
    assert [r["kind"] for r in new] == ["text", "text"]
    assert np.array_equal(again.label, res.label)


def test_budget_max_queries_stops_cleanly(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=20, max_queries=7, concurrency=3)
    assert res.stats.stop_reason == "budget: max_queries=7 reached"
    assert res.answered.sum() == 7 and len(srv.records("vision")) == 7
    s = summarize_store(tmp_path / "s.sqlite")
    assert s["last_session"]["stop_reason"].startswith("budget")
    assert "stop: budget" in format_summary(s)


def test_budget_max_cost_uses_litellm_cost_accounting(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    # fake usage: ~50-60 prompt + ~30 completion tokens per call, 2 calls per query
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=40, concurrency=2, max_cost_usd=0.002,
                  input_usd_per_mtok=100.0, output_usd_per_mtok=100.0)
    assert res.stats.stop_reason.startswith("budget: max_cost_usd=0.002")
    assert 0 < res.answered.sum() < 40
    assert res.stats.cost_usd <= 0.002 + 2 * res.stats.cost_usd / res.answered.sum()
    with LabelStore(tmp_path / "s.sqlite") as s:
        stored = sum(r["cost_usd"] for r in s.rows())
    assert stored == pytest.approx(res.stats.cost_usd)


def test_unknown_price_with_a_cost_cap_is_refused_before_any_call(bar_dataset, tmp_path, fake_server):
    srv = fake_server()
    with pytest.raises(LabelingAborted, match="input_usd_per_mtok"):
        run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=3, max_cost_usd=1.0)
    assert srv.log == []


def test_missing_key_variable_and_rejected_key_are_clear(bar_dataset, tmp_path, fake_server, monkeypatch):
    srv = fake_server(api_key="sk-right-key-123456")
    monkeypatch.delenv("ORLVLMF_TEST_MISSING", raising=False)
    with pytest.raises(LabelingAborted, match="ORLVLMF_TEST_MISSING .*not set"):
        run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=3, api_key_env="ORLVLMF_TEST_MISSING")
    monkeypatch.setenv("ORLVLMF_TEST_WRONG", "sk-wrong-key-654321")
    with pytest.raises(LabelingAborted, match="refused") as err:
        run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12, api_key_env="ORLVLMF_TEST_WRONG")
    assert "sk-wrong-key-654321" not in str(err.value)
    assert len(srv.log) <= 4  # aborted at once, not retried per query


def test_error_classes_and_redaction():
    class E(Exception):
        def __init__(self, status):
            self.status_code = status

    assert classify(E(429)) == ("rate_limit", True)
    assert classify(E(503)) == ("http_503", True)
    assert classify(E(400)) == ("http_400", False)
    assert classify(E(401))[0] == "fatal"
    assert redact("bad key sk-abcdef1234567 and my-secret-value", "my-secret-value") == "bad key sk-*** and ***"
    key = "Q7wX2mZ9kL4pT8vR"  # any 6 characters of the key in a row are masked, wherever they are
    assert redact(f"cut: {key[:14]} | tail {key[9:]} | mid {key[3:9]}!", key) == "cut: *** | tail *** | mid ***!"
    assert redact(f"ok {key[:5]} {key[-5:]}", key) == f"ok {key[:5]} {key[-5:]}"  # 5 are not the key


def test_bad_options_are_clear():
    from orlvlmf.feedback.backends import make_backend

    with pytest.raises(TypeError, match="bogus"):
        make_backend({"name": "litellm", "bogus": 1})
    with pytest.raises(ValueError, match="'feedback.concurrency' must be >= 1"):
        make_backend({"name": "litellm", "concurrency": 0})
    with pytest.raises(ValueError, match="set both"):
        make_backend({"name": "litellm", "input_usd_per_mtok": 1.0})


def test_labeling_from_inside_a_running_event_loop(bar_dataset, tmp_path, fake_server):
    import asyncio

    srv = fake_server()

    async def notebook_cell():
        return run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=4)

    res = asyncio.run(notebook_cell())
    assert res.answered.all()
    assert np.array_equal(res.label, rule_labels(bar_dataset, res.idx0, res.idx1))


def test_progress_lines_carry_an_eta(bar_dataset, tmp_path, fake_server, monkeypatch):
    import re

    from feedback_helpers import TASK, vlm_options
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends import make_backend
    from orlvlmf.feedback.backends.base import PairSource
    from orlvlmf.feedback.labeling import chat, label_pairs
    from orlvlmf.feedback.sampling import sample_pairs

    monkeypatch.setattr(chat, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(chat, "SESSION_UPDATE_EVERY_S", 0.05)
    srv = fake_server(latency_s=0.05)
    ds = OfflineDataset.open(bar_dataset)
    lines: list[str] = []
    with LabelStore(tmp_path / "s.sqlite") as store:
        label_pairs(sample_pairs(ds, 12, min_gap=2, seed=0), PairSource(ds.without_ground_truth(), "image", TASK),
                    make_backend(vlm_options(srv, concurrency=1)), store, log=lines.append)
    assert any(re.search(r"^labeled \d+/12 .*, ETA \d+ s\)$", line) for line in lines), lines
    assert chat._eta(0, 5, 10.0) == "" and chat._eta(10, 0, 10.0) == ""
    assert chat._eta(30, 10, 40.0) == ", ETA 2 min 0 s" and chat._eta(5, 10, 4.0) == ", ETA 2 s"


# -- issue 12, item 7: the endpoint's address is not part of a query's identity ------------------
def test_another_address_of_the_same_endpoint_reuses_every_stored_answer(bar_dataset, tmp_path, fake_server):
    """The reported case: api_base 127.0.0.1 -> localhost re-asked all 150 stored queries."""
    srv = fake_server()
    first = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12)
    sent = len(srv.log)
    again = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12,
                    api_base=srv.url.replace("127.0.0.1", "localhost"))
    assert again.cached == 12 and len(srv.log) == sent
    assert np.array_equal(again.label, first.label)
    other_model = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=2, model="openai/other-vlm")
    assert other_model.cached == 0 and len(srv.log) == sent + 4  # the model name is the identity


def test_a_store_keyed_with_the_address_keeps_its_answers(bar_dataset, tmp_path, fake_server, monkeypatch):
    """Stores written before the change hold keys that hashed ``api_base``: they are moved."""
    from orlvlmf.feedback.backends.vlm import LiteLLMBackend

    srv = fake_server()
    new_identity = LiteLLMBackend.identity
    monkeypatch.setattr(LiteLLMBackend, "identity",  # what the older version hashed
                        lambda self: {**new_identity(self), "api_base": self.cfg.api_base})
    old = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12)
    monkeypatch.setattr(LiteLLMBackend, "identity", new_identity)
    sent = len(srv.log)
    now = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12)
    assert now.cached == 12 and len(srv.log) == sent and np.array_equal(now.label, old.label)
    with LabelStore(tmp_path / "s.sqlite") as s:
        assert set(r["query_key"] for r in s.rows()) == set(now.query_keys)  # moved, not copied
    later = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=12,
                    api_base=srv.url.replace("127.0.0.1", "localhost"))
    assert later.cached == 12 and len(srv.log) == sent
