"""Labeling with a chat backend: the dialogue of each query, run concurrently and durably.

Dialogue per query (two-stage, as in RL-VLM-F): stage 1 sends the goal text and the two frames
(Image 1, Image 2) and asks for an analysis; stage 2 sends the analysis alone and asks for one
line: 0 / 1 / -1 (:mod:`orlvlmf.feedback.prompts`, :mod:`orlvlmf.feedback.parsing`); with
``two_stage: false`` one call asks for both.  The analysis is committed to the store as soon as
it arrives (status ``stage1``), so an interrupted run only re-sends the stage-2 call; the label
is committed the moment it arrives.  Each call goes through :func:`.retry.call_with_retries`.

Scheduling: ``concurrency`` workers, each with at most one query in flight; a producer thread
reads and encodes the frames ahead of them; before a query starts, the :class:`.budget.Budget`
may stop the run.  A reporter updates the session row every ``SESSION_UPDATE_EVERY_S`` and logs
progress every ``PROGRESS_EVERY_S``.  The run aborts (:class:`LabelingAborted`) on a fatal
failure, or when the first ``max(5, 2 * concurrency)`` queries all failed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from typing import Callable

from orlvlmf.feedback.backends.base import LabelingAborted, PairSource, Query, Request
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.labeling.budget import Budget
from orlvlmf.feedback.labeling.records import LabelingStats, query_row
from orlvlmf.feedback.labeling.retry import GaveUp, Tried, call_with_retries
from orlvlmf.feedback.parsing import parse_label, parse_last_line
from orlvlmf.feedback.prompts import label_messages, vision_messages
from orlvlmf.feedback.store import LabelStore

PROGRESS_EVERY_S = 10.0
SESSION_UPDATE_EVERY_S = 2.0


def label_with_chat(backend, queries: list[Query], source: PairSource, store: LabelStore,
                    session_id: int, name: str, log: Callable[[str], None]) -> LabelingStats:
    """Ask ``backend`` every query (see the module docstring); raises LabelingAborted."""
    stats = LabelingStats(requested=len(queries))
    if not queries:
        return stats
    backend.open(source)
    run = _ChatRun(backend, queries, source, store, session_id, name, log, stats)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run.main())
    else:  # called from inside an event loop (a notebook): use a loop of our own
        t = threading.Thread(target=lambda: asyncio.run(run.main()))
        t.start()
        t.join()
    if run.fatal is not None:
        raise LabelingAborted(run.fatal)
    return stats


class _ChatRun:
    """State of one labeling invocation."""

    def __init__(self, backend, queries: list[Query], source: PairSource, store: LabelStore,
                 session_id: int, name: str, log: Callable[[str], None], stats: LabelingStats):
        self.backend, self.cfg = backend, backend.cfg
        self.queries, self.source, self.store = queries, source, store
        self.session_id, self.name, self.log, self.stats = session_id, name, log, stats
        self.budget = Budget(self.cfg.max_queries, self.cfg.max_cost_usd)
        self.stop_reason: str | None = None
        self.fatal: str | None = None
        self.in_flight = 0
        self.costed = 0  # answered queries with a known cost
        self.errors: Counter = Counter()
        self.rng = random.Random(0)  # backoff jitter

    # -- one query ----------------------------------------------------------------------------
    def _prepare(self, q: Query) -> tuple[Query, str | None, str | None]:
        if q.stage1_text is not None and self.cfg.two_stage:
            return q, None, None  # the analysis is stored: only the label call is due
        a, b = self.source.images(q.idx0, q.idx1)
        size = self.cfg.image_size
        return q, png_data_url(encode_png(a, size)), png_data_url(encode_png(b, size))

    async def _call(self, q: Query, step: str, messages: list[dict]) -> Tried:
        return await call_with_retries(self.backend.complete, Request(q, step, messages), self.cfg,
                                       stats=self.stats, errors=self.errors, rng=self.rng,
                                       aborted=lambda: self.fatal is not None)

    async def _answer(self, q: Query, url0: str | None, url1: str | None) -> None:
        c, s, task = self.cfg, self.stats, self.source.task
        t0 = time.perf_counter()
        base = query_row(q, self.source, self.name, self.backend.model, c.prompt_version, self.session_id)
        acc = {"calls": q.prior.get("calls") or 0, "retries": q.prior.get("retries") or 0,
               "prompt_tokens": q.prior.get("prompt_tokens") or 0,
               "completion_tokens": q.prior.get("completion_tokens") or 0,
               "cost_usd": q.prior.get("cost_usd")}
        costs: list[float] = []  # costs known in this run

        def add(t: Tried) -> str:
            acc["calls"] += t.calls
            acc["retries"] += t.retries
            acc["prompt_tokens"] += t.reply.prompt_tokens
            acc["completion_tokens"] += t.reply.completion_tokens
            if t.reply.cost_usd is not None:
                acc["cost_usd"] = (acc["cost_usd"] or 0.0) + t.reply.cost_usd
                s.cost_usd += t.reply.cost_usd
                costs.append(t.reply.cost_usd)
            return t.reply.text

        stage1 = q.stage1_text
        try:
            if c.two_stage:
                if stage1 is None:
                    stage1 = add(await self._call(q, "vision", vision_messages(task, url0, url1,
                                                                               c.prompt_version)))
                    self.store.put({**base, **acc, "status": "stage1", "stage1_text": stage1,
                                    "error": None})
                stage2 = add(await self._call(q, "label", label_messages(task, stage1, c.prompt_version)))
                label, clean = parse_label(stage2)
            else:
                stage1 = add(await self._call(q, "single", vision_messages(task, url0, url1,
                                                                           c.prompt_version, single=True)))
                stage2 = None
                label, clean = parse_last_line(stage1)
        except GaveUp as err:
            if err.fatal:
                raise
            acc["calls"] += err.calls
            acc["retries"] += err.retries
            s.failed += 1
            if s.answered == 0 and s.failed >= max(5, 2 * c.concurrency) and self.fatal is None:
                self.fatal = (f"the first {s.failed} queries all failed (last error: {err}); "
                              f"stopping instead of failing every query. Check feedback.model, "
                              f"feedback.api_base and the endpoint")
            self.store.put({**base, **acc, "status": "failed", "stage1_text": stage1,
                            "error": str(err), "latency_s": time.perf_counter() - t0})
            return
        s.answered += 1
        if costs:
            self.costed += 1
        self.store.put({**base, **acc, "status": "answered", "stage1_text": stage1,
                        "stage2_text": stage2, "label": label, "clean": int(clean), "error": None,
                        "latency_s": time.perf_counter() - t0})

    # -- scheduling ---------------------------------------------------------------------------
    async def main(self) -> None:
        c, s = self.cfg, self.stats
        t_start = time.perf_counter()
        ready: asyncio.Queue = asyncio.Queue(maxsize=2 * c.concurrency)
        done = asyncio.Event()

        async def producer() -> None:
            try:
                for q in self.queries:
                    if self.stop_reason or self.fatal:
                        break
                    await ready.put(await asyncio.to_thread(self._prepare, q))
            finally:
                for _ in range(c.concurrency):
                    await ready.put(None)

        async def worker() -> None:
            while True:
                item = await ready.get()
                if item is None:
                    return
                if self.stop_reason or self.fatal:
                    continue
                reason = self.budget.stop_reason(s.sent, s.cost_usd, self.costed, self.in_flight)
                if reason:
                    self.stop_reason = reason
                    continue
                self.in_flight += 1
                s.sent += 1
                try:
                    await self._answer(*item)
                except GaveUp as err:  # fatal: no query can succeed
                    self.fatal = str(err)
                finally:
                    self.in_flight -= 1

        async def reporter() -> None:
            last_log = time.perf_counter()
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), SESSION_UPDATE_EVERY_S)
                except asyncio.TimeoutError:
                    pass
                s.seconds = time.perf_counter() - t_start
                self.store.update_session(self.session_id, **s.session_fields())
                if time.perf_counter() - last_log >= PROGRESS_EVERY_S and not done.is_set():
                    last_log = time.perf_counter()
                    self.log(f"labeled {s.answered}/{s.requested} ({s.answered / s.seconds:.2f} "
                             f"queries/s, {s.retries} retries, {s.failed} failed, ${s.cost_usd:.4f}"
                             f"{_eta(s.requested - s.answered - s.failed, s.answered + s.failed, s.seconds)})")

        rep = asyncio.create_task(reporter())
        try:
            await asyncio.gather(producer(), *[worker() for _ in range(c.concurrency)])
        finally:
            done.set()
            await rep
        s.seconds = time.perf_counter() - t_start
        s.errors = dict(self.errors)
        if self.fatal:
            s.stop_reason = "aborted: " + self.fatal
        elif self.stop_reason:
            s.stop_reason = self.stop_reason


def _eta(left: int, done: int, seconds: float) -> str:
    """", ETA 3 min 20 s" at the rate so far ('' before the first answer)."""
    if done <= 0 or left <= 0 or seconds <= 0:
        return ""
    eta = left * seconds / done
    return f", ETA {int(eta // 60)} min {int(eta % 60)} s" if eta >= 60 else f", ETA {eta:.0f} s"
