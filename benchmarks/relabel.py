"""Relabel throughput: ``relabel_dataset`` (fp32 and bf16) against a plain eager loop.

All variants score the same HDF5 dataset with the same ResNet reward network in one process:

* ``eager``: read a batch of o'_i, preprocess, ``net(x)`` under ``torch.no_grad``, one step after
  the other (the reference);
* ``relabel``: :func:`orlvlmf.reward.relabel.relabel_dataset` as the relabel stage calls it
  (``relabel.precision=32``), same batch size;
* ``bf16``: the same with ``relabel.precision=bf16`` (bfloat16 autocast).

Prefetching, channels-last memory and conv-BN folding used to be relabel options: against the
eager loop they earned nothing beyond run-to-run noise (0.99-1.09x) and were removed.  The ResNet
encoder now keeps its trunk channels-last because training gains (``benchmarks/reward_fit.py``);
for scoring, a temporary NCHW variant of this script measured 1.02x (ResNet-10t, 64 px, 1 thread)
and 1.00x (ResNet-18, 128 px, 2 threads) for channels-last on an idle machine (2026-11-28).  bf16
autocast roughly halves the CPU time per image on CPUs with AVX512-BF16 (slower without them).

Runs are interleaved (every repeat runs every variant, in a shuffled order) and each variant's
figure is its median images/s, so a load that drifts during the run hits all of them alike.
ratio = variant images/s ÷ eager images/s, measured in the same run.  Each variant's median CPU
time per image (all threads of this process) is printed too: it is less sensitive to other
processes than wall time.

    python benchmarks/relabel.py [--transitions 1536] [--image-size 128] [--model resnet18]
                                 [--threads 2] [--repeats 5] [--variants relabel bf16]

Ends with one JSON line (``ratio``: the default fp32 relabel path against the eager loop;
``variants.bf16.ratio_vs_eager``: relabel.precision=bf16).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orlvlmf.data.dataset import DatasetWriter, OfflineDataset  # noqa: E402
from orlvlmf.reward.model import RewardNet  # noqa: E402
from orlvlmf.reward.relabel import relabel_dataset  # noqa: E402

GOAL = 200.0  # images/s on 2 cores (ResNet-18, 128 px)


def make_frames(rng: np.random.Generator, t: int, size: int) -> np.ndarray:
    """Smooth scenes with a moving square and mild noise (compress like rendered frames)."""
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.float32) * (200.0 / size)
    frames = np.empty((t, size, size, 3), np.uint8)
    for k in range(t):
        img = base + rng.normal(0, 4, base.shape)
        c = int(rng.integers(0, size - 20))
        img[size // 3:size // 3 + 20, c:c + 20] = (250, 220, 30)
        frames[k] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def make_dataset(path: Path, transitions: int, size: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    horizon = 256
    with DatasetWriter(path) as w:
        left = transitions
        while left > 0:
            t = min(horizon, left)
            w.add_episode(observations={"image": make_frames(rng, t + 1, size)},
                          actions=rng.uniform(-1, 1, (t, 4)).astype(np.float32))
            left -= t


@torch.no_grad()
def eager_loop(net: RewardNet, ds: OfflineDataset, batch_size: int) -> np.ndarray:
    net.eval()
    out = []
    for a in range(0, ds.num_transitions, batch_size):
        idx = np.arange(a, min(ds.num_transitions, a + batch_size))
        x = net.preprocess(torch.from_numpy(ds.next_observations("image", idx)))
        out.append(net(x).mean(0).numpy())
    return np.concatenate(out)


# relabel_dataset keyword arguments of each variant
VARIANTS = {"relabel": {"precision": "32"}, "bf16": {"precision": "bf16"}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transitions", type=int, default=1536)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64, help="batch size of every variant")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    order_rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        make_dataset(path, args.transitions, args.image_size)
        ds = OfflineDataset.open(path)
        n = ds.num_transitions
        net = RewardNet({"name": "resnet", "model": args.model}, (args.image_size, args.image_size, 3),
                        ensemble=args.ensemble, observation="image")
        runs = {"eager": lambda: eager_loop(net, ds, args.batch_size)}
        for v in args.variants:
            kw = VARIANTS[v]
            runs[v] = lambda kw=kw: relabel_dataset(net, ds, "image", "next", args.batch_size, **kw)[0]
        out = {name: fn() for name, fn in runs.items()}  # warm-up (allocator, oneDNN primitives)
        rates: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name in order_rng.permutation(list(runs)):
                t0, c0 = time.perf_counter(), time.process_time()
                out[name] = runs[name]()
                rates[name].append(n / (time.perf_counter() - t0))
                cpu[name].append(1000 * (time.process_time() - c0) / n)
        ds.close()
    ref = out["eager"]
    median = {k: float(np.median(v)) for k, v in rates.items()}
    print(f"{n} frames of {args.image_size} px, {args.model} x{args.ensemble}, batch {args.batch_size}, "
          f"{args.threads} threads, {args.repeats} interleaved repeats "
          f"(cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.2f})")
    rows = {}
    for name, rate in median.items():
        diff = float(np.abs(out[name] - ref).max())
        cpu_ms = float(np.median(cpu[name]))
        rows[name] = {"images_per_s": round(rate, 1), "ratio_vs_eager": round(rate / median["eager"], 3),
                      "cpu_ms_per_image": round(cpu_ms, 3), "max_abs_diff_vs_eager": diff}
        print(f"{name:18s} {rate:8.1f} images/s  x{rate / median['eager']:.3f}  "
              f"cpu {cpu_ms:6.2f} ms/image  max|diff| {diff:.1e}  runs {[round(r, 1) for r in rates[name]]}")
    default = median.get("relabel")
    print(json.dumps({"benchmark": "relabel", "model": args.model, "image_size": args.image_size,
                      "ensemble": args.ensemble, "threads": args.threads, "batch": args.batch_size,
                      "images": n, "repeats": args.repeats,
                      "eager_images_per_s": round(median["eager"], 1),
                      "relabel_images_per_s": None if default is None else round(default, 1),
                      "ratio": None if default is None else round(default / median["eager"], 3),
                      "goal_images_per_s": GOAL, "variants": rows,
                      "load_avg_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
