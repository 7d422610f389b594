"""The one MLP builder (:func:`mlp`), and the ``mlp`` encoder over state vectors (B, S) -> (B, hidden[-1]).

:func:`mlp` builds every MLP of the package: the ``mlp`` encoder, the reward model's heads, the
IQL heads (orthogonal init) and the baselines' networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch
from torch import nn

from orlvlmf.config.structured import ranged
from orlvlmf.encoders.base import Encoder
from orlvlmf.registry import register

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU,
               "mish": nn.Mish}
INITS = ("default", "orthogonal")


def mlp(sizes: Sequence[int], activation: str = "relu", *, layer_norm: bool = False,
        last_activation: bool = False, init: str = "default") -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...``, ``activation`` between them (and after the last
    one with ``last_activation``), a LayerNorm before each activation with ``layer_norm``.

    ``init``: ``default`` (PyTorch's) | ``orthogonal`` (weights orthogonal with gain sqrt 2, the
    last layer's gain 1, zero biases: the IQL reference's heads).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation '{activation}' is not one of {', '.join(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"init '{init}' is not one of {', '.join(INITS)}")
    layers: list[nn.Module] = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(int(a), int(b))
        if init == "orthogonal":
            nn.init.orthogonal_(lin.weight, math.sqrt(2) if i < n - 1 else 1.0)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < n - 1 or last_activation:
            if layer_norm:
                layers.append(nn.LayerNorm(int(b)))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


@dataclass
class MLPEncoderConfig:
    hidden: List[int] = ranged(default_factory=lambda: [256, 256], ge=1, min_items=1)
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
        self.net = mlp([self.obs_shape[0], *hidden], activation, layer_norm=layer_norm,
                       last_activation=True)
        self.out_dim = int(hidden[-1])

    def preprocess(self, raw: torch.Tensor, augment: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        return raw.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
