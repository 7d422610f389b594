"""Rope straightening in MuJoCo, our stand-in for SoftGym's RopeFlattenEasy.

* A cable of ``segments`` capsules (``mujoco.elasticity.cable``) lies crumpled on a table; two mocap
  pickers are connected to its two ends and always grip.
* Action a ∈ [-1, 1]^6: 3-D displacement of each picker, ``max_move · a`` per env step, applied in
  ``action_repeat`` equal sub-moves of ``physics_steps`` MuJoCo steps each.  Pickers stay in a box
  above the table and at most L apart (a rope pulled longer than itself between two hard
  constraints makes the simulation blow up).
* GT reward r = min(‖e_0 − e_1‖, 1.1 L) (e_i: the rope's end points); success when r ≥ 0.95 L.
* Observations: ``state`` = the (segments + 1) rope vertices (flattened); ``image`` = top-down
  view; ``point_cloud`` = the vertices, optionally densified along the rope and noised.
* Random start: a planar random walk of segment headings (turn angle ~ N(0, crumple²)) whose
  non-adjacent segments keep apart and whose end-to-end distance is < max_start_ratio · L,
  then a short settle.
"""

from __future__ import annotations


import numpy as np

from orlvlmf.env import Env, EnvError, close_at_exit, default_mujoco_gl
from orlvlmf.env.mujoco_render import fast_renderer

_BOX_LO = np.array([-0.45, -0.45, 0.0])
_BOX_HI = np.array([0.45, 0.45, 0.2])
_SETTLE_STEPS = 50



def _quat_z(angle: np.ndarray) -> np.ndarray:
    """Quaternions (w, x, y, z) of rotations by ``angle`` about z."""
    angle = np.asarray(angle, float)
    return np.stack([np.cos(angle / 2), 0 * angle, 0 * angle, np.sin(angle / 2)], axis=-1)


