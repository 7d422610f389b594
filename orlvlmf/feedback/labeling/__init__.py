"""Labeling: ask a backend about sampled pairs — everything around the backend's answers.

A backend only turns a query into an answer and a cost (:mod:`orlvlmf.feedback.backends.base`);
labeling decides what to ask and keeps what comes back:

    (here)     :func:`label_pairs`: which queries are due (the store's answers are reused, an
               interrupted query resumes), the session row, the run's result
    teacher    a teacher backend: all due queries answered at once, stored in batches
    chat       a chat backend: the two-stage dialogue of each query, concurrent workers, frames
               encoded ahead, progress and session rows, store writes as answers arrive
    batch      a chat backend through its provider's batch API (``feedback.batch``): one batch
               per dialogue step, recorded in the store, polled, resumed after a restart
    retry      one call with timeout, retries, backoff and Retry-After
    budget     the caps (``max_queries``, ``max_cost_usd``)
    records    the store row of a query, the run's counts (:class:`LabelingStats`)

query key = sha256({"pair": pair key, "backend": backend.identity(), "task": task text}): the
same two images in the same order, asked of the same backend/model/prompt version about the same
goal, are asked once, whichever run (sharing the store) asks.  When a backend's identity changes
shape (``legacy_identities()``: e.g. the litellm backend no longer counts the endpoint address),
rows stored under the old keys are moved to the new ones, so no stored answer is asked again.

With ``both_orders`` each pair (A, B) is two queries, (A, B) and (B, A) (the swapped pair's own
key, so an answer to either order stored by any run is reused), asked one after the other; a
pair's label combines both answers (:func:`orlvlmf.feedback.orders.combine_orders`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orlvlmf.feedback.backends.base import (LabelingAborted, PairSource, Query, is_chat_backend,
                                            supports_batch)
from orlvlmf.feedback.labeling.batch import label_with_batch
from orlvlmf.feedback.labeling.chat import label_with_chat
from orlvlmf.feedback.labeling.records import LabelingStats, resumed
from orlvlmf.feedback.labeling.teacher import label_with_teacher
from orlvlmf.feedback.orders import combine_orders
from orlvlmf.feedback.sampling import PairSample, reverse_pair_keys
from orlvlmf.feedback.store import LabelStore
from orlvlmf.pipeline.manifest import canonical_hash

def query_key(pair_key: str, identity: dict, task: str) -> str:
    """sha256 of the pair, the backend identity (model, prompt version, ...) and the task text."""
    return canonical_hash({"pair": pair_key, "backend": identity, "task": task})


def migrate_keys(backend, pair_keys: list[str], keys: list[str], task: str, store: LabelStore,
                 log=print) -> int:
    """Move rows stored under keys of the backend's older identities to ``keys``."""
    have = store.lookup(keys)
    missing = [(pk, k) for pk, k in zip(pair_keys, keys) if k not in have]
    moved = 0
    for old in getattr(backend, "legacy_identities", lambda: [])():
        if not missing:
            break
        old_keys = {query_key(pk, old, task): k for pk, k in missing}
        found = store.lookup(old_keys)
        moved += store.rekey([(o, old_keys[o]) for o in found])
        missing = [(pk, k) for pk, k in missing if k not in {old_keys[o] for o in found}]
    if moved:
        log(f"{moved} stored queries moved to this version's query keys (kept, not asked again)")
    return moved


@dataclass
class LabelingResult:
    """Per pair (P pairs): ``label`` 0 / 1 / -1 where ``answered`` (every query of the pair is);
    with both orders, ``answers`` (P, 2) holds the answers to (A, B) and (B, A) (-1 where not
    answered) and ``kind`` how they combined (:data:`orlvlmf.feedback.orders.KINDS`)."""

    idx0: np.ndarray
    idx1: np.ndarray
    query_keys: list[str]  # every query's key (two per pair with both orders)
    label: np.ndarray  # (P,) 0 / 1 / -1 where answered
    answered: np.ndarray  # (P,) bool
    cached: int  # answers found in the store before this run
    stats: LabelingStats
    session_id: int
    answers: np.ndarray | None = None  # (P, 2) with both orders
    kind: np.ndarray | None = None  # (P,) with both orders

    @property
    def both_orders(self) -> bool:
        return self.answers is not None


