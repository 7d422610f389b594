"""Batched no-grad scoring with a :class:`RewardNet` (used by training metrics and relabeling)."""

from __future__ import annotations

import contextlib
import copy
import logging
import queue
import threading
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from orlvlmf.reward.model import RewardNet

log = logging.getLogger("orlvlmf")


def inference_copy(net: RewardNet, channels_last: bool = True, fuse: bool = True) -> RewardNet:
    """A copy of ``net`` for scoring: eval mode, BatchNorm folded into the preceding convolutions
    (w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta; same function up to
    float rounding), channels-last memory for image nets.  ``net`` itself is left untouched."""
    net = copy.deepcopy(net).eval()
    if fuse:
        from torch.fx.experimental.optimization import fuse as fx_fuse

        for enc in net.encoders:
            trunk = getattr(enc, "trunk", None)
            if isinstance(trunk, nn.Module):
                try:
                    enc.trunk = fx_fuse(trunk)
                except Exception as err:  # a model fx cannot trace: score it unfused
                    log.debug("conv-bn folding skipped for %s: %s", type(trunk).__name__, err)
    if channels_last and net.kind == "image":
        net.to(memory_format=torch.channels_last)
    return net


def _member_scores(net: RewardNet, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return net(x)  # (K, B)


def prefetched(batches: Iterator, enabled: bool = True, depth: int = 2) -> Iterator:
    """Yield ``batches`` while a background thread already produces the next ones."""
    if not enabled:
        yield from batches
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in batches:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as err:  # surfaces in the consumer
            q.put(err)

    t = threading.Thread(target=work, name="orlvlmf-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            t.join(timeout=0.05)


@torch.inference_mode()
def score_batches(net: RewardNet, read: Callable[[int, int], np.ndarray], n: int, batch_size: int = 256,
                  prefetch: bool = True, channels_last: bool = True, fuse: bool = True,
                  bf16: bool = False, on_batch: Callable[[int], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and std of r over items ``read(a, b)`` for ``a:b`` in batches covering ``0:n``.

    ``read`` returns raw observations; it and the preprocessing run in the prefetch thread.
    ``bf16`` autocasts the network to bfloat16 (CPUs with AVX512-BF16/AMX; ~1e-2 relative error).
    ``on_batch(k)`` is called after each batch of ``k`` items (a progress bar).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model = inference_copy(net, channels_last, fuse)

    def produce():
        for a in range(0, n, batch_size):
            b = min(n, a + batch_size)
            with torch.inference_mode():
                x = net.preprocess(torch.as_tensor(read(a, b)))
            yield a, b, x

    mean = np.empty(n, np.float32)
    std = np.empty(n, np.float32)
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    for a, b, x in prefetched(produce(), prefetch):
        with amp:
            r = _member_scores(model, x, channels_last).float()
        mean[a:b] = r.mean(0).numpy()
        std[a:b] = (r.std(0, unbiased=False) if r.shape[0] > 1 else torch.zeros_like(r[0])).numpy()
        if on_batch is not None:
            on_batch(b - a)
    return mean, std


def score_frames(net: RewardNet, frames: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Ensemble-mean reward of in-memory raw frames (N, *obs_shape)."""
    frames = torch.as_tensor(frames)
    mean, _ = score_batches(net, lambda a, b: frames[a:b], len(frames), batch_size, prefetch=False,
                            channels_last=False, fuse=False)
    return mean


@torch.inference_mode()
def member_scores(net: RewardNet, frames: torch.Tensor | np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(K, N) reward of every ensemble member on in-memory raw frames (N, *obs_shape)."""
    frames = torch.as_tensor(frames)
    net = net.eval()
    out = [net(net.preprocess(frames[a:a + batch_size])).float().numpy()
           for a in range(0, len(frames), batch_size)]
    return np.concatenate(out, axis=1) if out else np.zeros((len(net.heads), 0), np.float32)
