"""The reward network r_psi: an ensemble of K members, each a registered encoder + scalar head.

    r_k(o) = head_k(encoder_k(preprocess(o)))      k = 1..K       r(o) = mean_k r_k(o)

Members share the (deterministic) preprocessing and differ by their initialisation.  The network
is plain torch, so relabeling and policies can load it without Lightning
(:func:`save_reward_net` / :func:`load_reward_net`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from orlvlmf.encoders import Encoder, build_encoder
from orlvlmf.encoders.mlp import mlp

CKPT_FORMAT = "orlvlmf.reward_net/1"


class RewardNet(nn.Module):
    """K x (encoder -> head) with outputs stacked as (K, B)."""

    def __init__(self, encoder: dict[str, Any], obs_shape: Sequence[int], ensemble: int = 3,
                 head_hidden: Sequence[int] = (), observation: str | None = None, seed: int = 0):
        super().__init__()
        if ensemble < 1:
            raise ValueError(f"reward.ensemble must be >= 1, got {ensemble}")
        self.spec = {"encoder": dict(encoder), "obs_shape": [int(s) for s in obs_shape],
                     "ensemble": int(ensemble), "head_hidden": [int(h) for h in head_hidden],
                     "observation": observation, "seed": int(seed)}
        encoders, heads = [], []
        with torch.random.fork_rng(devices=[]):
            for k in range(ensemble):
                torch.manual_seed(seed * 1009 + k)
                enc = build_encoder(obs_shape=obs_shape, observation=observation, **encoder)
                encoders.append(enc)
                heads.append(mlp([enc.out_dim, *head_hidden, 1]))
        self.encoders = nn.ModuleList(encoders)
        self.heads = nn.ModuleList(heads)

    @property
    def encoder(self) -> Encoder:
        return self.encoders[0]

    @property
    def kind(self) -> str:
        return self.encoder.kind

    def preprocess(self, raw: torch.Tensor, augment: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        return self.encoder.preprocess(raw, augment=augment, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed batch (B, ...) -> member rewards (K, B)."""
        return torch.stack([h(e(x)).squeeze(-1) for e, h in zip(self.encoders, self.heads)])

    def reward(self, raw: torch.Tensor) -> torch.Tensor:
        """Ensemble-mean reward (B,) of raw observations, no augmentation."""
        return self(self.preprocess(raw)).mean(0)


def save_reward_net(net: RewardNet, path: str | Path, extra: dict | None = None) -> None:
    """A self-describing checkpoint: architecture spec + weights (+ training summary)."""
    torch.save({"format": CKPT_FORMAT, "spec": net.spec, "state_dict": net.state_dict(),
                "extra": extra or {}}, path)


def load_reward_net(path: str | Path) -> tuple[RewardNet, dict]:
    """(network in eval mode, extra) from :func:`save_reward_net`'s file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reward checkpoint {path} not found: run `orlvlmf reward` first")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(blob, dict) or blob.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path} is not an orlvlmf reward checkpoint (expected format {CKPT_FORMAT})")
    spec = blob["spec"]
    net = RewardNet(spec["encoder"], spec["obs_shape"], spec["ensemble"], spec["head_hidden"],
                    spec.get("observation"), spec.get("seed", 0))
    net.load_state_dict(blob["state_dict"])
    return net.eval(), blob.get("extra", {})

