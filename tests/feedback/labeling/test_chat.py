"""Labeling's chat path with a backend that is not litellm: the orchestration (two-stage
bookkeeping, retries, budget, sessions, store) is the backend's for free — a backend only turns a
request into a reply and a cost."""

import numpy as np
import pytest

from feedback_helpers import TASK
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends.base import CallFailed, LabelingAborted, PairSource, Reply
from orlvlmf.feedback.config import ChatConfig
from orlvlmf.feedback.labeling import label_pairs
from orlvlmf.feedback.sampling import sample_pairs
from orlvlmf.feedback.store import LabelStore
from orlvlmf.feedback.summary import summarize_store


class EchoChat:
    """Answers 'the frame of the earlier transition' in two stages; fails as told."""

    needs_ground_truth = False
    model = "echo-1"

    def __init__(self, fail: dict | None = None, **cfg):
        self.cfg = ChatConfig(**{"concurrency": 3, "backoff_s": 0.0, **cfg})
        self.fail = dict(fail or {})  # step -> [CallFailed, ...] raised before answering
        self.calls: list[tuple[str, str]] = []
        self.opened = False

    def identity(self) -> dict:
        return {"backend": "echo", "two_stage": self.cfg.two_stage}

    def open(self, source: PairSource) -> None:
        self.opened = True

    async def complete(self, request) -> Reply:
        q = request.query
        self.calls.append((q.query_key, request.step))
        if self.fail.get(request.step):
            raise self.fail[request.step].pop(0)
        if request.step == "vision":
            parts = request.messages[-1]["content"]
            assert sum(p["type"] == "image_url" for p in parts) == 2  # the two frames were sent
            return Reply(f"analysis of {q.idx0} and {q.idx1}", 10, 5, 0.001)
        if request.step == "label":  # stage 2 gets the stored analysis, not the frames
            assert f"analysis of {q.idx0} and {q.idx1}" in str(request.messages)
        return Reply("0" if q.idx0 < q.idx1 else "1", 3, 1, 0.0005)


def run(dataset, store_path, backend, n=12):
    ds = OfflineDataset.open(dataset)
    pairs = sample_pairs(ds, n, min_gap=2, seed=0)
    with LabelStore(store_path) as store:
        return label_pairs(pairs, PairSource(ds.without_ground_truth(), "image", TASK), backend, store,
                           log=lambda m: None)


def expected(res):
    return np.where(res.idx0 < res.idx1, 0, 1)


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
