"""Labeling with a teacher backend: every due query answered at once, stored in large batches."""

from __future__ import annotations

import time

from orlvlmf.feedback.backends.base import PairSource, Query
from orlvlmf.feedback.labeling.records import LabelingStats, query_row
from orlvlmf.feedback.store import LabelStore

ROWS_PER_COMMIT = 2000


def label_with_teacher(backend, queries: list[Query], source: PairSource, store: LabelStore,
                       session_id: int, name: str) -> LabelingStats:
    t0 = time.perf_counter()
    stats = LabelingStats(requested=len(queries))
    if not queries:
        return stats
    answers = backend.answer(queries, source)
    rows = [{**query_row(q, source, name, backend.model, None, session_id), "status": "answered",
             "stage1_text": a.stage1_text, "stage2_text": a.stage2_text, "label": int(a.label),
             "clean": int(a.clean), "latency_s": 0.0, "cost_usd": 0.0, "calls": 0, "retries": 0}
            for q, a in zip(queries, answers)]
    for s in range(0, len(rows), ROWS_PER_COMMIT):
        store.put_many(rows[s:s + ROWS_PER_COMMIT])
    stats.sent = stats.answered = len(rows)
    stats.seconds = time.perf_counter() - t0
    return stats
