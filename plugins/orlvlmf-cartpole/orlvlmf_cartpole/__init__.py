"""orlvlmf env plugin ``cartpole``: the continuous Cartpole variant of RL-VLM-F.

The entry point is :class:`CartpoleSpec` (cheap to import); the simulator is in ``env.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from orlvlmf.config import ranged
from orlvlmf.env import EnvSpec


@dataclass
class CartpoleConfig:
    """Options of the ``cartpole`` env (defaults: RL-VLM-F's variant)."""

    force_per_unit: float = ranged(10.0, gt=0)  # N of horizontal force per unit of action
    max_angle_deg: float = ranged(30.0, gt=0, le=180)  # pole angle clamped to ±this (no failure termination)
    x_limit: float = ranged(1.92, gt=0)  # cart position clamped to ±this
    init_noise: float = ranged(0.05, ge=0)  # initial state ~ U(-init_noise, init_noise)^4


class CartpoleSpec(EnvSpec):
    Config = CartpoleConfig
    env_id = "cartpole"
    task_text = "to balance the brown pole on the black cart to be upright"
    supported_observations = ("state", "image")
    default_horizon = 100

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=200, horizon=None):
        from orlvlmf_cartpole.env import CartpoleEnv

        return CartpoleEnv(config, observations=observations, image_size=image_size,
                           horizon=horizon or cls.default_horizon)