def order_queries(pairs: PairSample, source: PairSource, both_orders: bool) -> PairSample:
    """The queries of ``pairs``: the pairs themselves, or with ``both_orders`` each pair followed
    by its swap."""
    if not both_orders:
        return pairs
    rev = reverse_pair_keys(source.dataset, source.image_key, pairs.idx0, pairs.idx1)
    n = len(pairs.pair_keys)
    idx0, idx1 = np.empty(2 * n, np.int64), np.empty(2 * n, np.int64)
    idx0[0::2], idx0[1::2] = pairs.idx0, pairs.idx1
    idx1[0::2], idx1[1::2] = pairs.idx1, pairs.idx0
    keys = [k for pair in zip(pairs.pair_keys, rev) for k in pair]
    return PairSample(idx0, idx1, keys)


def label_pairs(pairs: PairSample, source: PairSource, backend, store: LabelStore,
                log=print, both_orders: bool = False) -> LabelingResult:
    """Answer every pair (from the store when possible, else from the backend)."""
    identity = backend.identity()
    queries = order_queries(pairs, source, both_orders)
    keys = [query_key(pk, identity, source.task) for pk in queries.pair_keys]
    migrate_keys(backend, list(queries.pair_keys), keys, source.task, store, log)
    rows = store.lookup(keys)
    pending: list[Query] = []
    seen: set[str] = set()
    for k, pk, a, b in zip(keys, queries.pair_keys, queries.idx0.tolist(), queries.idx1.tolist()):
        row = rows.get(k)
        if (row is not None and row["status"] == "answered") or k in seen:
            continue
        seen.add(k)
        pending.append(Query(k, pk, int(a), int(b), *resumed(row)))
    cached = sum(1 for k in set(keys) if rows.get(k, {}).get("status") == "answered")
    name = identity.get("backend", "?")
    session = store.start_session(name, str(getattr(backend, "model", "")),
                                  requested=len(set(keys)), cached=cached)
    log(f"{len(set(keys))} queries: {cached} answered in the store, {len(pending)} to ask "
        f"{identity.get('backend')} ({getattr(backend, 'model', '')})")
    try:
        if is_chat_backend(backend) and getattr(backend.cfg, "batch", False):
            if not supports_batch(backend):
                raise LabelingAborted(f"feedback.batch is set but the {name} backend has no batch API")
            stats = label_with_batch(backend, pending, source, store, session, name, log)
        elif is_chat_backend(backend):
            stats = label_with_chat(backend, pending, source, store, session, name, log)
        else:
            stats = label_with_teacher(backend, pending, source, store, session, name)
    except LabelingAborted as err:
        _close_session(store, session, f"aborted: {err}")
        raise
    except BaseException:
        _close_session(store, session, "interrupted")
        raise
    store.update_session(session, finished=True, **{k: v for k, v in stats.as_dict().items()
                                                    if k != "requested"})
    if pending:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items()))
        elsewhere = f", {stats.elsewhere} answered by another process" if stats.elsewhere else ""
        log(f"asked {stats.sent}: {stats.answered} answered, {stats.failed} failed{elsewhere}, "
            f"{stats.retries} retries{f' ({errors})' if errors else ''}, ${stats.cost_usd:.4f}, "
            f"{stats.seconds:.1f} s; stop: {stats.stop_reason}")
    rows = store.lookup(keys)
    answered = np.asarray([rows.get(k, {}).get("status") == "answered" for k in keys], bool)
    label = np.asarray([rows[k]["label"] if ok else -1 for k, ok in zip(keys, answered)], np.int64)
    if not both_orders:
        return LabelingResult(pairs.idx0, pairs.idx1, keys, label, answered, cached, stats, session)
    answers = label.reshape(-1, 2)
    combined, kind = combine_orders(answers[:, 0], answers[:, 1])
    return LabelingResult(pairs.idx0, pairs.idx1, keys, combined, answered.reshape(-1, 2).all(1),
                          cached, stats, session, answers=answers, kind=kind)


def _close_session(store: LabelStore, session: int, reason: str) -> None:
    """Mark the session finished; a store that cannot be written (the error being reported)
    does not hide the error."""
    from orlvlmf.feedback.store import StoreError

    try:
        store.update_session(session, finished=True, stop_reason=reason[:2000])
    except StoreError:
        pass
