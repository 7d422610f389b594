"""Labeling's chat path with a backend that is not litellm: the orchestration (two-stage
bookkeeping, retries, budget, sessions, store) is the backend's for free — a backend only turns a
request into a reply and a cost."""

import numpy as np
import pytest

from chat_backends import EchoChat, expected, run
from orlvlmf.feedback.backends.base import CallFailed, LabelingAborted, Reply
from orlvlmf.feedback.store import LabelStore
from orlvlmf.feedback.summary import summarize_store


def test_two_stage_dialogue_store_rows_and_costs(bar_dataset, tmp_path):
    backend = EchoChat()
    res = run(bar_dataset, tmp_path / "s.sqlite", backend)
    assert backend.opened and res.answered.all() and np.array_equal(res.label, expected(res))
    steps = {}
    for key, step in backend.calls:
        steps.setdefault(key, []).append(step)
    assert all(s == ["vision", "label"] for s in steps.values())
    assert res.stats.calls == 24 and res.stats.cost_usd == pytest.approx(12 * 0.0015)
    with LabelStore(tmp_path / "s.sqlite") as s:
        rows = list(s.lookup(res.query_keys).values())
    assert all(r["backend"] == "echo" and r["model"] == "echo-1" and r["calls"] == 2 for r in rows)
    assert all(r["prompt_tokens"] == 13 and r["cost_usd"] == pytest.approx(0.0015) for r in rows)
    again = EchoChat()
    assert run(bar_dataset, tmp_path / "s.sqlite", again).cached == 12 and again.calls == []


def test_retryable_failures_are_retried_and_counted_others_fail_the_query(bar_dataset, tmp_path):
    busy = [CallFailed("busy", "rate_limit", retryable=True, retry_after=0.0) for _ in range(3)]
    bad = [CallFailed("bad request", "http_400", retryable=False)]
    backend = EchoChat(fail={"vision": busy + bad})
    res = run(bar_dataset, tmp_path / "s.sqlite", backend)
    assert res.stats.retries == 3 and res.stats.errors == {"rate_limit": 3, "http_400": 1}
    assert res.stats.failed == 1 and res.answered.sum() == 11
    assert np.array_equal(res.label[res.answered], expected(res)[res.answered])
    rerun = EchoChat()  # the failed query is asked again, nothing else
    assert run(bar_dataset, tmp_path / "s.sqlite", rerun).answered.all() and len(rerun.calls) == 2


def test_a_fatal_failure_aborts_the_run_and_a_budget_stops_it(bar_dataset, tmp_path):
    refused = EchoChat(fail={"vision": [CallFailed("refused: check the key", "fatal", False, fatal=True)]})
    with pytest.raises(LabelingAborted, match="refused: check the key"):
        run(bar_dataset, tmp_path / "a.sqlite", refused)
    assert summarize_store(tmp_path / "a.sqlite")["last_session"]["stop_reason"].startswith("aborted")
    capped = EchoChat(max_queries=5)
    res = run(bar_dataset, tmp_path / "b.sqlite", capped)
    assert res.stats.stop_reason == "budget: max_queries=5 reached" and res.answered.sum() == 5


def test_single_call_mode_and_a_resumed_analysis(bar_dataset, tmp_path):
    single = EchoChat(two_stage=False)
    res = run(bar_dataset, tmp_path / "s.sqlite", single)
    assert {step for _, step in single.calls} == {"single"} and np.array_equal(res.label, expected(res))
    two = EchoChat()
    first = run(bar_dataset, tmp_path / "t.sqlite", two, n=4)
    with LabelStore(tmp_path / "t.sqlite") as s:  # a crash after stage 1 of one query
        s.conn.execute("UPDATE queries SET status='stage1', label=NULL WHERE query_key=?",
                       (first.query_keys[0],))
    resumed = EchoChat()
    run(bar_dataset, tmp_path / "t.sqlite", resumed, n=4)
    assert resumed.calls == [(first.query_keys[0], "label")]


# -- issue 12, item 3: an empty reply is a failure, never a final "-1" ---------------------------
def test_empty_replies_are_retried_failures_never_answers(bar_dataset, tmp_path):
    empty = [Reply("", 10, 0, 0.001), Reply("  \n", 10, 0, 0.001)]
    backend = EchoChat(fail={}, max_retries=3)
    backend.empty = {"vision": list(empty), "label": [Reply("", 3, 0, 0.0005)]}
    res = run(bar_dataset, tmp_path / "s.sqlite", backend)
    assert res.answered.all() and np.array_equal(res.label, expected(res))  # retried, then right
    assert res.stats.errors == {"empty_reply": 3} and res.stats.retries == 3
    assert res.stats.cost_usd == pytest.approx(12 * 0.0015 + 2 * 0.001 + 0.0005)  # empty ones were paid
    with LabelStore(tmp_path / "s.sqlite") as s:
        rows = s.rows()
    assert all(r["stage1_text"].strip() and r["stage2_text"].strip() for r in rows)
    # stage 2 is never asked about an empty analysis
    assert all("analysis of" in str(m) for step, m in backend.label_messages)


def test_a_query_whose_replies_stay_empty_is_stored_failed_and_asked_again(bar_dataset, tmp_path):
    backend = EchoChat(max_retries=1, concurrency=1)
    backend.empty = {"label": [Reply("", 3, 0, 0.0) for _ in range(2)]}  # one query: stage 2 empty twice
    res = run(bar_dataset, tmp_path / "s.sqlite", backend)
    assert res.stats.failed == 1 and res.answered.sum() == 11 and res.stats.errors == {"empty_reply": 2}
    s = summarize_store(tmp_path / "s.sqlite")
    assert s["failed"] == 1 and s["minus1"] == 0  # counted apart from genuine -1 answers
    rerun = EchoChat()
    again = run(bar_dataset, tmp_path / "s.sqlite", rerun)
    assert again.answered.all() and [step for _, step in rerun.calls] == ["label"]  # analysis kept


def test_empty_answers_an_older_orlvlmf_stored_are_asked_again(bar_dataset, tmp_path):
    first = run(bar_dataset, tmp_path / "s.sqlite", EchoChat(), n=4)
    with LabelStore(tmp_path / "s.sqlite") as s:  # what the old code kept: answered -1, empty text
        s.conn.execute("UPDATE queries SET label=-1, clean=0, stage2_text='' WHERE query_key=?",
                       (first.query_keys[0],))
        s.conn.execute("UPDATE queries SET label=-1, clean=0, stage1_text='', stage2_text='-1' "
                       "WHERE query_key=?", (first.query_keys[1],))
    rerun = EchoChat()
    res = run(bar_dataset, tmp_path / "s.sqlite", rerun, n=4)
    assert sorted(rerun.calls) == sorted([(first.query_keys[0], "label"), (first.query_keys[1], "vision"),
                                          (first.query_keys[1], "label")])
    assert np.array_equal(res.label, expected(res))


def test_empty_choices_from_an_openai_compatible_server_are_retried(bar_dataset, tmp_path, fake_server):
    from feedback_helpers import rule_labels, run_vlm

    srv = fake_server(fault_rate=0.3, faults=("empty",), seed=2)
    res = run_vlm(bar_dataset, tmp_path / "s.sqlite", srv, n=30, max_retries=6)
    n_empty = len(srv.records(fault="empty"))
    assert n_empty >= 5 and res.stats.errors == {"empty_reply": n_empty}
    assert res.answered.all() and np.array_equal(res.label, rule_labels(bar_dataset, res.idx0, res.idx1))
    assert not [r for r in srv.records(kind="text") if r["ref"] is None]  # no stage 2 on an empty analysis
