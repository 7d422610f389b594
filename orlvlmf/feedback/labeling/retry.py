"""One call of a chat backend, retried: timeout, backoff, the server's Retry-After, error counts.

Each attempt may take ``timeout_s`` (+5 s of grace; the backend's own timeout should fire first).
A reply with no text (an empty message, no ``choices``) is a failure too (kind ``empty_reply``,
retryable): it is never a final answer, but its cost counts.  A failure the backend marks
retryable (rate limits, server errors, timeouts, dropped connections, empty replies) is tried
again up to ``max_retries`` times, waiting the server's Retry-After when it gives one, else
``min(max_backoff_s, backoff_s * 2**attempt) * U(0.5, 1.5)`` (at most :data:`MAX_RETRY_AFTER_S`).
Any other failure, or the last one, gives up on the query; a fatal one (bad key, unknown model)
gives up on the run.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from orlvlmf.feedback.backends.base import CallFailed, Reply, Request
from orlvlmf.feedback.config import ChatConfig
from orlvlmf.feedback.labeling.records import LabelingStats

MAX_RETRY_AFTER_S = 600.0
TIMEOUT_GRACE_S = 5.0


class GaveUp(Exception):
    """A call failed for good after ``calls`` attempts (``retries`` of them retries);
    ``fatal``: no other query can succeed either; ``paid``: replies that came back unusable
    (their tokens and cost were spent)."""

    def __init__(self, message: str, calls: int, retries: int, fatal: bool = False,
                 paid: list[Reply] | None = None):
        super().__init__(message)
        self.calls, self.retries, self.fatal = calls, retries, fatal
        self.paid = list(paid or [])


@dataclass
class Tried:
    """A successful call and what it took (``paid``: the unusable replies before it)."""

    reply: Reply
    calls: int
    retries: int
    paid: list[Reply] = field(default_factory=list)


async def call_with_retries(complete: Callable[[Request], Awaitable[Reply]], request: Request,
                            cfg: ChatConfig, *, stats: LabelingStats, errors: Counter,
                            aborted: Callable[[], bool], rng: random.Random) -> Tried:
    """``complete(request)`` until it succeeds or gives up (see the module docstring).

    Every attempt counts in ``stats.calls``, every retry in ``stats.retries`` and every failure
    in ``errors[kind]``; ``aborted()`` true stops before the next attempt.
    """
    calls = retries = 0
    paid: list[Reply] = []
    for attempt in range(cfg.max_retries + 1):
        if aborted():
            raise GaveUp("run aborted", calls, retries, paid=paid)
        calls += 1
        stats.calls += 1
        try:
            reply = await asyncio.wait_for(complete(request), cfg.timeout_s + TIMEOUT_GRACE_S)
        except asyncio.TimeoutError:
            failure = CallFailed(f"TimeoutError: no reply within {cfg.timeout_s + TIMEOUT_GRACE_S:g} s",
                                 "timeout", retryable=True)
        except CallFailed as err:
            failure = err
        else:
            if reply.text and reply.text.strip():
                return Tried(reply, calls, retries, paid)
            paid.append(reply)
            failure = CallFailed(f"empty reply to the {request.step} call (no text came back)",
                                 "empty_reply", retryable=True)
        errors[failure.kind] += 1
        if failure.fatal:
            raise GaveUp(str(failure), calls, retries, fatal=True, paid=paid)
        if not failure.retryable or attempt == cfg.max_retries:
            raise GaveUp(str(failure), calls, retries, paid=paid)
        retries += 1
        stats.retries += 1
        wait = failure.retry_after  # 429 and 503 may say how long to wait
        if wait is None:
            wait = min(cfg.max_backoff_s, cfg.backoff_s * 2 ** attempt) * rng.uniform(0.5, 1.5)
        await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))
    raise AssertionError("unreachable")
