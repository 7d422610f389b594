"""Labeling with a chat backend: the dialogue of each query, run concurrently and durably.

Dialogue per query (two-stage, as in RL-VLM-F): stage 1 sends the goal text and the two frames
(Image 1, Image 2) and asks for an analysis; stage 2 sends the analysis alone and asks for one
line: 0 / 1 / -1 (:mod:`orlvlmf.feedback.prompts`, :mod:`orlvlmf.feedback.parsing`); with
``two_stage: false`` one call asks for both.  The analysis is committed to the store as soon as
it arrives (status ``stage1``), so an interrupted run only re-sends the stage-2 call; the label
is committed the moment it arrives.  Each call goes through :func:`.retry.call_with_retries`
(an empty reply is a failure there: never an answer, never an analysis stage 2 is asked about).

Scheduling: ``concurrency`` workers, each with at most one query in flight; a producer reads and
encodes the frames ahead of them.  Before a query starts, the :class:`.budget.Budget` may stop
the run (or make it wait for a first price), and the query is claimed in the store
(:meth:`LabelStore.claim`): a query another process has in flight is put aside and taken up
after the others — by then answered there (reused, not sent) or free again.  A reporter updates
the session row, renews the claims every ``SESSION_UPDATE_EVERY_S`` and logs progress every
``PROGRESS_EVERY_S``.

Stopping: a fatal failure, or the first ``max(5, 2 * concurrency)`` queries all failing, aborts
the run (:class:`LabelingAborted`) once the queries in flight are done.  A store that cannot be
written (a full disk) aborts it at once: calls in flight are cancelled, and the error says how
many replies came back, how many were stored and how many were lost.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import threading
import time
from collections import Counter
from typing import Callable

from orlvlmf.feedback.backends.base import LabelingAborted, PairSource, Query, Request
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.labeling.budget import Budget
from orlvlmf.feedback.labeling.records import LabelingStats, query_row, resumed
from orlvlmf.feedback.labeling.retry import GaveUp, Tried, call_with_retries
from orlvlmf.feedback.parsing import parse_label, parse_last_line
from orlvlmf.feedback.prompts import label_messages, vision_messages
from orlvlmf.feedback.store import HOST, LabelStore, StoreError

PROGRESS_EVERY_S = 10.0
SESSION_UPDATE_EVERY_S = 2.0
CLAIM_LEASE_S = 60.0  # a claim outlives its holder by at most this (renewed every update)
CLAIM_POLL_S = 0.25  # how often a query another process has in flight is looked at again


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
    if run.store_error is not None:
        raise LabelingAborted(run.store_failure_message())
    if run.fatal is not None:
        raise LabelingAborted(run.fatal)
    return stats


class _StoreFailed(Exception):
    """A store write failed: the run stops at once."""


class _ChatRun:
    """State of one labeling invocation."""

    def __init__(self, backend, queries: list[Query], source: PairSource, store: LabelStore,
                 session_id: int, name: str, log: Callable[[str], None], stats: LabelingStats):
        self.backend, self.cfg = backend, backend.cfg
        self.queries, self.source, self.store = queries, source, store
        self.session_id, self.name, self.log, self.stats = session_id, name, log, stats
        self.budget = Budget.of(self.cfg, store)
        self.owner = f"{HOST}:{os.getpid()}:{session_id}"
        self.stop_reason: str | None = None
        self.fatal: str | None = None
        self.store_error: StoreError | None = None
        self.in_flight: dict[str, float] = {}  # query key -> USD it spent so far in this run
        self.asked_new = 0  # queries asked that the store had no row for (store-scope max_queries)
        self.finished_usd, self.finished = self._history()  # cost of finished queries: the estimate
        self.received = 0  # final answers that came back (paid)
        self.stored = 0  # of them, committed to the store
        self.analyses_lost = 0  # stage-1 analyses that came back but could not be stored
        self.cancelled = 0  # calls in flight cancelled when the store failed
        self.deferred: collections.deque = collections.deque()  # in flight in another process
        self.errors: Counter = Counter()
        self.rng = random.Random(0)  # backoff jitter

    def _history(self) -> tuple[float, int]:
        """(USD, count) of the store's finished queries of this model (the estimate's start)."""
        if self.cfg.max_cost_usd is None:
            return 0.0, 0
        return self.store.finished_costs(self.backend.model)

    @property
    def stopping(self) -> bool:
        return bool(self.stop_reason or self.fatal or self.store_error)

    def store_failure_message(self) -> str:
        lost = self.received - self.stored
        analyses = (f", and {self.analyses_lost} stage-1 analyses lost" if self.analyses_lost else "")
        cancelled = (f"; {self.cancelled} call(s) in flight were cancelled" if self.cancelled else "")
        return (f"{self.store_error} — {self.received} answers received: {self.stored} stored, "
                f"{lost} lost{analyses}{cancelled}")

    # -- one query ----------------------------------------------------------------------------
    def _prepare(self, q: Query) -> tuple[Query, str | None, str | None]:
        if q.stage1_text is not None and self.cfg.two_stage:
            return q, None, None  # the analysis is stored: only the label call is due
        a, b = self.source.images(q.idx0, q.idx1)
        size = self.cfg.image_size
        return q, png_data_url(encode_png(a, size)), png_data_url(encode_png(b, size))

    def _put(self, row: dict, release: bool = False) -> None:
        try:
            self.store.put(row, release=self.owner if release else None)
        except StoreError as err:
            self.store_error = err
            raise _StoreFailed() from None

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

        def pay(replies) -> None:
            for r in replies:
                acc["prompt_tokens"] += r.prompt_tokens
                acc["completion_tokens"] += r.completion_tokens
                if r.cost_usd is not None:
                    acc["cost_usd"] = (acc["cost_usd"] or 0.0) + r.cost_usd
                    s.cost_usd += r.cost_usd
                    self.in_flight[q.query_key] = self.in_flight.get(q.query_key, 0.0) + r.cost_usd

        def add(t: Tried) -> str:
            acc["calls"] += t.calls
            acc["retries"] += t.retries
            pay([*t.paid, t.reply])
            return t.reply.text

        def finished() -> None:
            if acc["cost_usd"] is not None:
                self.finished_usd += acc["cost_usd"]
                self.finished += 1

        stage1 = q.stage1_text
        try:
            if c.two_stage:
                if stage1 is None:
                    stage1 = add(await self._call(q, "vision", vision_messages(task, url0, url1,
                                                                               c.prompt_version)))
                    try:
                        self._put({**base, **acc, "status": "stage1", "stage1_text": stage1, "error": None})
                    except _StoreFailed:
                        self.analyses_lost += 1
                        raise
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
            pay(err.paid)
            s.failed += 1
            finished()
            if s.answered == 0 and s.failed >= max(5, 2 * c.concurrency) and self.fatal is None:
                self.fatal = (f"the first {s.failed} queries all failed (last error: {err}); "
                              f"stopping instead of failing every query. Check feedback.model, "
                              f"feedback.api_base and the endpoint")
            self._put({**base, **acc, "status": "failed", "stage1_text": stage1,
                       "error": str(err), "latency_s": time.perf_counter() - t0}, release=True)
            return
        finished()
        self.received += 1
        self._put({**base, **acc, "status": "answered", "stage1_text": stage1,
                   "stage2_text": stage2, "label": label, "clean": int(clean), "error": None,
                   "latency_s": time.perf_counter() - t0}, release=True)
        self.stored += 1
        s.answered += 1

    # -- starting a query -----------------------------------------------------------------------
    def _decision(self) -> str | None:
        s = self.stats
        asked = self.asked_new if self.budget.scope == "store" else s.sent
        return self.budget.stop_reason(asked, s.cost_usd, len(self.in_flight),
                                       sum(self.in_flight.values()),
                                       Budget.estimate(self.finished_usd, self.finished))

    async def _start(self, item: tuple) -> None:
        """Budget, claim, then ask (or put aside what another process has in flight)."""
        q = item[0]
        while not self.stopping:
            reason = self._decision()
            if reason != Budget.WAIT:
                break
            await asyncio.sleep(0.02)
        else:
            return
        if reason:
            self.stop_reason = reason
            return
        try:
            claim = self.store.claim(q.query_key, self.owner, CLAIM_LEASE_S)
        except StoreError as err:
            self.store_error = err
            raise _StoreFailed() from None
        if claim == "answered":  # another process stored it meanwhile
            self.stats.elsewhere += 1
            return
        if claim == "busy":
            self.deferred.append(item)
            return
        row = self.store.lookup([q.query_key]).get(q.query_key)
        if row is not None:  # the row as it is now (another process may have got further)
            stage1, prior = resumed(row)
            fresh = Query(q.query_key, q.pair_key, q.idx0, q.idx1, stage1, prior)
            if stage1 == q.stage1_text:
                item = (fresh, *item[1:])
            else:
                item = await asyncio.to_thread(self._prepare, fresh)
            q = fresh
        if not q.prior:
            self.asked_new += 1
        self.in_flight[q.query_key] = 0.0
        self.stats.sent += 1
        try:
            await self._answer(*item)
        except GaveUp as err:  # fatal: no query can succeed
            self.fatal = str(err)
        finally:
            self.in_flight.pop(q.query_key, None)

    # -- scheduling ---------------------------------------------------------------------------
    async def main(self) -> None:
        c, s = self.cfg, self.stats
        t_start = time.perf_counter()
        ready: asyncio.Queue = asyncio.Queue(maxsize=2 * c.concurrency)
        done = asyncio.Event()
        abort = asyncio.Event()  # set when the store fails: stop everything now

        async def producer() -> None:
            for q in self.queries:
                if self.stopping:
                    break
                await ready.put(await asyncio.to_thread(self._prepare, q))
            for _ in range(c.concurrency):  # workers are alive to read these (they never block)
                await ready.put(None)

        async def worker() -> None:
            try:
                while (item := await ready.get()) is not None:
                    if not self.stopping:
                        await self._start(item)
                while self.deferred and not self.stopping:  # in flight in another process
                    item = self.deferred.popleft()
                    before = len(self.deferred)
                    await self._start(item)
                    if len(self.deferred) > before:  # still busy there: look again shortly
                        await asyncio.sleep(CLAIM_POLL_S)
            except _StoreFailed:
                abort.set()

        async def reporter() -> None:
            last_log = time.perf_counter()
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), SESSION_UPDATE_EVERY_S)
                except asyncio.TimeoutError:
                    pass
                s.seconds = time.perf_counter() - t_start
                try:
                    self.store.update_session(self.session_id, **s.session_fields())
                    self.store.renew_claims(self.owner, CLAIM_LEASE_S)
                except StoreError as err:
                    self.store_error = err
                    abort.set()
                    return
                if time.perf_counter() - last_log >= PROGRESS_EVERY_S and not done.is_set():
                    last_log = time.perf_counter()
                    self.log(f"labeled {s.answered}/{s.requested} ({s.answered / s.seconds:.2f} "
                             f"queries/s, {s.retries} retries, {s.failed} failed, ${s.cost_usd:.4f}"
                             f"{_eta(s.requested - s.answered - s.failed, s.answered + s.failed, s.seconds)})")

        tasks = [asyncio.create_task(producer())] + [asyncio.create_task(worker())
                                                     for _ in range(c.concurrency)]
        rep = asyncio.create_task(reporter())
        all_done = asyncio.gather(*tasks)
        aborted = asyncio.create_task(abort.wait())
        try:
            await asyncio.wait({all_done, aborted}, return_when=asyncio.FIRST_COMPLETED)
            if abort.is_set():  # a full disk: cancel the calls in flight, report at once
                self.cancelled = len(self.in_flight)
                for t in tasks:
                    t.cancel()
            await asyncio.gather(all_done, return_exceptions=abort.is_set())
        finally:
            aborted.cancel()
            done.set()
            await rep
            try:
                self.store.release_claims(self.owner)
            except StoreError:
                pass  # the claims die with this process anyway
        s.seconds = time.perf_counter() - t_start
        s.errors = dict(self.errors)
        s.lost = self.received - self.stored if self.store_error else 0
        if self.store_error:
            s.stop_reason = "aborted: label store not writable"
        elif self.fatal:
            s.stop_reason = "aborted: " + self.fatal
        elif self.stop_reason:
            s.stop_reason = self.stop_reason


def _eta(left: int, done: int, seconds: float) -> str:
    """", ETA 3 min 20 s" at the rate so far ('' before the first answer)."""
    if done <= 0 or left <= 0 or seconds <= 0:
        return ""
    eta = left * seconds / done
    return f", ETA {int(eta // 60)} min {int(eta % 60)} s" if eta >= 60 else f", ETA {eta:.0f} s"
