"""orlvlmf env plugins ``drawer-open`` and ``soccer`` (MetaWorld v3 tasks).

Entry points are the spec classes here (cheap); metaworld/mujoco are imported in ``env.py``.

Start poses (measured with 40 uniformly random 500-step episodes each, see docs/envs/README.md):
the drawer hand starts at RL-VLM-F's (0, 0.75, 0.15): from metaworld's default (0, 0.6, 0.2)
random play moved the drawer >=2 cm in 2/40 episodes, from (0, 0.75, 0.15) in 23/40.  The soccer
hand starts at (0, 0.5, 0.1), low and behind the ball: from the default (0, 0.6, 0.2) random play
moved the ball >=2 cm in 2/40 episodes, from (0, 0.5, 0.1) in 14/40 (2/40 scored), from
(0, 0.55, 0.05) in 40/40 (9/40 scored, too close to a solved task).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from orlvlmf.config import ranged
from orlvlmf.env import EnvSpec

DRAWER_HAND_INIT = [0.0, 0.75, 0.15]
SOCCER_HAND_INIT = [0.0, 0.5, 0.1]


@dataclass
class DrawerOpenConfig:
    """Options of ``drawer-open`` (metaworld ``drawer-open-v3``)."""

    hand_init: List[float] = field(default_factory=lambda: list(DRAWER_HAND_INIT))
    jitter: bool = False  # random drawer x in ±0.05 per episode (fixed position by default)
    camera: str = "rlvlmf"  # "rlvlmf" (corner view cropped to drawer and arm) or a metaworld camera
    success_threshold: Optional[float] = ranged(None, gt=0)  # None: metaworld's own success test
    render_samples: int = ranged(0, ge=0)  # MSAA samples (0: off, ≈2× faster on CPU GL; metaworld uses 4)


@dataclass
class SoccerConfig:
    """Options of ``soccer`` (metaworld ``soccer-v3``)."""

    hand_init: List[float] = field(default_factory=lambda: list(SOCCER_HAND_INIT))
    jitter: bool = False  # ball x ±0.05, y 0.6–0.7; goal x ±0.05, y 0.8–0.9 per episode
    camera: str = "rlvlmf"  # "rlvlmf" (high corner view of ball and goal) or a metaworld camera
    success_threshold: Optional[float] = ranged(None, gt=0)  # ball–goal distance; None: metaworld's 0.07
    render_samples: int = ranged(0, ge=0)  # MSAA samples (0: off, ≈2× faster on CPU GL; metaworld uses 4)


class _MetaWorldSpec(EnvSpec):
    task: str = ""
    supported_observations = ("state", "image")
    default_horizon = 500

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=128, horizon=None):
        from orlvlmf_metaworld.env import MetaWorldEnv

        return MetaWorldEnv(cls, config, observations=observations, image_size=image_size,
                            horizon=horizon or cls.default_horizon)


class DrawerOpenSpec(_MetaWorldSpec):
    Config = DrawerOpenConfig
    env_id = "drawer-open"
    task = "drawer-open-v3"
    task_text = "to open the drawer"


class SoccerSpec(_MetaWorldSpec):
    Config = SoccerConfig
    env_id = "soccer"
    task = "soccer-v3"
    task_text = "to move the soccer ball into the goal"
