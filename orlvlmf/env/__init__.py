"""The Env protocol every env plugin implements, and :func:`make_env`.

Env plugins register a *spec class* in the entry-point group ``orlvlmf.envs`` (names
``cartpole``, ``drawer-open``, ``soccer``, ``rope``).  The spec class carries a ``Config``
dataclass (checked against the ``env:`` config node) and a ``make`` classmethod that imports the
simulator and returns an :class:`Env`.  Entry-point modules stay cheap: simulators are imported
inside ``make``.

Contract of an :class:`Env`::

    obs, info = env.reset(seed=0)                  # obs: dict with the requested keys only
    obs, reward, terminated, truncated, info = env.step(action)   # reward = GT reward
    info["success"]: bool                          # GT success after this step
    env.action_dim, env.state_dim, env.horizon, env.task_text, env.env_id, env.observation_keys
    env.render(size=None) -> (H, W, 3) uint8, upright
    env.expert_action(obs=None) -> action in [-1, 1]^action_dim (scripted expert)
    env.close()

Actions are always in [-1, 1]^action_dim; episodes end with ``truncated=True`` after ``horizon``
steps.  Same seed → same episode.  :mod:`orlvlmf.env.rollout` rolls a policy out in an env
(success rate, GT return): the evaluate stage and the train stage's periodic evaluation use it.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import weakref
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

OBSERVATION_KINDS = ("state", "image", "point_cloud")


def default_mujoco_gl() -> None:
    """Headless MuJoCo rendering by default: ``MUJOCO_GL=egl`` unless the user set it."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


_OPEN_ENVS: "weakref.WeakSet[Env]" = weakref.WeakSet()


def close_at_exit(env: "Env") -> None:
    """Close ``env`` at interpreter exit, before the GL libraries tear down.

    Call it right after creating a renderer: exit hooks run last-registered first, so the hook is
    moved behind the GL library's own (registered when its context was first made).
    """
    atexit.unregister(_close_open_envs)
    atexit.register(_close_open_envs)
    _OPEN_ENVS.add(env)


def _close_open_envs() -> None:
    for env in list(_OPEN_ENVS):
        try:
            env.close()
        except Exception:  # a GL context already gone: nothing left to free
            pass


class EnvError(ValueError):
    """An env cannot be built as configured; the message says what to change."""


