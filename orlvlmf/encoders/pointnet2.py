"""``pointnet2``: PointNet++ (Qi et al. 2017, single-scale grouping) in plain torch.

    cloud (B, n, 3 + F)
      -> SA_l: centres = FPS(xyz, npoint_l); for each centre c, the first ``nsample`` points within
               ``radius_l`` (ball query, in index order, padded with the first hit);
               f_c = max_k MLP_l([p_k - c, f_k])                       (l = 1 .. L)
      -> global SA: g = max_k MLP_g([p_k, f_k]) over the last centres  -> (B, out_dim)

Farthest point sampling starts from point 0 of each cloud, so the encoder is a deterministic
function of its input and weights (weights are set by the torch seed).  Everything is batched;
no compiled extension is needed (torch-points3d does not build on torch 2.x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch
from torch import nn

from orlvlmf.encoders import preprocess as pp
from orlvlmf.config.structured import ranged
from orlvlmf.encoders.base import Encoder
from orlvlmf.registry import register


def farthest_point_sample(xyz: torch.Tensor, npoint: int) -> torch.Tensor:
    """Indices (B, npoint) of iterative farthest points: s_0 = 0, s_j = argmax_i min_{k<j} |x_i - x_{s_k}|²."""
    b, n, _ = xyz.shape
    if npoint > n:
        raise ValueError(f"cannot sample {npoint} centres from {n} points; lower npoint or raise num_points")
    idx = torch.zeros(b, npoint, dtype=torch.long, device=xyz.device)
    mind = torch.full((b, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    bi = torch.arange(b, device=xyz.device)
    far = torch.zeros(b, dtype=torch.long, device=xyz.device)
    for j in range(npoint):
        idx[:, j] = far
        centre = xyz[bi, far].unsqueeze(1)  # (B, 1, 3)
        torch.minimum(mind, ((xyz - centre) ** 2).sum(-1), out=mind)
        far = mind.argmax(dim=1)
    return idx


def ball_query(xyz: torch.Tensor, centres: torch.Tensor, radius: float, nsample: int) -> torch.Tensor:
    """Indices (B, S, nsample): per centre the first ``nsample`` points (by index) with |x - c|² <= r²,
    the list padded with its first entry.  A centre taken from ``xyz`` always finds itself."""
    b, n, _ = xyz.shape
    d2 = torch.cdist(centres, xyz).pow_(2)  # (B, S, N)
    inside = d2 <= radius * radius
    order = torch.arange(n, device=xyz.device).expand_as(d2)
    key = torch.where(inside, order, torch.full_like(order, n))  # outside points sort last
    k = min(nsample, n)
    first = key.topk(k, dim=-1, largest=False, sorted=True).values  # (B, S, k)
    if k < nsample:
        first = torch.cat([first, first.new_full((*first.shape[:2], nsample - k), n)], dim=-1)
    pad = first[..., :1].expand_as(first)
    first = torch.where(first == n, pad, first)
    # a centre with no neighbour at all (not from xyz) keeps its nearest point
    nearest = d2.argmin(dim=-1, keepdim=True).expand_as(first)
    return torch.where(first == n, nearest, first)


def gather_points(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, N, C), idx (B, ...) -> (B, ..., C)."""
    b, c = x.shape[0], x.shape[-1]
    flat = idx.reshape(b, -1)
    out = torch.gather(x, 1, flat[..., None].expand(b, flat.shape[1], c))
    return out.reshape(*idx.shape, c)


