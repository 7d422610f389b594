"""Budget caps (issue 12, item 7): the estimate comes from finished queries only, and the caps are
cumulative over the store (what it recorded as spent) unless ``budget_scope: invocation``."""

import asyncio

import pytest

from chat_backends import EchoChat, run
from orlvlmf.feedback.labeling.budget import Budget

PER_QUERY = 0.0015  # EchoChat: 0.001 for the analysis + 0.0005 for the label


class SlowChat(EchoChat):
    """EchoChat whose calls take a moment, so that ``concurrency`` queries are in flight at once."""

    async def complete(self, request):
        await asyncio.sleep(0.02)
        return await super().complete(request)


def test_at_concurrency_8_a_cap_is_used_up_not_stopped_at_a_third(bar_dataset, tmp_path):
    """The reported case: $0.10 at concurrency 8 stopped at $0.032, the estimate dividing all
    spending (in-flight analyses included) by the finished queries."""
    cap = 0.03
    res = run(bar_dataset, tmp_path / "s.sqlite", SlowChat(concurrency=8, max_cost_usd=cap), n=40)
    assert res.stats.stop_reason.startswith("budget: max_cost_usd")
    assert cap - 2 * PER_QUERY <= res.stats.cost_usd <= cap + 1e-12
    assert f"about ${PER_QUERY:.4f} per query" in res.stats.stop_reason


def test_caps_are_cumulative_over_the_store(bar_dataset, tmp_path):
    """A retry loop (`label` again and again with the same cap) must not spend without limit."""
    store = tmp_path / "s.sqlite"
    first = run(bar_dataset, store, SlowChat(concurrency=2, max_cost_usd=0.01), n=20)
    assert first.stats.cost_usd == pytest.approx(6 * PER_QUERY)  # a 7th would pass the cap
    again = SlowChat(concurrency=2, max_cost_usd=0.01)
    res = run(bar_dataset, store, again, n=20)
    assert again.calls == [] and res.stats.stop_reason.startswith("budget: max_cost_usd")
    assert "spent $0.0090 in this store" in res.stats.stop_reason
    raised = SlowChat(concurrency=2, max_cost_usd=0.0151)  # raising the cap buys what it adds
    res = run(bar_dataset, store, raised, n=20)
    assert 0.0151 - 2 * PER_QUERY <= first.stats.cost_usd + res.stats.cost_usd <= 0.0151
    per_run = SlowChat(concurrency=2, max_cost_usd=0.003, budget_scope="invocation")
    res = run(bar_dataset, store, per_run, n=20)
    assert len({k for k, _ in per_run.calls}) == 2  # the old per-invocation cap, when asked for


def test_max_queries_is_cumulative_too(bar_dataset, tmp_path):
    store = tmp_path / "s.sqlite"
    assert run(bar_dataset, store, EchoChat(max_queries=5)).answered.sum() == 5
    again = EchoChat(max_queries=5)
    assert run(bar_dataset, store, again).answered.sum() == 5 and again.calls == []
    more = EchoChat(max_queries=8)
    assert run(bar_dataset, store, more).answered.sum() == 8 and len(more.calls) == 6


def test_estimate_uses_finished_queries_only():
    b = Budget(max_cost_usd=1.0)
    # 4 in flight whose analyses cost 0.01 each; one finished query cost 0.02 in all
    assert b.estimate(finished_usd=0.02, finished=1) == pytest.approx(0.02)
    go = b.stop_reason(asked=5, spent_usd=0.06, in_flight=4, in_flight_usd=0.04, est=0.02)
    assert go is None  # projected 0.06 + (4 * 0.02 - 0.04) + 0.02 = 0.12 <= 1
    stop = b.stop_reason(asked=5, spent_usd=0.95, in_flight=4, in_flight_usd=0.04, est=0.02)
    assert stop.startswith("budget: max_cost_usd=1 reached") and "about $0.0200 per query" in stop


def test_no_second_query_starts_before_the_first_one_prices_a_query():
    b = Budget(max_cost_usd=0.01)
    assert b.stop_reason(asked=0, spent_usd=0.0, in_flight=0, in_flight_usd=0.0, est=None) is None
    assert b.stop_reason(asked=1, spent_usd=0.0, in_flight=1, in_flight_usd=0.0, est=None) == Budget.WAIT
