"""What a feedback backend is: it turns a query into an answer and a cost, and nothing else.

Scheduling, retries, budget caps, progress, session rows and store writes are labeling's job
(:mod:`orlvlmf.feedback.labeling`), shared by every backend.  A backend is registered with
``@register("feedback", NAME, config=Cfg)`` and built as ``cls(**options)`` from the config node
``feedback: {name: NAME, ...}``.  Every backend has

* ``identity() -> dict``: everything that changes its answers (backend, model, prompt version,
  options); it is hashed into each query key, so a changed option never reuses an old answer;
  optionally ``legacy_identities() -> list[dict]``: the identities older versions used for the
  same answers (their stored rows are moved to the new keys, never asked again);
* ``model``: the model's name for the store's rows;
* ``needs_ground_truth``: True only for teachers that read the GT reward;

and is one of two kinds:

* a **teacher** answers from the data itself, every query at once and at no cost:
  ``answer(queries, source) -> list[Answer]`` (the scripted teacher);
* a **chat backend** asks a model one call at a time.  Its ``cfg`` extends
  :class:`~orlvlmf.feedback.config.ChatConfig` (prompts, concurrency, retries, budget: what
  labeling reads); ``open(source)`` runs once before any call (credentials, prices; raise
  :class:`LabelingAborted`); ``async complete(request) -> Reply`` makes ONE call and raises
  :class:`CallFailed` when it fails, saying whether another try may help.  Labeling runs the
  dialogue of a query through it (two-stage: the analysis, then the label line).

A chat backend may also reach a provider's **batch API** (``feedback.batch: true``; labeling's
:mod:`orlvlmf.feedback.labeling.batch` runs it): ``batch_line(request, custom_id) -> dict`` (one
JSONL request), ``submit_batch(lines, tag) -> batch id``, ``find_batch(tag) -> id | None`` (a
batch submitted under ``tag`` by a run killed before it recorded the id), ``poll_batch(id) ->
BatchState`` and ``batch_replies(state) -> {custom_id: Reply | str (the error)}``; each raises
:class:`CallFailed` like ``complete``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from orlvlmf.config.structured import value_problem
from orlvlmf.feedback.config import ChatConfig
from orlvlmf.feedback.prompts import get_prompts


class LabelingAborted(RuntimeError):
    """Labeling cannot go on (bad key, unknown model, ...); the message says how to fix it."""


@dataclass
class Query:
    """One question: which of the next observations of transitions ``idx0``, ``idx1`` (shown in
    that order) better achieves the task."""

    query_key: str
    pair_key: str
    idx0: int
    idx1: int
    stage1_text: Optional[str] = None  # analysis already stored by an interrupted run
    prior: dict = field(default_factory=dict)  # calls, retries, tokens, cost already spent on it


@dataclass
class Answer:
    """A teacher's answer: ``label`` 0 (first better), 1 (second better), -1 (no difference)."""

    label: int
    stage1_text: Optional[str] = None
    stage2_text: Optional[str] = None
    clean: bool = True  # the answer was in the expected format


@dataclass
class Request:
    """One call of a chat backend: chat ``messages`` asked about ``query``.

    ``step``: ``vision`` (stage 1: the two frames, asking for an analysis), ``label`` (stage 2:
    the analysis, asking for the label line) or ``single`` (frames in, label line out).
    """

    query: Query
    step: str
    messages: list[dict]


@dataclass
class Reply:
    """What one call returned; ``cost_usd`` is None when the price is unknown."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Optional[float] = None


@dataclass
class BatchState:
    """Where a provider's batch stands: ``status`` as the provider says (``validating``,
    ``in_progress``, ``finalizing``, ``completed``, ``failed``, ``expired``, ``cancelled``, ...)."""

    batch_id: str
    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None
    error: Optional[str] = None  # why a failed batch failed

    FINAL: ClassVar[tuple[str, ...]] = ("completed", "failed", "expired", "cancelled")

    @property
    def done(self) -> bool:
        return self.status in self.FINAL


class CallFailed(Exception):
    """One call failed.  ``kind`` counts it (``rate_limit``, ``timeout``, ``http_503``, ...);
    ``retryable``: another try may succeed; ``fatal``: no query can (bad key, unknown model), the
    run stops; ``retry_after``: seconds the server asked to wait.  The message never holds a secret.
    """

    def __init__(self, message: str, kind: str, retryable: bool, fatal: bool = False,
                 retry_after: Optional[float] = None):
        super().__init__(message)
        self.kind, self.retryable, self.fatal, self.retry_after = kind, retryable, fatal, retry_after


class PairSource:
    """Frames (the next observation of each transition) and, for teachers, GT reward."""

    def __init__(self, dataset, image_key: str, task: str):
        self.dataset = dataset
        self.image_key = image_key
        self.task = task
        self._lock = threading.Lock()

    def images(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:  # one h5py handle shared by threads
            frames = self.dataset.next_observations(self.image_key, np.asarray([i, j]))
        return frames[0], frames[1]

    def ground_truth_reward(self) -> np.ndarray:
        return np.asarray(self.dataset.ground_truth().reward, dtype=np.float64)

    def teacher_reward(self, who: str) -> tuple[np.ndarray, float]:
        """(GT reward, its range max - min) for a backend answering from it; LabelingAborted
        naming ``who`` when the dataset has none."""
        try:
            reward = self.ground_truth_reward()
        except Exception as err:
            raise LabelingAborted(
                f"{who} answers from the dataset's ground-truth reward: {err}. Use a VLM backend "
                f"(feedback.name=litellm) for data without ground truth") from None
        return reward, float(reward.max() - reward.min()) if len(reward) else 0.0


def check_chat_config(c: ChatConfig) -> None:
    """Raise ValueError naming the first bad option (before any call): the ranges the config's
    fields declare (checked by the loader too; a backend may be built without it) and the prompt
    version."""
    bad = value_problem(type(c), {f.name: getattr(c, f.name) for f in dataclasses.fields(c)},
                        "feedback.")
    if bad:
        raise ValueError(bad[1])
    get_prompts(c.prompt_version)  # unknown version -> clear error now


def is_chat_backend(backend) -> bool:
    """Whether ``backend`` is a chat backend (else a teacher); see the module docstring."""
    return callable(getattr(backend, "complete", None))


def supports_batch(backend) -> bool:
    """Whether ``backend`` is a chat backend that also reaches a batch API (see the module docstring)."""
    return all(callable(getattr(backend, m, None)) for m in
               ("batch_line", "submit_batch", "find_batch", "poll_batch", "batch_replies"))
