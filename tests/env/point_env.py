"""A complete, minimal env plugin (docs/envs/writing_a_plugin.md walks through it).

``point``: a dot on a unit square must reach a goal.  State (x, y, goal x, goal y); action (dx, dy)
in [-1, 1]² moves the dot by ``step_size`` · a; GT reward −‖dot − goal‖; success within
``success_radius``.  Images are drawn with numpy (no simulator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orlvlmf.config import ranged
from orlvlmf.env import Env, EnvError, EnvSpec


@dataclass
class PointConfig:
    """Options of ``point`` (the ``env:`` node of a run config is checked against these)."""

    step_size: float = ranged(0.05, gt=0)
    success_radius: float = ranged(0.05, gt=0)


class PointEnv(Env):
    env_id = "point"
    task_text = "to move the red dot onto the green dot"
    supported_observations = ("state", "image")

    def __init__(self, config, observations=("state", "image"), image_size=64, horizon=50):
        if config.step_size <= 0:
            raise EnvError(f"env.step_size must be positive, got {config.step_size}")
        super().__init__(observations, image_size, horizon, action_dim=2, state_dim=4)
        self.cfg = config
        self._rng = np.random.default_rng()
        self._pos = np.zeros(2)
        self._goal = np.zeros(2)

    def _reset(self, seed):
        if seed is not None:  # every random draw of an episode comes from this generator
            self._rng = np.random.default_rng(seed)
        self._pos = self._rng.uniform(0.1, 0.9, 2)
        self._goal = self._rng.uniform(0.1, 0.9, 2)

    def _step(self, action):  # action: already clipped to [-1, 1], shape (action_dim,)
        self._pos = np.clip(self._pos + self.cfg.step_size * action, 0.0, 1.0)
        dist = float(np.linalg.norm(self._pos - self._goal))
        return -dist, dist <= self.cfg.success_radius, {"distance": dist}

    def _state(self):
        return np.concatenate([self._pos, self._goal])

    def render(self, size=None):
        size = int(size or self.image_size)
        img = np.full((size, size, 3), 230, np.uint8)
        yy, xx = np.mgrid[0:size, 0:size] / size
        for (x, y), colour in ((self._goal, (40, 170, 60)), (self._pos, (200, 30, 30))):
            img[(xx - x) ** 2 + (yy - (1 - y)) ** 2 < 0.004] = colour
        return img

    def expert_action(self, obs=None):
        return np.clip((self._goal - self._pos) / self.cfg.step_size, -1, 1).astype(np.float32)


class PointSpec(EnvSpec):
    Config = PointConfig
    env_id = "point"
    task_text = PointEnv.task_text
    supported_observations = ("state", "image")
    default_horizon = 50

    @classmethod
    def make(cls, config, observations=("state", "image"), image_size=64, horizon=None):
        return PointEnv(config, observations, image_size, horizon or cls.default_horizon)
