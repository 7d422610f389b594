"""Labeling through a provider's batch API (``feedback.batch: true``): a second scheduler beside
:mod:`.chat`, with the same prompts, store rows and budget.

Per step of the dialogue -- ``vision`` then ``label`` (two-stage), or ``single`` -- the due queries
go into one batch (more when a file would pass :data:`MAX_REQUESTS` requests or
:data:`MAX_BYTES` bytes): each request's ``custom_id`` is ``<query key>:<step>``.  The batch is
recorded in the store's ``batches`` table under a fresh tag *before* it is created (status
``submitting``), with the provider's id as soon as it exists (``submitted``), and is polled every
``batch_poll_s`` seconds with its progress logged.  When it is finished its replies are stored
exactly as the chat scheduler stores them (an analysis as a ``stage1`` row, a label as an
``answered`` row, a failed request as a ``failed`` row asked again by the next run) and the batch
row becomes ``done``.

After a restart, every batch row not ``done`` that holds due queries is polled again -- a
``submitting`` row is looked up by its tag among the provider's batches -- so a batch is never
submitted (nor paid) twice.  The budget admits queries before the first batch: the first
``max_queries``, and as many as ``max_cost_usd`` covers at the expected cost of a query
(:func:`orlvlmf.feedback.cost.estimate_cost` at the backend's batch prices).
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from orlvlmf.feedback.backends.base import (BatchState, CallFailed, LabelingAborted, PairSource, Query,
                                            Reply, Request)
from orlvlmf.feedback.images import encode_png, png_data_url
from orlvlmf.feedback.labeling.budget import Budget
from orlvlmf.feedback.labeling.records import LabelingStats, query_row
from orlvlmf.feedback.parsing import parse_label, parse_last_line
from orlvlmf.feedback.prompts import label_messages, vision_messages
from orlvlmf.feedback.store import LabelStore

MAX_REQUESTS = 50_000  # OpenAI's limit per batch
MAX_BYTES = 150 * 2**20  # below OpenAI's 200 MB per input file
PROGRESS_EVERY_S = 60.0


def label_with_batch(backend, queries: list[Query], source: PairSource, store: LabelStore,
                     session_id: int, name: str, log: Callable[[str], None]) -> LabelingStats:
    """Ask ``backend``'s batch API every query (see the module docstring); raises LabelingAborted."""
    stats = LabelingStats(requested=len(queries))
    if not queries:
        return stats
    backend.open(source)
    run = _BatchRun(backend, source, store, session_id, name, log, stats)
    t0 = time.perf_counter()
    try:
        run.main(run.admit(queries))
    finally:
        stats.seconds = time.perf_counter() - t0
        stats.errors = dict(run.errors)
    return stats


