"""Ask a backend about sampled pairs, reusing every answer the store already holds.

query key = sha256({"pair": pair key, "backend": backend.identity(), "task": task text}): the
same two images in the same order, asked of the same backend/model/prompt version about the same
goal, are asked once, whichever run (sharing the store) asks.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orlvlmf.feedback.backends.base import BackendStats, LabelingAborted, PairSource, Query
from orlvlmf.feedback.sampling import PairSample
from orlvlmf.feedback.store import LabelStore
from orlvlmf.pipeline.manifest import canonical_hash

_PRIOR = ("calls", "retries", "prompt_tokens", "completion_tokens", "cost_usd")


def query_key(pair_key: str, identity: dict, task: str) -> str:
    """sha256 of the pair, the backend identity (model, prompt version, ...) and the task text."""
    return canonical_hash({"pair": pair_key, "backend": identity, "task": task})


@dataclass
class LabelingResult:
    idx0: np.ndarray
    idx1: np.ndarray
    query_keys: list[str]
    label: np.ndarray  # (Q,) 0 / 1 / -1 where answered
    answered: np.ndarray  # (Q,) bool
    cached: int  # answers found in the store before this run
    stats: BackendStats
    session_id: int


def label_pairs(pairs: PairSample, source: PairSource, backend, store: LabelStore,
                log=print) -> LabelingResult:
    """Answer every pair (from the store when possible, else from the backend)."""
    identity = backend.identity()
    keys = [query_key(pk, identity, source.task) for pk in pairs.pair_keys]
    rows = store.lookup(keys)
    pending: list[Query] = []
    seen: set[str] = set()
    for k, pk, a, b in zip(keys, pairs.pair_keys, pairs.idx0.tolist(), pairs.idx1.tolist()):
        row = rows.get(k)
        if (row is not None and row["status"] == "answered") or k in seen:
            continue
        seen.add(k)
        stage1 = row["stage1_text"] if row is not None else None
        prior = {f: row[f] for f in _PRIOR} if stage1 is not None else {}
        pending.append(Query(k, pk, int(a), int(b), stage1, prior))
    cached = sum(1 for k in set(keys) if rows.get(k, {}).get("status") == "answered")
    session = store.start_session(identity.get("backend", "?"), str(getattr(backend, "model", "")),
                                  requested=len(set(keys)), cached=cached)
    log(f"{len(set(keys))} queries: {cached} answered in the store, {len(pending)} to ask "
        f"{identity.get('backend')} ({getattr(backend, 'model', '')})")
    try:
        stats = backend.label(pending, source, store, session, log)
    except LabelingAborted as err:
        store.update_session(session, finished=True, stop_reason=f"aborted: {err}")
        raise
    except BaseException:
        store.update_session(session, finished=True, stop_reason="interrupted")
        raise
    store.update_session(session, finished=True, **{k: v for k, v in stats.as_dict().items()
                                                    if k != "requested"})
    if pending:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items()))
        log(f"asked {stats.sent}: {stats.answered} answered, {stats.failed} failed, {stats.retries} "
            f"retries{f' ({errors})' if errors else ''}, ${stats.cost_usd:.4f}, {stats.seconds:.1f} s; "
            f"stop: {stats.stop_reason}")
    rows = store.lookup(keys)
    answered = np.asarray([rows.get(k, {}).get("status") == "answered" for k in keys], bool)
    label = np.asarray([rows[k]["label"] if ok else -1 for k, ok in zip(keys, answered)], np.int64)
    return LabelingResult(pairs.idx0, pairs.idx1, keys, label, answered, cached, stats, session)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez`` with fixed zip timestamps: the same arrays give the same bytes."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, buf.getvalue())
    return path