class RopeEnv(Env):
    env_id = "rope"
    task_text = "to straighten the blue rope"
    supported_observations = ("state", "image", "point_cloud")

    def __init__(self, config, observations=("state", "image"), image_size=128, horizon=40):
        default_mujoco_gl()
        if config.segments < 4:
            raise EnvError(f"env.segments must be at least 4, got {config.segments}")
        super().__init__(observations, image_size, horizon, action_dim=6,
                         state_dim=3 * (config.segments + 1))
        import mujoco

        from orlvlmf_rope.model import rope_xml

        self.cfg = config
        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(rope_xml(
            segments=config.segments, length=config.length, radius=config.radius,
            image_size=image_size))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._bodies = np.array([m.body("RB_first").id]
                                + [m.body(f"RB_{i}").id for i in range(1, config.segments - 1)]
                                + [m.body("RB_last").id])
        self._seg = config.length / config.segments
        self._free_qadr = m.jnt_qposadr[m.body_jntadr[self._bodies[0]]]
        self._ball_qadr = np.array([m.jnt_qposadr[m.body_jntadr[b]] for b in self._bodies[1:]])
        self._mocap = [m.body_mocapid[m.body("picker0").id], m.body_mocapid[m.body("picker1").id]]
        self._cam = m.camera("top").id
        self._rng = np.random.default_rng()
        self._renderer = None
        self._pc_rng = np.random.default_rng()

    # -- geometry -----------------------------------------------------------------------------
    def vertices(self) -> np.ndarray:
        """(segments + 1, 3) rope vertices: each segment's start, plus the far end."""
        d = self.data
        starts = d.xpos[self._bodies]
        last = d.xmat[self._bodies[-1]].reshape(3, 3)
        end = starts[-1] + last[:, 0] * self._seg
        return np.vstack([starts, end])

    def end_distance(self) -> float:
        v = self.vertices()
        return float(np.linalg.norm(v[-1] - v[0]))

    def _reward(self) -> tuple[float, bool]:
        dist = self.end_distance()
        L = self.cfg.length
        return min(dist, 1.1 * L), dist >= 0.95 * L

    # -- reset --------------------------------------------------------------------------------
    def _sample_headings(self) -> np.ndarray:
        """Headings of a crumpled planar rope whose non-adjacent segments do not overlap."""
        n, L, r = self.cfg.segments, self.cfg.length, self.cfg.radius
        for _ in range(1000):
            turns = self._rng.normal(0.0, self.cfg.crumple, size=n - 1)
            heading = self._rng.uniform(-np.pi, np.pi) + np.concatenate([[0.0], np.cumsum(turns)])
            steps = self._seg * np.stack([np.cos(heading), np.sin(heading)], axis=1)
            pts = np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
            if np.linalg.norm(pts[-1]) >= self.cfg.max_start_ratio * L:
                continue
            mids = (pts[1:] + pts[:-1]) / 2
            dist = np.linalg.norm(mids[:, None] - mids[None], axis=-1)
            far = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) >= 3
            if np.all(dist[far] > 2.2 * r):
                return heading
        raise EnvError("could not sample a crumpled rope start; lower env.crumple or raise "
                       "env.max_start_ratio")

    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._pc_rng = np.random.default_rng([seed, 1])
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        heading = self._sample_headings()
        pts = np.vstack([[0.0, 0.0], np.cumsum(self._seg * np.stack(
            [np.cos(heading), np.sin(heading)], axis=1), axis=0)])
        centre = (pts.min(0) + pts.max(0)) / 2
        q = self._free_qadr
        d.qpos[q:q + 3] = [pts[0, 0] - centre[0], pts[0, 1] - centre[1], self.cfg.radius]
        d.qpos[q + 3:q + 7] = _quat_z(heading[0])
        for i, adr in enumerate(self._ball_qadr):
            d.qpos[adr:adr + 4] = _quat_z(heading[i + 1] - heading[i])
        d.qvel[:] = 0
        mj.mj_forward(m, d)
        v = self.vertices()
        d.mocap_pos[self._mocap[0]] = v[0]
        d.mocap_pos[self._mocap[1]] = v[-1]
        for _ in range(_SETTLE_STEPS):
            mj.mj_step(m, d)

    # -- step ---------------------------------------------------------------------------------
    def pickers(self) -> np.ndarray:
        return np.array([self.data.mocap_pos[i] for i in self._mocap])

    def _step(self, action):
        mj, m, d = self._mj, self.model, self.data
        start = self.pickers()
        target = np.clip(start + self.cfg.max_move * action.reshape(2, 3), _BOX_LO, _BOX_HI)
        target[:, 2] = np.maximum(target[:, 2], self.cfg.radius)
        gap = target[1] - target[0]
        span = np.linalg.norm(gap)
        if span > self.cfg.length:  # the pickers cannot pull the rope longer than it is
            mid = target.mean(axis=0)
            target = mid + np.array([-0.5, 0.5])[:, None] * gap * (self.cfg.length / span)
        k = self.cfg.action_repeat
        for j in range(1, k + 1):
            pos = start + (target - start) * (j / k)
            for i, mid in enumerate(self._mocap):
                d.mocap_pos[mid] = pos[i]
            for _ in range(self.cfg.physics_steps):
                mj.mj_step(m, d)
        if d.warning[mj.mjtWarning.mjWARN_BADQACC].number > 0 or not np.all(np.isfinite(d.qpos)):
            raise EnvError("rope simulation became unstable (MuJoCo reset the state); lower "
                           "env.max_move or raise env.physics_steps")
        reward, success = self._reward()
        return reward, success, {"end_distance": self.end_distance()}

    # -- observations ---------------------------------------------------------------------------
    def _state(self):
        return self.vertices().reshape(-1)

    def _point_cloud(self):
        v = self.vertices()
        n = self.cfg.point_cloud_points
        if n and n != len(v):
            if n < len(v):
                raise EnvError(f"env.point_cloud_points must be 0 or at least {len(v)}, got {n}")
            s = np.linspace(0, len(v) - 1, n)
            i = np.minimum(s.astype(int), len(v) - 2)
            w = (s - i)[:, None]
            v = v[i] * (1 - w) + v[i + 1] * w
        if self.cfg.point_cloud_noise > 0:
            v = v + self._pc_rng.normal(0.0, self.cfg.point_cloud_noise, size=v.shape)
        return v

    def render(self, size=None):
        size = int(size or self.image_size)
        if self._renderer is None or self._renderer.height != size:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = fast_renderer(self.model, size, self.cfg.render_samples)
            close_at_exit(self)
        self._renderer.update_scene(self.data, camera=self._cam)
        return self._renderer.render()

    def camera_info(self):
        cam = self.model.camera(self._cam)
        return {"name": "top", "pos": [float(x) for x in cam.pos], "fovy": float(cam.fovy[0]),
                "view": "top-down"}

    # -- expert ---------------------------------------------------------------------------------
    def expert_action(self, obs=None):
        """Pull the ends apart along their current direction to L apart, slightly lifted.

        targets t_{0,1} = c ∓ (L/2) u, c = picker midpoint, u = unit end-to-end direction in xy;
        a = clip((t − p) / max_move, −1, 1).
        """
        p = self.pickers()
        c = p.mean(axis=0)
        u = p[1, :2] - p[0, :2]
        norm = np.linalg.norm(u)
        u = u / norm if norm > 1e-6 else np.array([1.0, 0.0])
        half = 0.5 * self.cfg.length
        t = np.empty((2, 3))
        t[0, :2], t[1, :2] = c[:2] - half * u, c[:2] + half * u
        t[:, 2] = 0.05
        t = np.clip(t, _BOX_LO, _BOX_HI)
        return np.clip((t - p) / self.cfg.max_move, -1, 1).reshape(-1).astype(np.float32)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