class _BatchRun:
    def __init__(self, backend, source: PairSource, store: LabelStore, session_id: int, name: str,
                 log: Callable[[str], None], stats: LabelingStats):
        self.backend, self.cfg = backend, backend.cfg
        self.source, self.store, self.session_id, self.name = source, store, session_id, name
        self.log, self.stats = log, stats
        self.errors: dict[str, int] = {}
        self.acc: dict[str, dict] = {}  # query key -> calls, tokens, cost so far

    # -- budget ---------------------------------------------------------------------------------
    def admit(self, queries: list[Query]) -> list[Query]:
        """The queries the budget lets into batches (in order)."""
        c = self.cfg
        budget = Budget.of(c, self.store)
        per_query = self._expected_cost() if c.max_cost_usd is not None else 0.0
        for k in range(len(queries)):
            reason = budget.stop_reason(k, k * per_query, 0, 0.0, per_query)
            if reason:
                self.stats.stop_reason = reason
                self.log(f"{reason}: {k} of {len(queries)} queries go into batches")
                return queries[:k]
        return queries

    def _expected_cost(self) -> float:
        from orlvlmf.feedback.cost import estimate_cost

        c = self.cfg
        a, _ = self.source.images(0, 0)
        est = estimate_cost(self.backend.model, pairs=1, task=self.source.task, frame_hw=a.shape[:2],
                            image_size=c.image_size, prompt_version=c.prompt_version,
                            two_stage=c.two_stage, max_tokens=c.max_tokens,
                            prices=self.backend.prices(batch=True))
        return est.usd() or 0.0

    # -- the steps ------------------------------------------------------------------------------
    def main(self, queries: list[Query]) -> None:
        by_key = {q.query_key: q for q in queries}
        for q in queries:
            self.acc[q.query_key] = {f: q.prior.get(f) or 0 for f in
                                     ("calls", "retries", "prompt_tokens", "completion_tokens")}
            self.acc[q.query_key]["cost_usd"] = q.prior.get("cost_usd")
        self.stats.sent = len(queries)
        steps = ("vision", "label") if self.cfg.two_stage else ("single",)
        for step in steps:
            due = {k: q for k, q in by_key.items() if self._due(q, step)}
            for row in self.store.batches(open_only=True):
                held = [k for k in row["query_keys"] if k in due]
                if row["step"] != step or not held:
                    continue
                self.log(f"resuming {step} batch {row['batch_id'] or row['tag']} ({len(held)} due queries): "
                         f"nothing is submitted again")
                self._finish(row["tag"], row["batch_id"], step, {k: due.pop(k) for k in held})
            for part in self._chunks(list(due.values()), step):
                self._submit_and_finish(step, part)

    def _due(self, q: Query, step: str) -> bool:
        if step == "label":
            return q.stage1_text is not None
        if step == "vision":
            return q.stage1_text is None
        return True

    def _request(self, q: Query, step: str) -> Request:
        task, version = self.source.task, self.cfg.prompt_version
        if step == "label":
            return Request(q, step, label_messages(task, q.stage1_text, version))
        a, b = self.source.images(q.idx0, q.idx1)
        size = self.cfg.image_size
        urls = png_data_url(encode_png(a, size)), png_data_url(encode_png(b, size))
        return Request(q, step, vision_messages(task, *urls, version, single=step == "single"))

    def _chunks(self, due: list[Query], step: str):
        """Lists of (query, request line) within the per-batch limits."""
        import json

        part, size = [], 0
        for q in due:
            line = self.backend.batch_line(self._request(q, step), f"{q.query_key}:{step}")
            n = len(json.dumps(line)) + 1
            if part and (len(part) >= MAX_REQUESTS or size + n > MAX_BYTES):
                yield part
                part, size = [], 0
            part.append((q, line))
            size += n
        if part:
            yield part

    def _provider(self, what: str, fn, *args):
        """``fn(*args)``, retried like a chat call when the failure says another try may help."""
        c = self.cfg
        for attempt in range(c.max_retries + 1):
            try:
                return fn(*args)
            except CallFailed as err:
                self.errors[err.kind] = self.errors.get(err.kind, 0) + 1
                if err.fatal or not err.retryable or attempt == c.max_retries:
                    raise LabelingAborted(f"{what} failed: {err}") from None
                time.sleep(err.retry_after if err.retry_after is not None
                           else min(c.max_backoff_s, c.backoff_s * 2 ** attempt))
        raise AssertionError("unreachable")

    def _submit_and_finish(self, step: str, part: list[tuple[Query, dict]]) -> None:
        tag = f"orlvlmf-{uuid.uuid4().hex[:16]}"
        queries = {q.query_key: q for q, _ in part}
        self.store.put_batch(tag, step=step, backend=self.name, model=self.backend.model, status="submitting",
                             requests=len(part), query_keys=list(queries), session_id=self.session_id)
        batch_id = self._provider("batch submission", self.backend.submit_batch, [line for _, line in part], tag)
        self.store.put_batch(tag, batch_id=batch_id, status="submitted")
        self.log(f"submitted {step} batch {batch_id}: {len(part)} requests")
        self._finish(tag, batch_id, step, queries)

    def _finish(self, tag: str, batch_id: str | None, step: str, queries: dict[str, Query]) -> None:
        """Poll the batch until it is finished, then store its replies."""
        if batch_id is None:  # killed between creating the batch and recording its id
            batch_id = self._provider("batch lookup", self.backend.find_batch, tag)
            if batch_id is None:
                self.log(f"batch {tag} was never created: submitting its requests")
                self.store.put_batch(tag, status="done", provider_status="never created")
                part = list(self._chunks(list(queries.values()), step))
                for p in part:
                    self._submit_and_finish(step, p)
                return
            self.store.put_batch(tag, batch_id=batch_id, status="submitted")
        state = self._wait(batch_id)
        replies = self._provider("batch results download", self.backend.batch_replies, state) \
            if state.output_file_id or state.error_file_id else {}
        for key, q in queries.items():
            reply = replies.get(f"{key}:{step}")
            if isinstance(reply, Reply):
                self._store_reply(q, step, reply)
            else:
                self._store_failure(q, reply or f"no reply in batch {batch_id} ({state.status}"
                                                 f"{': ' + state.error if state.error else ''})")
        self.store.put_batch(tag, status="done", provider_status=state.status)
        self.store.update_session(self.session_id, **self.stats.session_fields())

    def _wait(self, batch_id: str) -> BatchState:
        last, last_log = None, 0.0
        while True:
            state = self._provider("batch status request", self.backend.poll_batch, batch_id)
            seen = (state.status, state.completed, state.failed)
            if seen != last or time.perf_counter() - last_log >= PROGRESS_EVERY_S:
                self.log(f"batch {batch_id}: {state.status}, {state.completed}/{state.total or '?'} done"
                         f"{f', {state.failed} failed' if state.failed else ''}")
                last, last_log = seen, time.perf_counter()
            if state.done:
                return state
            time.sleep(self.cfg.batch_poll_s)

    # -- store writes (as labeling/chat.py writes them) -----------------------------------------
    def _add(self, q: Query, reply: Reply) -> str:
        acc, s = self.acc[q.query_key], self.stats
        acc["calls"] += 1
        s.calls += 1
        acc["prompt_tokens"] += reply.prompt_tokens
        acc["completion_tokens"] += reply.completion_tokens
        if reply.cost_usd is not None:
            acc["cost_usd"] = (acc["cost_usd"] or 0.0) + reply.cost_usd
            s.cost_usd += reply.cost_usd
        return reply.text

    def _base(self, q: Query) -> dict:
        return query_row(q, self.source, self.name, self.backend.model, self.cfg.prompt_version,
                         self.session_id)

    def _store_reply(self, q: Query, step: str, reply: Reply) -> None:
        text = self._add(q, reply)
        acc = self.acc[q.query_key]
        if not text.strip():  # never an answer nor an analysis (labeling/retry.py): asked again later
            acc["calls"] -= 1  # _store_failure counts the call
            self.stats.calls -= 1
            self._store_failure(q, f"empty reply to the {step} request", kind="empty_reply")
            return
        if step == "vision":
            q.stage1_text = text
            self.store.put({**self._base(q), **acc, "status": "stage1", "stage1_text": text, "error": None})
            return
        if step == "label":
            label, clean = parse_label(text)
            stage1, stage2 = q.stage1_text, text
        else:
            label, clean = parse_last_line(text)
            stage1, stage2 = text, None
        self.stats.answered += 1
        self.store.put({**self._base(q), **acc, "status": "answered", "stage1_text": stage1,
                        "stage2_text": stage2, "label": label, "clean": int(clean), "error": None,
                        "latency_s": None})

    def _store_failure(self, q: Query, error: str, kind: str = "batch_request") -> None:
        acc = self.acc[q.query_key]
        acc["calls"] += 1
        self.stats.calls += 1
        self.stats.failed += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.store.put({**self._base(q), **acc, "status": "failed", "stage1_text": q.stage1_text,
                        "error": error})
