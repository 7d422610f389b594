"""orlvlmf env plugin ``rope``: straighten a crumpled rope with two pickers (MuJoCo cable).

Entry point :class:`RopeSpec` is cheap to import; mujoco is imported in ``env.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from orlvlmf.env import EnvSpec


@dataclass
class RopeConfig:
    """Options of the ``rope`` env (defaults follow SoftGym's RopeFlattenEasy where they can)."""

    segments: int = 40  # capsules of the cable
    length: float = 0.5  # rope length L (m)
    radius: float = 0.0125  # capsule radius (m)
    action_repeat: int = 6  # picker sub-moves per env step
    physics_steps: int = 4  # MuJoCo steps (4 ms) per sub-move
    max_move: float = 0.03  # picker displacement (m) per env step at |action| = 1, per axis
    crumple: float = 0.6  # std (rad) of the random turn between segments at reset
    max_start_ratio: float = 0.6  # random starts have end-to-end distance < this × L
    point_cloud_points: int = 0  # 0: segment vertices (segments + 1); more: densified along the rope
    point_cloud_noise: float = 0.0  # std (m) of Gaussian noise added to point-cloud points
    render_samples: int = 0  # MSAA samples (0: off, ≈2× faster on CPU GL; MuJoCo's default is 4)


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
