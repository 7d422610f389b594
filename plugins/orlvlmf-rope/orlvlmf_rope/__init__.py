"""orlvlmf env plugin ``rope``: straighten a crumpled rope with two pickers (MuJoCo cable).

Entry point :class:`RopeSpec` is cheap to import; mujoco is imported in ``env.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from orlvlmf.config import ranged
from orlvlmf.env import EnvSpec


@dataclass
class RopeConfig:
    """Options of the ``rope`` env (defaults follow SoftGym's RopeFlattenEasy where they can)."""

    segments: int = ranged(40, ge=2)  # capsules of the cable
    length: float = ranged(0.5, gt=0)  # rope length L (m)
    radius: float = ranged(0.0125, gt=0)  # capsule radius (m)
    action_repeat: int = ranged(6, ge=1)  # picker sub-moves per env step
    physics_steps: int = ranged(4, ge=1)  # MuJoCo steps (4 ms) per sub-move
    max_move: float = ranged(0.03, gt=0)  # picker displacement (m) per env step at |action| = 1, per axis
    crumple: float = ranged(0.6, ge=0)  # std (rad) of the random turn between segments at reset
    max_start_ratio: float = ranged(0.6, gt=0, le=1)  # random starts have end-to-end distance < this × L
    point_cloud_points: int = ranged(0, ge=0)  # 0: segment vertices (segments + 1); more: densified along the rope
    point_cloud_noise: float = ranged(0.0, ge=0)  # std (m) of Gaussian noise added to point-cloud points
    render_samples: int = ranged(0, ge=0)  # MSAA samples (0: off, ≈2× faster on CPU GL; MuJoCo's default is 4)


class RopeSpec(EnvSpec):
    Config = RopeConfig
    env_id = "rope"
    task_text = "to straighten the blue rope"
    supported_observations = ("state", "image", "point_cloud")
    default_horizon = 40

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=128, horizon=None):
        from orlvlmf_rope.env import RopeEnv

        return RopeEnv(config, observations=observations, image_size=image_size,
                       horizon=horizon or cls.default_horizon)
