"""MetaWorld v3 tasks as orlvlmf envs: fixed-length episodes, RL-VLM-F camera views, fast rendering.

* Episodes last ``horizon`` steps; success does not end them (``info["success"]`` reports it).
* State = metaworld's 39-d observation with the goal visible; GT reward = metaworld's reward (0–10).
* Rendering uses one ``mujoco.Renderer`` at the requested size with shadows and reflections off
  and no multisampling by default (``render_samples``).
  The ``rlvlmf`` cameras follow RL-VLM-F: drawer — ``corner`` moved to (−0.6, 0.2, 0.35) with the
  field of view narrowed to the 300/480 crop RL-VLM-F took (fovy' = 2 atan(0.625 tan(fovy/2)));
  soccer — a high corner view from (0.55, 0.35, 0.6) (front right) looking at (0, 0.8, 0), fovy
  40, showing ball and goal: RL-VLM-F's (0.2, 0.6, 0.5) put the arm between camera and ball here
  (the scripted push still hides the ball under the gripper at times, from any view we tried).
  metaworld's corner cameras look upside down; images from them are turned 180° so they are upright.
"""

from __future__ import annotations

import math

import numpy as np

from orlvlmf.env import Env, EnvError, close_at_exit, default_mujoco_gl
from orlvlmf.env.mujoco_render import fast_renderer

# camera name, position, fovy, look-at target (None keeps the model's orientation)
_RLVLMF_CAMERAS = {
    "drawer-open-v3": ("corner", (-0.6, 0.2, 0.35),
                       2 * math.degrees(math.atan(math.tan(math.radians(22.5)) * 300 / 480)), None),
    "soccer-v3": ("corner3", (0.55, 0.35, 0.6), 40.0, (0.0, 0.8, 0.0)),
}


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
_UPSIDE_DOWN = {"corner", "corner2", "corner3", "corner4"}





class MetaWorldEnv(Env):
    supported_observations = ("state", "image")

    def __init__(self, spec, config, observations=("state", "image"), image_size=128, horizon=500):
        default_mujoco_gl()
        self.env_id = spec.env_id
        self.task_text = spec.task_text
        super().__init__(observations, image_size, horizon, action_dim=4, state_dim=39)
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.task = spec.task
        self.cfg = config
        env = ALL_V3_ENVIRONMENTS[self.task]()
        env._partially_observable = False
        if "sawyer_observation_space" in env.__dict__:
            del env.sawyer_observation_space
        env._set_task_called = True
        env._freeze_rand_vec = True
        env.max_path_length = self.horizon + 1
        env.hand_init_pos = np.asarray(config.hand_init, dtype=np.float64)
        if env.hand_init_pos.shape != (3,):
            raise EnvError(f"env.hand_init must be 3 numbers (x, y, z), got {config.hand_init}")
        self._mw = env
        self._fixed_vec = self._default_vec()
        self._rng = np.random.default_rng()
        self._obs = None
        self._renderer = None
        self._setup_camera(config.camera)
        self._policy = None

    # -- task set-up --------------------------------------------------------------------------
    def _default_vec(self) -> np.ndarray:
        ic = self._mw.init_config
        if self.task == "drawer-open-v3":
            return np.asarray(ic["obj_init_pos"], dtype=np.float64)
        return np.concatenate([np.asarray(ic["obj_init_pos"], np.float64),
                               np.asarray(self._mw.goal, np.float64)])

    def _jittered_vec(self) -> np.ndarray:
        v = self._fixed_vec.copy()
        u = self._rng.uniform
        if self.task == "drawer-open-v3":
            v[0] += u(-0.05, 0.05)
        else:  # ball x, y; goal x, y (ranges of RL-VLM-F)
            v[0], v[1] = u(-0.05, 0.05), u(0.6, 0.7)
            v[3], v[4] = u(-0.05, 0.05), u(0.8, 0.9)
        return v

    def _setup_camera(self, camera: str) -> None:
        import mujoco

        model = self._mw.model
        name, pos, fovy, target = camera, None, None, None
        if camera == "rlvlmf":
            name, pos, fovy, target = _RLVLMF_CAMERAS[self.task]
        try:
            cam = model.camera(name)
        except KeyError:
            names = [model.camera(i).name for i in range(model.ncam)]
            raise EnvError(f"env.camera '{camera}' is not a camera of {self.task}; use 'rlvlmf' "
                             f"or one of {names}") from None
        if pos is not None:
            cam.pos[:] = pos
        if fovy is not None:
            cam.fovy[:] = fovy
        if target is not None:
            cam.quat[:] = _look_at_quat(pos, target)
        self._camera = name
        self._camera_id = cam.id
        self._flip = name in _UPSIDE_DOWN and target is None
        self._mujoco = mujoco

    def camera_info(self) -> dict:
        cam = self._mw.model.camera(self._camera_id)
        return {"name": self.cfg.camera, "mujoco_camera": self._camera,
                "pos": [float(x) for x in cam.pos], "fovy": float(cam.fovy[0]),
                "rotated_180": self._flip}

    # -- Env API ------------------------------------------------------------------------------
    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._mw._last_rand_vec = self._jittered_vec() if self.cfg.jitter else self._fixed_vec.copy()
        self._obs, _ = self._mw.reset()
        if self._policy is not None and hasattr(self._policy, "reset"):
            self._policy.reset()

    def _state(self):
        return self._obs.astype(np.float32)

    def _success(self, info) -> bool:
        thr = self.cfg.success_threshold
        if thr is None:
            return bool(info.get("success", 0.0))
        if self.task == "soccer-v3":
            return float(info.get("obj_to_target", np.inf)) <= thr
        handle = self._obs[4:7]
        return float(np.linalg.norm(handle - self._mw._target_pos)) <= thr

    def _step(self, action):
        self._obs, reward, _, _, info = self._mw.step(action.astype(np.float32))
        extra = {k: float(info[k]) for k in ("obj_to_target", "near_object") if k in info}
        return float(reward), self._success(info), extra

    def expert_action(self, obs=None):
        """metaworld's scripted policy for the task, on the simulator's own state."""
        if self._policy is None:
            from metaworld.policies import ENV_POLICY_MAP

            self._policy = ENV_POLICY_MAP[self.task]()
        return np.clip(self._policy.get_action(self._obs), -1, 1).astype(np.float32)

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