class Env:
    """Base class of env plugins: subclasses implement ``_reset``, ``_step``, ``_state``, ``render``.

    The base class handles the requested observation keys, the horizon and action clipping.
    """

    env_id: str = "?"
    task_text: str = ""
    supported_observations: ClassVar[tuple[str, ...]] = ("state", "image")

    def __init__(self, observations: Sequence[str] = ("state", "image"), image_size: int = 128,
                 horizon: int = 100, action_dim: int = 1, state_dim: int = 1):
        obs = tuple(observations)
        bad = [k for k in obs if k not in self.supported_observations]
        if bad or not obs:
            raise EnvError(f"env '{self.env_id}' cannot observe {bad or '(nothing)'}; it supports "
                           f"{list(self.supported_observations)} (set dataset.observations)")
        if int(image_size) < 8:
            raise EnvError(f"image_size must be at least 8 pixels, got {image_size}")
        if int(horizon) < 1:
            raise EnvError(f"horizon must be a positive number of steps, got {horizon}")
        self.observation_keys = obs
        self.image_size = int(image_size)
        self.horizon = int(horizon)
        self.action_dim = int(action_dim)
        self.state_dim = int(state_dim)
        self._t = 0

    # -- to implement -------------------------------------------------------------------------
    def _reset(self, seed: int | None) -> None:
        raise NotImplementedError

    def _step(self, action: np.ndarray) -> tuple[float, bool, dict]:
        """Advance the simulator; return (GT reward, success, extra info)."""
        raise NotImplementedError

    def _state(self) -> np.ndarray:
        raise NotImplementedError

    def render(self, size: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def _point_cloud(self) -> np.ndarray:
        raise EnvError(f"env '{self.env_id}' has no point-cloud observation")

    def expert_action(self, obs: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        raise NotImplementedError(f"env '{self.env_id}' has no scripted expert")

    def close(self) -> None:
        pass

    def camera_info(self) -> dict:
        """How images are rendered (kept in dataset metadata)."""
        return {"name": "default"}

    # -- shared -------------------------------------------------------------------------------
    def observe(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for k in self.observation_keys:
            if k == "state":
                out[k] = np.asarray(self._state(), dtype=np.float32)
            elif k == "image":
                out[k] = self.render()
            elif k == "point_cloud":
                out[k] = np.asarray(self._point_cloud(), dtype=np.float32)
        return out

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
        self._t = 0
        self._reset(seed)
        return self.observe(), {"success": False}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.action_dim,):
            raise EnvError(f"env '{self.env_id}' expects an action of {self.action_dim} values in "
                           f"[-1, 1], got shape {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise EnvError(f"env '{self.env_id}': action contains NaN/inf: {a}")
        reward, success, info = self._step(np.clip(a, -1.0, 1.0))
        self._t += 1
        info = {**info, "success": bool(success)}
        truncated = self._t >= self.horizon
        return self.observe(), float(reward), False, truncated, info

    def __enter__(self) -> "Env":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EnvSpec:
    """Registered object of an env plugin: ``Config`` + ``make``; cheap to import."""

    Config: ClassVar[type]
    env_id: ClassVar[str] = "?"
    task_text: ClassVar[str] = ""
    supported_observations: ClassVar[tuple[str, ...]] = ("state", "image")
    default_horizon: ClassVar[int] = 100

    @classmethod
    def make(cls, config: Any, observations: Sequence[str], image_size: int,
             horizon: int | None) -> Env:
        raise NotImplementedError


def _config_object(spec: type, name: str, node: Mapping[str, Any]) -> Any:
    cfg_cls = getattr(spec, "Config", None)
    if cfg_cls is None:
        return dict(node)
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = [k for k in node if k not in fields]
    if unknown:
        raise EnvError(f"env '{name}' has no option(s) {unknown}; its options are {sorted(fields)}")
    return cfg_cls(**node)


def make_env(env_cfg: Any, observations: Sequence[str] = ("state", "image"), image_size: int = 128,
             horizon: int | None = None, **overrides: Any) -> Env:
    """Build the env named by ``env_cfg`` (a config node ``{name: ..., options}``, a dict or a name).

    ``overrides`` replace options of the env's ``Config``.  An unknown name raises the registry's
    error listing installed envs.
    """
    from omegaconf import DictConfig, OmegaConf

    from orlvlmf.registry import REGISTRY

    default_mujoco_gl()
    if isinstance(env_cfg, str):
        node: dict = {"name": env_cfg}
    elif isinstance(env_cfg, DictConfig):
        node = OmegaConf.to_container(env_cfg, resolve=True)
    elif isinstance(env_cfg, Mapping):
        node = dict(env_cfg)
    elif dataclasses.is_dataclass(env_cfg):
        node = dataclasses.asdict(env_cfg)
    else:
        raise EnvError(f"env config must be a name or a mapping with 'name', got {env_cfg!r}")
    node.update(overrides)
    name = node.pop("name", None)
    if not name:
        raise EnvError("the env config has no 'name'; set env.name (e.g. env.name=cartpole)")
    spec = REGISTRY.get("envs", name)
    config = _config_object(spec, name, node)
    return spec.make(config, observations=tuple(observations), image_size=int(image_size),
                     horizon=None if horizon is None else int(horizon))


__all__ = ["Env", "EnvSpec", "EnvError", "make_env", "default_mujoco_gl", "close_at_exit",
           "OBSERVATION_KINDS"]


def check_env_shapes(env: Any, action_dim: int, state_dim: int | None, what: str) -> None:
    """Refuse ``env`` when its action / state sizes differ from those of ``what`` (a dataset, a
    policy): a policy is never evaluated in a simulator it was not trained for."""
    env_state = int(env.state_dim) if getattr(env, "state_dim", None) is not None else None
    bad = int(env.action_dim) != int(action_dim) or (
        state_dim is not None and env_state is not None and env_state != int(state_dim))
    if bad:
        theirs = f"actions ({int(action_dim)},)" + (f" and states ({int(state_dim)},)"
                                                     if state_dim is not None else "")
        raise EnvError(f"env '{env.env_id}' has actions ({int(env.action_dim)},) and states "
                       f"({env_state},), but {what} has {theirs}: set env to the simulator the data "
                       f"came from, or drop env (and the stages that need it) for data without one")
