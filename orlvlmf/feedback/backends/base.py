"""What every feedback backend implements, and what it is given.

A backend is registered with ``@register("feedback", NAME, config=Cfg)`` and built as
``cls(**options)`` from the config node ``feedback: {name: NAME, ...}``.  It exposes

* ``identity() -> dict``: everything that changes its answers (backend, model, prompt version,
  options); it is hashed into each query key, so a changed option never reuses an old answer;
* ``needs_ground_truth``: True only for teachers that read the GT reward (the scripted one);
* ``label(queries, source, store, session_id, log) -> BackendStats``: answer the queries, writing
  each answer to the store as soon as it is known.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


class LabelingAborted(RuntimeError):
    """The backend cannot go on (bad key, unknown model, ...); the message says how to fix it."""


@dataclass
class Query:
    query_key: str
    pair_key: str
    idx0: int
    idx1: int
    stage1_text: Optional[str] = None  # analysis already stored by an interrupted run
    prior: dict = field(default_factory=dict)  # calls, retries, tokens, cost already spent on it


@dataclass
class BackendStats:
    requested: int = 0  # queries handed to the backend
    sent: int = 0  # queries started (budget counts these)
    answered: int = 0
    failed: int = 0
    retries: int = 0
    calls: int = 0  # API calls made, retries included
    cost_usd: float = 0.0
    seconds: float = 0.0
    stop_reason: str = "done"  # done | budget: ... | aborted: ...
    errors: dict = field(default_factory=dict)  # error kind -> count

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("requested", "sent", "answered", "failed", "retries",
                                              "calls", "cost_usd", "seconds", "stop_reason")}


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


LogFn = Callable[[str], None]
