"""``t_reach``: a tiny 1-D reaching env for the end-to-end quality test (no simulator, no images).

State (p, c) in [-1, 1]^2: p the hand, c the goal (drawn per episode, fixed within it); the action
moves the hand, p' = clip(p + 0.4 a, -1, 1).  GT reward of a step = -|p' - c| (a function of the
next state only, like the labeler's view of o'_i); success when |p' - c| < 0.1.  Episodes are
``horizon`` steps (default 20) and end with a timeout.  Registered on import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orlvlmf.env import Env, EnvSpec
from orlvlmf.registry import REGISTRY

STEP = 0.4


@dataclass
class ReachConfig:
    goal_range: float = 0.8


class ReachEnv(Env):
    env_id = "t_reach"
    task_text = "move the hand onto the goal"
    supported_observations = ("state", "image")

    def __init__(self, config: ReachConfig, observations=("state",), image_size=16, horizon=20):
        super().__init__(observations, max(8, image_size), horizon, action_dim=1, state_dim=2)
        self.cfg = config
        self.p = self.c = 0.0
        self._rng = np.random.default_rng()

    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.p = float(self._rng.uniform(-1, 1))
        self.c = float(self._rng.uniform(-self.cfg.goal_range, self.cfg.goal_range))

    def _state(self):
        return np.array([self.p, self.c], np.float32)

    def _step(self, action):
        self.p = float(np.clip(self.p + STEP * action[0], -1.0, 1.0))
        dist = abs(self.p - self.c)
        return -dist, dist < 0.1, {}

    def expert_action(self, obs=None):
        return np.clip([(self.c - self.p) / STEP], -1.0, 1.0).astype(np.float32)

    def render(self, size=None):
        size = int(size or self.image_size)
        img = np.zeros((size, size, 3), np.uint8)
        col = lambda v: int(round((v + 1) / 2 * (size - 1)))  # noqa: E731
        img[: size // 2, col(self.c), 1] = 255
        img[size // 2:, col(self.p), 0] = 255
        return img


class ReachSpec(EnvSpec):
    Config = ReachConfig
    env_id = "t_reach"
    task_text = ReachEnv.task_text
    supported_observations = ReachEnv.supported_observations
    default_horizon = 20

    @classmethod
    def make(cls, config, observations=("state",), image_size=16, horizon=None):
        return ReachEnv(config, observations, image_size, horizon or cls.default_horizon)


if "t_reach" not in REGISTRY.names("envs"):
    REGISTRY.register("envs", "t_reach")(ReachSpec)
