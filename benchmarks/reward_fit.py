"""Reward-model training throughput on the CPU: the ResNet encoder's channels-last layout vs NCHW.

The reward stage's LightningModule (:class:`orlvlmf.reward.module.RewardModel`; the quickstart's
encoder: ResNet-10t at 64 px, augmentation on, batch 64, K = 1) trains on random frames, one timed
epoch after a warm-up epoch, in two variants:

* ``channels_last``: the encoder as shipped (trunk weights and input in NHWC);
* ``nchw``: the same encoder with its trunk in NCHW and no conversion (the layout before).

Variants alternate over ``--repeats`` rounds; each figure is the median labeled pairs per second.
ratio = channels_last ÷ nchw, measured in the same run.  Scoring (forward only) is covered by
``benchmarks/relabel.py``.

    python benchmarks/reward_fit.py [--pairs 512] [--threads 1] [--repeats 3]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu import _fit_seconds, _pairs  # noqa: E402  (the GPU check's reward-fit timer)


@contextmanager
def nchw_encoders():
    """ResNet encoders built inside keep the NCHW layout."""
    import torch

    from orlvlmf.encoders.resnet import ResNetEncoder

    init, forward = ResNetEncoder.__init__, ResNetEncoder.forward

    def nchw_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.trunk.to(memory_format=torch.contiguous_format)

    ResNetEncoder.__init__ = nchw_init
    ResNetEncoder.forward = lambda self, x: self.trunk(x)
    try:
        yield
    finally:
        ResNetEncoder.__init__, ResNetEncoder.forward = init, forward


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import logging

    import torch

    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    data = _pairs(args.pairs, 2 * args.pairs, 64)
    rates: dict[str, list[float]] = {"channels_last": [], "nchw": []}
    for r in range(args.repeats):
        for name in (("channels_last", "nchw") if r % 2 == 0 else ("nchw", "channels_last")):
            with nchw_encoders() if name == "nchw" else nullcontext():
                rates[name].append(args.pairs / _fit_seconds(data, 1, "cpu", "32-true", 1))
    median = {k: float(np.median(v)) for k, v in rates.items()}
    for k, v in rates.items():
        print(f"{k:14s} {median[k]:7.1f} labeled pairs/s  runs {[round(x, 1) for x in v]}")
    out = {"benchmark": "reward_fit", "model": "resnet10t", "image_size": 64, "pairs": args.pairs,
           "threads": args.threads, "repeats": args.repeats,
           "pairs_per_s": {k: round(v, 1) for k, v in median.items()},
           "ratio": round(median["channels_last"] / median["nchw"], 3),
           "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
