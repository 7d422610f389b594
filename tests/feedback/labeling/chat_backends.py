"""A chat backend that is not litellm, for labeling's tests: it answers 'the frame of the earlier
transition' in two stages and fails or replies empty as told."""

import numpy as np

from feedback_helpers import TASK
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends.base import PairSource, Reply
from orlvlmf.feedback.config import ChatConfig
from orlvlmf.feedback.labeling import label_pairs
from orlvlmf.feedback.sampling import sample_pairs
from orlvlmf.feedback.store import LabelStore


class EchoChat:
    """Answers 'the frame of the earlier transition' in two stages; fails as told."""

    needs_ground_truth = False
    model = "echo-1"

    def __init__(self, fail: dict | None = None, **cfg):
        self.cfg = ChatConfig(**{"concurrency": 3, "backoff_s": 0.0, **cfg})
        self.fail = dict(fail or {})  # step -> [CallFailed, ...] raised before answering
        self.calls: list[tuple[str, str]] = []
        self.empty: dict = {}  # step -> [Reply, ...] returned (paid, no usable text) before answering
        self.label_messages: list = []
        self.opened = False

    def identity(self) -> dict:
        return {"backend": "echo", "two_stage": self.cfg.two_stage}

    def open(self, source: PairSource) -> None:
        self.opened = True

    async def complete(self, request) -> Reply:
        q = request.query
        self.calls.append((q.query_key, request.step))
        if self.fail.get(request.step):
            raise self.fail[request.step].pop(0)
        if request.step == "label":
            self.label_messages.append((request.step, request.messages))
        if self.empty.get(request.step):
            return self.empty[request.step].pop(0)
        if request.step == "vision":
            parts = request.messages[-1]["content"]
            assert sum(p["type"] == "image_url" for p in parts) == 2  # the two frames were sent
            return Reply(f"analysis of {q.idx0} and {q.idx1}", 10, 5, 0.001)
        if request.step == "label":  # stage 2 gets the stored analysis, not the frames
            assert f"analysis of {q.idx0} and {q.idx1}" in str(request.messages)
        return Reply("0" if q.idx0 < q.idx1 else "1", 3, 1, 0.0005)


def run(dataset, store_path, backend, n=12):
    ds = OfflineDataset.open(dataset)
    pairs = sample_pairs(ds, n, min_gap=2, seed=0)
    with LabelStore(store_path) as store:
        return label_pairs(pairs, PairSource(ds.without_ground_truth(), "image", TASK), backend, store,
                           log=lambda m: None)


def expected(res):
    return np.where(res.idx0 < res.idx1, 0, 1)
