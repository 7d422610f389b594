"""What labeling records: the store row of a query, and the counts of one labeling run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from orlvlmf.feedback.backends.base import PairSource, Query


@dataclass
class LabelingStats:
    """Counts of one labeling invocation (also written to its row of the store's ``sessions``)."""

    requested: int = 0  # queries handed to the backend
    sent: int = 0  # queries started
    answered: int = 0
    failed: int = 0  # retries exhausted or only empty replies: stored as failed, asked again later
    elsewhere: int = 0  # answered meanwhile by another process sharing the store (not sent here)
    lost: int = 0  # replies received (and paid) that could not be stored (a full disk)
    retries: int = 0
    calls: int = 0  # API calls made, retries included
    cost_usd: float = 0.0
    seconds: float = 0.0
    stop_reason: str = "done"  # done | budget: ... | aborted: ...
    errors: dict = field(default_factory=dict)  # error kind -> count

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("requested", "sent", "answered", "failed", "retries",
                                              "calls", "cost_usd", "seconds", "stop_reason")}

    def session_fields(self) -> dict:
        """The fields a running session's row is updated with."""
        return {k: getattr(self, k) for k in ("sent", "answered", "failed", "retries", "calls",
                                              "cost_usd", "seconds")}


PRIOR = ("calls", "retries", "prompt_tokens", "completion_tokens", "cost_usd")


def resumed(row: dict | None) -> tuple[Optional[str], dict]:
    """(stored analysis, counters already spent) of a query's unfinished row: a ``stage1`` or
    ``failed`` row keeps its analysis (only the label call is due) and what it cost so far."""
    if row is None or row["status"] == "answered":
        return None, {}
    return row["stage1_text"], {f: row[f] for f in PRIOR}


def query_row(query: Query, source: PairSource, backend: str, model: str,
              prompt_version: Optional[str], session_id: int) -> dict:
    """The store columns that say which query a row is (status, texts and costs are added)."""
    return {"query_key": query.query_key, "pair_key": query.pair_key, "idx0": query.idx0,
            "idx1": query.idx1, "image_key": source.image_key, "backend": backend, "model": model,
            "prompt_version": prompt_version, "task": source.task, "session_id": session_id}
