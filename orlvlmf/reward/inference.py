"""Batched no-grad scoring with a :class:`RewardNet` (used by training metrics and relabeling).

A plain loop: read a batch, move it to the network's device, preprocess, score in inference mode.
Prefetching in a thread, channels-last memory and conv-BN folding earned nothing over this loop on the
2-core CPU (``benchmarks/relabel.py``) and were removed; bfloat16 autocast is kept as an option (roughly
half the CPU time per image on CPUs with AVX512-BF16, ~1e-2 relative error).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable

import numpy as np
import torch

from orlvlmf.reward.model import RewardNet


def net_device(net: torch.nn.Module) -> torch.device:
    """The device of ``net``'s first parameter (CPU for a network without parameters)."""
    return next((p.device for p in net.parameters()), torch.device("cpu"))


@torch.inference_mode()
def score_batches(net: RewardNet, read: Callable[[int, int], np.ndarray], n: int, batch_size: int = 256,
                  bf16: bool = False, on_batch: Callable[[int], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and std of r over items ``read(a, b)`` for ``a:b`` in batches covering ``0:n``.

    ``read`` returns raw observations (host arrays); they are scored on the device ``net`` lives on.
    ``net`` is scored through an eval-mode copy, so a network in training keeps its mode.  ``bf16``
    autocasts the network to bfloat16.  ``on_batch(k)`` is called after each batch of ``k`` items
    (a progress bar).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = copy.deepcopy(net).eval()
    mean = np.empty(n, np.float32)
    std = np.empty(n, np.float32)
    device = net_device(model)
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    for a in range(0, n, batch_size):
        b = min(n, a + batch_size)
        x = model.preprocess(torch.as_tensor(read(a, b)).to(device, non_blocking=True))
        with amp:
            r = model(x).float()  # (K, B)
        mean[a:b] = r.mean(0).cpu().numpy()
        std[a:b] = (r.std(0, unbiased=False) if r.shape[0] > 1 else torch.zeros_like(r[0])).cpu().numpy()
        if on_batch is not None:
            on_batch(b - a)
    return mean, std


def score_frames(net: RewardNet, frames: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Ensemble-mean reward of in-memory raw frames (N, *obs_shape)."""
    frames = torch.as_tensor(frames)
    mean, _ = score_batches(net, lambda a, b: frames[a:b], len(frames), batch_size)
    return mean


@torch.inference_mode()
def member_scores(net: RewardNet, frames: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(K, N) reward of every ensemble member on in-memory raw frames (N, *obs_shape)."""
    frames = torch.as_tensor(frames)
    net = net.eval()
    device = net_device(net)
    out = [net(net.preprocess(frames[a:a + batch_size].to(device))).float().cpu().numpy()
           for a in range(0, len(frames), batch_size)]
    return np.concatenate(out, axis=1) if out else np.zeros((len(net.heads), 0), np.float32)
