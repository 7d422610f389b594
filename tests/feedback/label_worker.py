"""Labeling process used by the kill -9 test: label pairs of a dataset into a store, then exit.

usage: python label_worker.py DATASET STORE API_BASE NUM_QUERIES CONCURRENCY [FEEDBACK_JSON]
(FEEDBACK_JSON: more feedback options, e.g. '{"batch": true}')
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main(argv: list[str]) -> int:
    import json

    dataset, store_path, api_base, num, conc, *extra = argv
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends import make_backend
    from orlvlmf.feedback.backends.base import PairSource
    from orlvlmf.feedback.labeling import label_pairs
    from orlvlmf.feedback.sampling import sample_pairs
    from orlvlmf.feedback.store import LabelStore

    ds = OfflineDataset.open(dataset)
    pairs = sample_pairs(ds, int(num), min_gap=3, seed=0)
    backend = make_backend({"name": "litellm", "model": "openai/fake-vlm", "api_base": api_base,
                            "image_size": 32, "concurrency": int(conc), "timeout_s": 10.0,
                            "backoff_s": 0.05, **(json.loads(extra[0]) if extra else {})})
    with LabelStore(store_path) as store:
        res = label_pairs(pairs, PairSource(ds.without_ground_truth(), "image", ds.metadata["task_text"]),
                          backend, store, log=lambda m: print(m, flush=True))
    print(f"DONE answered={int(res.answered.sum())} failed={res.stats.failed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