class SharedMLP(nn.Sequential):
    """1x1 convolutions + BatchNorm + ReLU over (B, C, S, K)."""

    def __init__(self, sizes: Sequence[int]):
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Conv2d(a, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class SetAbstraction(nn.Module):
    """One PointNet++ SA level (``npoint=None``: group all points, the global level)."""

    def __init__(self, npoint: int | None, radius: float, nsample: int, in_ch: int, mlp: Sequence[int]):
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.mlp = SharedMLP([in_ch + 3, *mlp])
        self.out_ch = mlp[-1]

    def forward(self, xyz: torch.Tensor, feat: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.npoint is None:
            grouped = xyz.unsqueeze(1)  # (B, 1, N, 3)
            if feat is not None:
                grouped = torch.cat([grouped, feat.unsqueeze(1)], dim=-1)
            centres = xyz.new_zeros(xyz.shape[0], 1, 3)
        else:
            centres = gather_points(xyz, farthest_point_sample(xyz, self.npoint))  # (B, S, 3)
            idx = ball_query(xyz, centres, self.radius, self.nsample)  # (B, S, K)
            grouped = gather_points(xyz, idx) - centres.unsqueeze(2)
            if feat is not None:
                grouped = torch.cat([grouped, gather_points(feat, idx)], dim=-1)
        h = self.mlp(grouped.permute(0, 3, 1, 2))  # (B, C, S, K)
        return centres, h.amax(dim=-1).transpose(1, 2)  # (B, S, C)


@dataclass
class PointNet2EncoderConfig:
    num_points: int = ranged(512, ge=1)  # fixed cloud size after preprocessing
    npoints: List[int] = ranged(default_factory=lambda: [128, 32], ge=1, min_items=1)  # centres per SA level
    radii: List[float] = ranged(default_factory=lambda: [0.1, 0.2], gt=0, min_items=1)  # in the cloud's units (m)
    nsamples: List[int] = ranged(default_factory=lambda: [32, 32], ge=1, min_items=1)
    mlps: List[List[int]] = field(default_factory=lambda: [[32, 32, 64], [64, 64, 128]])
    global_mlp: List[int] = ranged(default_factory=lambda: [128, 256], ge=1, min_items=1)
    use_features: bool = True  # channels beyond xyz enter SA_1 as point features


@register("encoders", "pointnet2", config=PointNet2EncoderConfig)
class PointNet2Encoder(Encoder):
    """PointNet++ trunk over (B, n, 3 + F) centred clouds -> (B, global_mlp[-1])."""

    kind = "point_cloud"

    def __init__(self, obs_shape: Sequence[int], num_points: int = 512,
                 npoints: Sequence[int] = (128, 32), radii: Sequence[float] = (0.1, 0.2),
                 nsamples: Sequence[int] = (32, 32),
                 mlps: Sequence[Sequence[int]] = ((32, 32, 64), (64, 64, 128)),
                 global_mlp: Sequence[int] = (128, 256), use_features: bool = True):
        super().__init__(obs_shape)
        if len(self.obs_shape) != 2 or self.obs_shape[1] < 3:
            raise self.reject("a point cloud is (points, 3 + features)")
        if not (len(npoints) == len(radii) == len(nsamples) == len(mlps)):
            raise ValueError("encoder 'pointnet2': npoints, radii, nsamples and mlps need one entry per level")
        if list(npoints) != sorted(npoints, reverse=True) or (npoints and npoints[0] > num_points):
            raise ValueError(f"encoder 'pointnet2': npoints {list(npoints)} must decrease and not exceed "
                             f"num_points={num_points}")
        self.num_points = int(num_points)
        self.n_feat = self.obs_shape[1] - 3 if use_features else 0
        levels, ch = [], self.n_feat
        for s, r, k, m in zip(npoints, radii, nsamples, mlps):
            levels.append(SetAbstraction(int(s), float(r), int(k), ch, list(m)))
            ch = m[-1]
        levels.append(SetAbstraction(None, 0.0, 0, ch, list(global_mlp)))
        self.levels = nn.ModuleList(levels)
        self.out_dim = int(global_mlp[-1])

    def preprocess(self, raw: torch.Tensor, augment: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        if raw.dim() != 3 or raw.shape[-1] != self.obs_shape[1]:
            raise self.reject(f"a batch of shape {tuple(raw.shape)} does not hold clouds of shape {self.obs_shape}")
        x = pp.center_points(raw.float())
        x = pp.sample_points(x, self.num_points, augment=augment, generator=generator)
        return x if self.n_feat else x[..., :3].contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xyz, feat = x[..., :3], (x[..., 3:] if self.n_feat else None)
        for level in self.levels:
            xyz, feat = level(xyz, feat)
        return feat.squeeze(1)
