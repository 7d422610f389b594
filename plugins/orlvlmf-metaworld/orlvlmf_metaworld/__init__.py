"""orlvlmf env plugins ``metaworld`` (any MetaWorld v3 task) and the presets ``drawer-open`` and
``soccer`` (RL-VLM-F's set-up of two of them).

Entry points are the spec classes here (cheap); metaworld/mujoco are imported in ``env.py``.
``env: {name: metaworld, task: door-open-v3}`` runs any of metaworld's 50 v3 tasks with its
default hand start, the ``auto`` camera and metaworld's success test; the presets keep the hand
starts, cameras, jitter ranges and success tests below (and give the same episodes as before the
generic env existed: tests/plugins/test_metaworld.py checks hashes of collected episodes).

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


@dataclass
class MetaWorldConfig:
    """Options of ``metaworld``: any MetaWorld v3 task (``orlvlmf_metaworld.tasks.TASK_TEXTS``)."""

    task: str = "???"  # e.g. door-open-v3 (or door-open); required
    hand_init: Optional[List[float]] = None  # hand start (x, y, z); None: the task's own
    jitter: bool = False  # object/goal positions drawn per episode from the random reset space
    jitter_low: Optional[List[float]] = None  # replace that space's bounds (the task's size);
    jitter_high: Optional[List[float]] = None  # (without jitter: one draw from it, seeded 0)
    camera: str = "auto"  # "auto" (frames hand, objects, goal), "rlvlmf" (drawer/soccer) or a metaworld camera
    success_threshold: Optional[float] = ranged(None, gt=0)  # success when obj_to_target <= this; None: metaworld's test
    render_samples: int = ranged(0, ge=0)  # MSAA samples (0: off, ≈2× faster on CPU GL; metaworld uses 4)


class _MetaWorldSpec(EnvSpec):
    task: str = ""
    supported_observations = ("state", "image")
    default_horizon = 500

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=128, horizon=None):
        from orlvlmf_metaworld.env import MetaWorldEnv

        return MetaWorldEnv(cls.task, config, env_id=cls.env_id, task_text=cls.task_text, preset=True,
                            observations=observations, image_size=image_size,
                            horizon=horizon or cls.default_horizon)


class MetaWorldSpec(EnvSpec):
    """Any MetaWorld v3 task, chosen by ``env.task``."""

    Config = MetaWorldConfig
    env_id = "metaworld"
    supported_observations = ("state", "image")
    default_horizon = 500

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=128, horizon=None):
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        from orlvlmf_metaworld.env import MetaWorldEnv
        from orlvlmf_metaworld.tasks import TASK_TEXTS, resolve_task

        task = resolve_task(config.task, ALL_V3_ENVIRONMENTS)
        text = TASK_TEXTS.get(task, "to do the task " + task.removesuffix("-v3").replace("-", " "))
        return MetaWorldEnv(task, config, env_id=f"metaworld/{task}", task_text=text, preset=False,
                            observations=observations, image_size=image_size,
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
