"""Labeling throughput against a local OpenAI-compatible server with a fixed latency per call.

A two-stage query makes two sequential calls, so with ``c`` queries in flight and latency ``L``
per call the best possible rate is ``c / (2 L)`` queries/s.  This script runs the real path
(pair sampling done beforehand; then store lookup, frame reads, PNG encoding, litellm calls,
parsing, one SQLite commit per stage) against the test suite's fake server, started in a
separate process so its CPU time does not compete with the labeler's event loop, and reports
the measured rate and its ratio to that limit (goal >= 0.9).

    python benchmarks/labeling.py [--latency 0.2] [--concurrency 8] [--queries 96]
                                  [--frame-size 128] [--image-size 224]

Ends with one JSON line (median of ``--repeats`` timed runs, each into a fresh store).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SERVER = """
import sys
sys.path.insert(0, {tests!r})
from fake_vlm_server import FakeVLMServer
s = FakeVLMServer(latency_s={latency}, measure=False).start()
print(s.url, flush=True)
sys.stdin.read()
s.stop()
"""


def make_dataset(path: Path, frames: int, size: int) -> Path:
    from orlvlmf.data.dataset import DatasetWriter

    """Rendered-looking frames: a smooth background, a box that moves, a little sensor noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([yy * 200 // size, xx * 200 // size, (xx + yy) * 100 // size], -1)
    with DatasetWriter(path, {"task_text": "to open the drawer"}) as w:
        for _ in range(4):
            img = np.repeat(background[None], frames + 1, 0).astype(np.int16)
            for t in range(frames + 1):
                x = (t * 3) % (size - size // 4)
                img[t, size // 3:size // 2, x:x + size // 4] = (200, 40, 40)
            img += rng.integers(-2, 3, img.shape, dtype=np.int16)
            w.add_episode({"image": np.clip(img, 0, 255).astype(np.uint8)}, rng.uniform(-1, 1, (frames, 2)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--queries", type=int, default=96)
    ap.add_argument("--frame-size", type=int, default=128)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    args = ap.parse_args()

    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.backends import make_backend
    from orlvlmf.feedback.backends.base import PairSource
    from orlvlmf.feedback.backends.vlm import import_litellm
    from orlvlmf.feedback.labeling import label_pairs
    from orlvlmf.feedback.sampling import sample_pairs
    from orlvlmf.feedback.store import LabelStore

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(tests=str(ROOT / "tests" / "feedback"), latency=args.latency)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            ds = OfflineDataset.open(make_dataset(Path(tmp) / "d.h5", max(40, args.queries // 2),
                                                 args.frame_size))
            pairs = sample_pairs(ds, args.queries, min_gap=1, seed=0)
            import_litellm()  # seconds of import time are not labeling time
            opts = {"name": "litellm", "model": "openai/bench", "api_base": url,
                    "image_size": args.image_size, "concurrency": args.concurrency, "timeout_s": 30.0}
            source = PairSource(ds.without_ground_truth(), "image", ds.metadata["task_text"])
            with LabelStore(Path(tmp) / "warm.sqlite") as store:  # warm up clients and code paths
                warm = sample_pairs(ds, args.concurrency, min_gap=1, seed=1)
                label_pairs(warm, source, make_backend(opts), store, log=lambda m: None)
            runs = []
            for k in range(args.repeats):  # a fresh store each time: every query is really sent
                with LabelStore(Path(tmp) / f"s{k}.sqlite") as store:
                    t0, c0 = time.perf_counter(), time.process_time()
                    res = label_pairs(pairs, source, make_backend(opts), store, log=lambda m: None)
                    runs.append((time.perf_counter() - t0, time.process_time() - c0))
                    assert res.stats.sent == args.queries, "the store answered queries: not a real run"
            seconds, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            ds.close()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    answered = int(res.answered.sum())
    qps = answered / seconds
    limit = args.concurrency / (2 * args.latency)
    print("runs (s): " + ", ".join(f"{r[0]:.2f}" for r in runs))
    print(f"{answered} queries in {seconds:.2f} s (median): {qps:.2f} queries/s; limit c/(2L) = {limit:.2f} "
          f"(c={args.concurrency}, L={args.latency} s); {args.image_size} px PNGs from "
          f"{args.frame_size} px frames; labeler CPU {cpu:.2f} s ({1000 * cpu / max(answered, 1):.1f} ms "
          f"per query)")
    print(json.dumps({"benchmark": "labeling", "queries": answered, "seconds": round(seconds, 3),
                      "queries_per_s": round(qps, 3), "limit_queries_per_s": round(limit, 3),
                      "ratio": round(qps / limit, 4), "goal_ratio": 0.9, "repeats": args.repeats,
                      "ratios": [round(answered / r[0] / limit, 4) for r in runs],
                      "cpu_ms_per_query": round(1000 * cpu / max(answered, 1), 2),
                      "concurrency": args.concurrency, "latency_s": args.latency,
                      "image_size": args.image_size}))


if __name__ == "__main__":
    main()
