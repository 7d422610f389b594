"""Observation preprocessing shared by reward training, relabeling and the policy learners.

Every encoder calls these in its ``preprocess`` so a frame is turned into network input the same
way wherever it is scored.  Augmentation (``augment=True``) is for training only; without it the
result is a deterministic function of the frame alone (independent of batching).

Images  (B, H, W, C) uint8  ->  (B, C, h, w) float:  x/255, resized to h x w (bilinear,
        antialiased), optional random shift (replicate-pad by ``s`` px, random crop back to h x w,
        one offset per sample), then (x - mean) / std.
Points  (B, P, D) float  ->  (B, n, D):  xyz centred on the cloud's mean (extra channels kept),
        then a fixed count n: evenly spaced points (eval) or a random subset (training); clouds
        with P < n repeat points.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def images_to_float(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W, C) uint8 -> (B, C, H, W) float in [0, 1]."""
    if x.dim() != 4:
        raise ValueError(f"images must be a (batch, height, width, channels) array, got shape {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2)
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def resize(x: torch.Tensor, size: int | Sequence[int] | None) -> torch.Tensor:
    """Bilinear resize of (B, C, H, W) to ``size`` (int = square); ``None`` or same size: as is."""
    if size is None:
        return x
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == hw:
        return x
    down = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=down)


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DrQ-style augmentation: replicate-pad (B, C, H, W) by ``pad`` and crop back at a random offset."""
    if pad <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    off = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator, device="cpu").to(x.device)
    rows = off[:, 0:1] + torch.arange(h, device=x.device)  # (B, H)
    cols = off[:, 1:2] + torch.arange(w, device=x.device)  # (B, W)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(x - mean) / std per channel; a single value applies to every channel."""
    c = x.shape[1]
    m = torch.as_tensor(list(mean) * (c if len(mean) == 1 else 1), dtype=x.dtype, device=x.device)
    s = torch.as_tensor(list(std) * (c if len(std) == 1 else 1), dtype=x.dtype, device=x.device)
    if m.numel() != c or s.numel() != c:
        raise ValueError(f"normalisation mean/std have {len(mean)}/{len(std)} values for {c} channels")
    return (x - m.view(1, c, 1, 1)) / s.view(1, c, 1, 1)


def center_points(x: torch.Tensor) -> torch.Tensor:
    """Subtract each cloud's mean xyz (first three channels) from its xyz."""
    xyz = x[..., :3]
    centred = xyz - xyz.mean(dim=-2, keepdim=True)
    return torch.cat([centred, x[..., 3:]], dim=-1) if x.shape[-1] > 3 else centred


def sample_points(
    x: torch.Tensor, n: int, augment: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, P, D) -> (B, n, D): evenly spaced points, or a random subset per cloud when augmenting."""
    b, p, d = x.shape
    if p == n and not augment:
        return x
    if augment:
        if p >= n:
            idx = torch.rand(b, p, generator=generator).argsort(dim=1)[:, :n]
        else:
            idx = torch.randint(0, p, (b, n), generator=generator)
    else:
        idx = torch.floor(torch.arange(n, dtype=torch.float64) * (p / n)).long().clamp_(max=p - 1)
        idx = idx.expand(b, n)
    idx = idx.to(x.device)
    return torch.gather(x, 1, idx[:, :, None].expand(b, n, d))
