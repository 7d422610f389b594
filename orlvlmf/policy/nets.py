"""The IQL networks: value V_psi(s), twin Q_theta(s, a), Gaussian actor pi_phi(a | s).

Observation encoders come from the registry (kind ``encoders``, uniform constructor
``REGISTRY.create("encoders", name, obs_shape, **options)``), one instance per net:

* a *state* encoder (``mlp``) is the whole body: V = W·mlp(s), Q = W·mlp([s, a]),
  mu = tanh(W·mlp(s)), so with ``hidden: [256, 256]`` each net is the IQL paper's 2×256 MLP;
* image / point-cloud encoders (``resnet``, ``pointnet2``) give features f(o); heads are MLPs
  with ``head_hidden`` layers: V = h(f), Q = h([f, a]), mu = tanh(h(f)).

Heads are :func:`orlvlmf.encoders.mlp.mlp` with orthogonal init.  Actor: tanh-squashed *mean*
(not a squashed distribution) and a state-independent ``log sigma`` clipped to
``[log_std_min, log_std_max]``; its log-density is :func:`orlvlmf.policy.gaussian.log_prob`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from orlvlmf.encoders import build_encoder
from orlvlmf.encoders.mlp import mlp
from orlvlmf.registry import REGISTRY



class Net(nn.Module):
    """``out(body(x))`` where x is the observation (plus the action for Q).

    ``concat_input`` (state encoders): x = [o, a] goes through the encoder;
    otherwise the action joins the encoder's features: out([f(o), a]).
    """

    def __init__(self, encoder_node: dict, obs_shape: Sequence[int], observation: str,
                 action_dim: int, out_dim: int, head_hidden: Sequence[int], with_action: bool):
        super().__init__()
        self.with_action = with_action
        self.concat_input = getattr(REGISTRY.get("encoders", encoder_node["name"]), "kind",
                                    None) == "state"
        if self.concat_input:
            if len(obs_shape) != 1:
                raise ValueError(f"encoder '{encoder_node['name']}' takes flat state vectors but "
                                 f"observation '{observation}' has shape {tuple(obs_shape)}; pick "
                                 f"policy.encoder resnet (images) or pointnet2 (point clouds)")
            in_shape = (obs_shape[0] + (action_dim if with_action else 0),)
            self.encoder = build_encoder(obs_shape=in_shape, observation=observation, **encoder_node)
            self.head = mlp([self.encoder.out_dim, out_dim], init="orthogonal")
        else:
            self.encoder = build_encoder(obs_shape=obs_shape, observation=observation, **encoder_node)
            feat = self.encoder.out_dim + (action_dim if with_action else 0)
            self.head = mlp([feat, *head_hidden, out_dim], init="orthogonal")

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None) -> torch.Tensor:
        if self.concat_input:
            x = torch.cat([obs, act], -1) if self.with_action else obs
            return self.head(self.encoder(x))
        f = self.encoder(self.encoder.preprocess(obs))
        if self.with_action:
            f = torch.cat([f, act], -1)
        return self.head(f)


class ValueNet(nn.Module):
    def __init__(self, encoder: dict, obs_shape, observation: str, head_hidden: Sequence[int]):
        super().__init__()
        self.net = Net(encoder, obs_shape, observation, 0, 1, head_hidden, with_action=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


class TwinQ(nn.Module):
    """Two independent Q nets; ``forward`` returns both (B,) estimates."""

    def __init__(self, encoder: dict, obs_shape, observation: str, action_dim: int,
                 head_hidden: Sequence[int]):
        super().__init__()
        self.q1 = Net(encoder, obs_shape, observation, action_dim, 1, head_hidden, with_action=True)
        self.q2 = Net(encoder, obs_shape, observation, action_dim, 1, head_hidden, with_action=True)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.q1.concat_input:  # one concat shared by both nets
            x = torch.cat([obs, act], -1)
            return (self.q1.head(self.q1.encoder(x)).squeeze(-1),
                    self.q2.head(self.q2.encoder(x)).squeeze(-1))
        return self.q1(obs, act).squeeze(-1), self.q2(obs, act).squeeze(-1)


class GaussianActor(nn.Module):
    def __init__(self, encoder: dict, obs_shape, observation: str, action_dim: int,
                 head_hidden: Sequence[int], log_std_min: float = -5.0, log_std_max: float = 2.0):
        super().__init__()
        self.net = Net(encoder, obs_shape, observation, 0, action_dim, head_hidden, with_action=False)
        self.log_std = nn.Parameter(torch.zeros(action_dim))
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std): mean = tanh(net(o)) in (-1, 1), log_std clipped, shape (A,)."""
        return torch.tanh(self.net(obs)), self.log_std.clamp(self.log_std_min, self.log_std_max)
