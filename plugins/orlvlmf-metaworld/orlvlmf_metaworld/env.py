"""MetaWorld v3 tasks as orlvlmf envs: fixed-length episodes, chosen camera views, fast rendering.

* Episodes last ``horizon`` steps; success does not end them (``info["success"]`` reports it).
* State = metaworld's 39-d observation with the goal visible; GT reward = metaworld's reward (0–10).
* Rendering uses one ``mujoco.Renderer`` at the requested size with shadows and reflections off
  and no multisampling by default (``render_samples``).
* Object and goal positions come from metaworld's "rand vec" (the task's random reset space).
  Without jitter every episode starts from one fixed vector; with jitter it is drawn per episode
  from the env's own seeded generator, so the same reset seed gives the same episode.

Two families share this class:

* the presets ``drawer-open`` and ``soccer`` (RL-VLM-F's set-up): fixed vector = metaworld's
  default object (and goal) position; jitter = RL-VLM-F's ranges (drawer x ±0.05; ball x ±0.05,
  y 0.6–0.7 and goal x ±0.05, y 0.8–0.9, redrawn until ball and goal are ≥ 0.15 apart, the
  distance soccer's reset insists on); ``rlvlmf`` cameras; success thresholds on the drawer
  handle's / ball's distance to the target.
* the generic ``metaworld`` env (any task): fixed vector = metaworld's own draw from the task's
  random reset space (or ``jitter_low``/``jitter_high``) with a generator seeded 0 — the middle of
  the space can break a task's own spacing rule (box-close wants lid and box ≥ 0.25 apart, and its
  reset redraws a frozen vector forever); jitter = metaworld's sampler over that space (its
  redraw loops included) fed by the env's generator; success threshold on metaworld's
  ``obj_to_target``; the ``auto`` camera.

Cameras.  ``rlvlmf`` follows RL-VLM-F: drawer — ``corner`` moved to (−0.6, 0.2, 0.35) with the
field of view narrowed to the 300/480 crop RL-VLM-F took (fovy' = 2 atan(0.625 tan(fovy/2)));
soccer — a high corner view from (0.55, 0.35, 0.6) (front right) looking at (0, 0.8, 0), fovy 40,
showing ball and goal (RL-VLM-F's (0.2, 0.6, 0.5) put the arm between camera and ball here).
``auto`` looks from the front right and above, along (0.55, −0.45, 0.6), at the centre of the
hand start, the objects and the goal of the fixed start, from the distance at which a sphere
around them (radius + 0.15 m) fills a 40° field of view.  metaworld's corner cameras look upside
down; images from them are turned 180° so they are upright.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from orlvlmf.env import Env, EnvError, close_at_exit, default_mujoco_gl
from orlvlmf.env.mujoco_render import fast_renderer

# camera name, position, fovy, look-at target (None keeps the model's orientation)
_RLVLMF_CAMERAS = {
    "drawer-open-v3": ("corner", (-0.6, 0.2, 0.35),
                       2 * math.degrees(math.atan(math.tan(math.radians(22.5)) * 300 / 480)), None),
    "soccer-v3": ("corner3", (0.55, 0.35, 0.6), 40.0, (0.0, 0.8, 0.0)),
}
_UPSIDE_DOWN = {"corner", "corner2", "corner3", "corner4"}
AUTO_DIRECTION = (0.55, -0.45, 0.6)  # from the scene towards the camera: front right, above
AUTO_FOVY = 40.0
AUTO_MARGIN = 0.15  # m around the hand start, objects and goal
SOCCER_MIN_BALL_GOAL = 0.15  # soccer-v3's reset redraws until ball and goal are this far apart
FIXED_START_SEED = 0  # generic tasks: the fixed start is metaworld's draw from a generator seeded so


def _look_at_quat(pos, target) -> np.ndarray:
    """Camera quaternion looking from ``pos`` at ``target`` with world z up (camera looks along -z)."""
    import mujoco

    f = np.asarray(target, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    u = np.cross(r, f)
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.stack([r, u, -f], axis=1).reshape(-1))
    return q


def auto_camera_pose(points: np.ndarray, direction=AUTO_DIRECTION, fovy: float = AUTO_FOVY,
                     margin: float = AUTO_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """(position, look-at target) of a camera that frames ``points`` (n, 3).

    target c = centre of the points' bounding box, R = max_i ‖p_i − c‖ + margin,
    position = c + d · R / sin(fovy / 2) with d the unit ``direction``.
    """
    pts = np.asarray(points, float).reshape(-1, 3)
    c = (pts.min(axis=0) + pts.max(axis=0)) / 2
    radius = float(np.linalg.norm(pts - c, axis=1).max()) + margin
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    return c + d * radius / math.sin(math.radians(fovy) / 2), c


class MetaWorldEnv(Env):
    supported_observations = ("state", "image")

    def __init__(self, task: str, config, *, env_id: str, task_text: str, preset: bool,
                 observations=("state", "image"), image_size=128, horizon=500):
        default_mujoco_gl()
        self.env_id = env_id
        self.task_text = task_text
        super().__init__(observations, image_size, horizon, action_dim=4, state_dim=39)
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.task = task
        self.cfg = config
        self.preset = preset
        env = ALL_V3_ENVIRONMENTS[task]()
        env._partially_observable = False
        if "sawyer_observation_space" in env.__dict__:
            del env.sawyer_observation_space
        env._set_task_called = True
        env._freeze_rand_vec = True
        env.max_path_length = self.horizon + 1
        if config.hand_init is not None:
            env.hand_init_pos = np.asarray(config.hand_init, dtype=np.float64)
            if env.hand_init_pos.shape != (3,):
                raise EnvError(f"env.hand_init must be 3 numbers (x, y, z), got {config.hand_init}")
        self._mw = env
        self._rng = np.random.default_rng()
        if not preset:
            self._set_reset_space()
        self._fixed_vec = self._default_vec()
        self._obs = None
        self._renderer = None
        self._policy = None
        self._setup_camera(config.camera)

    # -- task set-up --------------------------------------------------------------------------
    def _set_reset_space(self) -> None:
        """``jitter_low``/``jitter_high`` replace the task's random reset space (same size)."""
        from gymnasium.spaces import Box

        space = self._mw._random_reset_space
        low, high = self.cfg.jitter_low, self.cfg.jitter_high
        if (low is None) != (high is None):
            raise EnvError("set both env.jitter_low and env.jitter_high (or neither)")
        if low is None:
            return
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if low.shape != space.low.shape or high.shape != space.low.shape:
            raise EnvError(f"env.jitter_low/jitter_high of {self.task} need {space.low.size} numbers "
                           f"each (its random reset space is {space.low.tolist()} to "
                           f"{space.high.tolist()}); got {low.size} and {high.size}")
        if np.any(low > high):
            raise EnvError(f"env.jitter_low must not exceed env.jitter_high, got {low} > {high}")
        self._mw._random_reset_space = Box(low, high, dtype=np.float64)

    def _default_vec(self) -> np.ndarray:
        if not self.preset:  # metaworld's own draw from a generator seeded 0 (valid by construction)
            mw = self._mw
            mw._freeze_rand_vec, mw.seeded_rand_vec = False, True
            mw.np_random = np.random.default_rng(FIXED_START_SEED)
            mw.reset()
            return np.asarray(mw._last_rand_vec, np.float64).copy()
        ic = self._mw.init_config
        if self.task == "drawer-open-v3":
            return np.asarray(ic["obj_init_pos"], dtype=np.float64)
        return np.concatenate([np.asarray(ic["obj_init_pos"], np.float64),
                               np.asarray(self._mw.goal, np.float64)])

    def _rlvlmf_jitter(self) -> np.ndarray:
        v = self._fixed_vec.copy()
        u = self._rng.uniform
        if self.task == "drawer-open-v3":
            v[0] += u(-0.05, 0.05)
            return v
        while True:  # ball x, y; goal x, y; soccer's reset loops forever on a frozen vector closer
            v[0], v[1] = u(-0.05, 0.05), u(0.6, 0.7)
            v[3], v[4] = u(-0.05, 0.05), u(0.8, 0.9)
            if np.linalg.norm(v[:2] - v[3:5]) >= SOCCER_MIN_BALL_GOAL:
                return v

    def _setup_camera(self, camera: str) -> None:
        model = self._mw.model
        name, pos, fovy, target = camera, None, None, None
        if camera == "rlvlmf":
            if self.task not in _RLVLMF_CAMERAS:
                raise EnvError(f"env.camera 'rlvlmf' exists for {sorted(_RLVLMF_CAMERAS)} only; use "
                               f"'auto' or a metaworld camera for {self.task}")
            name, pos, fovy, target = _RLVLMF_CAMERAS[self.task]
        elif camera == "auto":  # framed on the fixed start, also when episodes are jittered
            self._mw._freeze_rand_vec, self._mw._last_rand_vec = True, self._fixed_vec.copy()
            self._mw.reset()
            points = [np.asarray(self._mw.hand_init_pos, float),
                      np.asarray(self._mw._get_pos_objects(), float),
                      np.asarray(self._mw._target_pos, float)]
            pos, target = auto_camera_pose(np.concatenate([p.reshape(-1) for p in points]))
            name, fovy = "corner3", AUTO_FOVY
        try:
            cam = model.camera(name)
        except KeyError:
            names = [model.camera(i).name for i in range(model.ncam)]
            raise EnvError(f"env.camera '{camera}' is not a camera of {self.task}; use 'auto'"
                           f"{', rlvlmf' if self.task in _RLVLMF_CAMERAS else ''} or one of {names}") from None
        if pos is not None:
            cam.pos[:] = pos
        if fovy is not None:
            cam.fovy[:] = fovy
        if target is not None:
            cam.quat[:] = _look_at_quat(pos, target)
        self._camera = name
        self._camera_id = cam.id
        self._flip = name in _UPSIDE_DOWN and target is None

    def camera_info(self) -> dict:
        cam = self._mw.model.camera(self._camera_id)
        return {"name": self.cfg.camera, "mujoco_camera": self._camera,
                "pos": [float(x) for x in cam.pos], "fovy": float(cam.fovy[0]),
                "rotated_180": self._flip}

    # -- Env API ------------------------------------------------------------------------------
    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        mw = self._mw
        if not self.cfg.jitter:
            mw._freeze_rand_vec, mw._last_rand_vec = True, self._fixed_vec.copy()
        elif self.preset:
            mw._freeze_rand_vec, mw._last_rand_vec = True, self._rlvlmf_jitter()
        else:  # metaworld's own draw (and redraws) over its reset space, from our generator
            mw._freeze_rand_vec, mw.seeded_rand_vec, mw.np_random = False, True, self._rng
        self._obs, _ = mw.reset()
        if self._policy is not None and hasattr(self._policy, "reset"):
            self._policy.reset()

    def _state(self):
        return self._obs.astype(np.float32)

    def _success(self, info) -> bool:
        thr = self.cfg.success_threshold
        if thr is None:
            return bool(info.get("success", 0.0))
        if self.preset and self.task == "drawer-open-v3":
            handle = self._obs[4:7]
            return float(np.linalg.norm(handle - self._mw._target_pos)) <= thr
        return float(info.get("obj_to_target", np.inf)) <= thr

    def _step(self, action):
        self._obs, reward, _, _, info = self._mw.step(action.astype(np.float32))
        extra = {k: float(info[k]) for k in ("obj_to_target", "near_object") if k in info}
        return float(reward), self._success(info), extra

    def expert_action(self, obs=None):
        """metaworld's scripted policy for the task, on the simulator's own state."""
        if self._policy is None:
            from metaworld.policies import ENV_POLICY_MAP

            if self.task not in ENV_POLICY_MAP:
                raise NotImplementedError(f"metaworld has no scripted policy for {self.task}")
            self._policy = ENV_POLICY_MAP[self.task]()
        with warnings.catch_warnings():  # "Constant(s) may be too high": we clip, as it says
            warnings.simplefilter("ignore", UserWarning)
            action = self._policy.get_action(self._obs)
        return np.clip(action, -1, 1).astype(np.float32)

    def _get_renderer(self, size: int):
        if self._renderer is None or self._renderer.height != size:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = fast_renderer(self._mw.model, size, self.cfg.render_samples, skybox=False)
            close_at_exit(self)
        return self._renderer

    def render(self, size=None):
        size = int(size or self.image_size)
        r = self._get_renderer(size)
        r.update_scene(self._mw.data, camera=self._camera_id)
        img = r.render()
        return np.ascontiguousarray(img[::-1, ::-1]) if self._flip else img

    def render_default(self, size=None):
        """metaworld/gymnasium's own renderer (shadows and reflections on): the speed reference."""
        size = int(size or self.image_size)
        mw = self._mw
        if getattr(self, "_default_renderer", None) is None or self._default_size != size:
            from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

            mw.model.vis.global_.offwidth = max(mw.model.vis.global_.offwidth, size)
            mw.model.vis.global_.offheight = max(mw.model.vis.global_.offheight, size)
            self._default_renderer = MujocoRenderer(mw.model, mw.data, camera_id=self._camera_id,
                                                    width=size, height=size)
            self._default_size = size
            img = self._default_renderer.render("rgb_array")
            close_at_exit(self)  # after the first render: its GL context exists only from then
            return img
        return self._default_renderer.render("rgb_array")

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if getattr(self, "_default_renderer", None) is not None:
            self._default_renderer.close()
            self._default_renderer = None
        if self._mw is not None:
            self._mw.close()
            self._mw = None
