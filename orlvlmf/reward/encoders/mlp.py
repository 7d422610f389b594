"""``mlp``: an MLP over state vectors, (B, S) -> (B, hidden[-1])."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch

from orlvlmf.registry import register
from orlvlmf.reward.encoders.base import Encoder, mlp


@dataclass
class MLPEncoderConfig:
    hidden: List[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    layer_norm: bool = False


@register("encoders", "mlp", config=MLPEncoderConfig)
class MLPEncoder(Encoder):
    """h = act(W_L ... act(W_1 s + b_1) ... + b_L); ``out_dim = hidden[-1]``."""

    kind = "state"

    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int] = (256, 256),
                 activation: str = "relu", layer_norm: bool = False):
        super().__init__(obs_shape)
        if len(self.obs_shape) != 1:
            raise self.reject("a state is one flat vector")
        if not hidden:
            raise ValueError("encoder 'mlp' needs at least one hidden layer size (hidden: [256, 256])")
        self.net = mlp([self.obs_shape[0], *hidden], activation, layer_norm, last_activation=True)
        self.out_dim = int(hidden[-1])

    def preprocess(self, raw: torch.Tensor, augment: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        return raw.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
