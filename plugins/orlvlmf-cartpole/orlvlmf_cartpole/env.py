"""Continuous Cartpole (RL-VLM-F's variant) with numpy physics and PIL rendering.

Dynamics (classic cart-pole, Euler step tau = 0.02 s, F = force_per_unit * a, a in [-1, 1])::

    temp   = (F + m_p l θ'^2 sin θ) / (m_c + m_p)
    θ''    = (g sin θ - cos θ temp) / (l (4/3 - m_p cos^2 θ / (m_c + m_p)))
    x''    = temp - m_p l θ'' cos θ / (m_c + m_p)

No failure termination: θ is clamped to ±max_angle and x to ±x_limit (the velocity pointing
further out is zeroed there).  GT reward r = -|θ in degrees| per step; success at step t when
the pole stayed within ±2° for the last 25 steps (0.5 s): the start is near upright, so a plain
|θ| < 2° test would count every episode's first steps as success.
The image keeps the cart at the centre: only the pole angle is visible.
"""

from __future__ import annotations

import numpy as np

from orlvlmf.env import Env

GRAVITY, CART_MASS, POLE_MASS, HALF_LENGTH, TAU = 9.8, 1.0, 0.1, 0.5, 0.02
POLE_RGB = (202, 152, 101)
SUCCESS_DEG = 2.0
SUCCESS_STEPS = 25


def _lqr_gain() -> np.ndarray:
    """LQR gain K (F = -K s) of the dynamics linearised at the upright pose."""
    from scipy.linalg import solve_continuous_are

    total = CART_MASS + POLE_MASS
    denom = HALF_LENGTH * (4.0 / 3.0 - POLE_MASS / total)
    a_tt = GRAVITY / denom  # dθ''/dθ
    b_t = -1.0 / (total * denom)  # dθ''/dF
    a_xt = -POLE_MASS * HALF_LENGTH * a_tt / total
    b_x = 1.0 / total - POLE_MASS * HALF_LENGTH * b_t / total
    A = np.array([[0, 1, 0, 0], [0, 0, a_xt, 0], [0, 0, 0, 1], [0, 0, a_tt, 0]], float)
    B = np.array([[0], [b_x], [0], [b_t]], float)
    Q = np.diag([1.0, 1.0, 100.0, 1.0])
    R = np.array([[0.1]])
    P = solve_continuous_are(A, B, Q, R)
    return (np.linalg.solve(R, B.T @ P)).reshape(-1)


class CartpoleEnv(Env):
    env_id = "cartpole"
    task_text = "to balance the brown pole on the black cart to be upright"
    supported_observations = ("state", "image")

    def __init__(self, config, observations=("state", "image"), image_size=200, horizon=100):
        super().__init__(observations, image_size, horizon, action_dim=1, state_dim=4)
        self.cfg = config
        self.max_angle = np.deg2rad(config.max_angle_deg)
        self.s = np.zeros(4)
        self._rng = np.random.default_rng()
        self._gain = None
        self._upright_steps = 0

    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        n = self.cfg.init_noise
        self.s = self._rng.uniform(-n, n, size=4)
        self._upright_steps = 0

    def _state(self):
        return self.s.copy()

    def _step(self, action):
        x, x_dot, th, th_dot = self.s
        force = self.cfg.force_per_unit * float(action[0])
        total = CART_MASS + POLE_MASS
        cos, sin = np.cos(th), np.sin(th)
        temp = (force + POLE_MASS * HALF_LENGTH * th_dot**2 * sin) / total
        th_acc = (GRAVITY * sin - cos * temp) / (
            HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / total))
        x_acc = temp - POLE_MASS * HALF_LENGTH * th_acc * cos / total
        x, x_dot = x + TAU * x_dot, x_dot + TAU * x_acc
        th, th_dot = th + TAU * th_dot, th_dot + TAU * th_acc
        if abs(th) > self.max_angle:
            th = np.sign(th) * self.max_angle
            if th * th_dot > 0:
                th_dot = 0.0
        if abs(x) > self.cfg.x_limit:
            x = np.sign(x) * self.cfg.x_limit
            if x * x_dot > 0:
                x_dot = 0.0
        self.s = np.array([x, x_dot, th, th_dot])
        deg = abs(np.rad2deg(th))
        self._upright_steps = self._upright_steps + 1 if deg < SUCCESS_DEG else 0
        success = self._upright_steps >= SUCCESS_STEPS
        return -deg, success, {"pole_angle_deg": float(np.rad2deg(th))}

    def expert_action(self, obs=None):
        """LQR balance controller: F = -K s, as a unit action."""
        if self._gain is None:
            self._gain = _lqr_gain()
        force = -float(self._gain @ self.s)
        return np.clip([force / self.cfg.force_per_unit], -1.0, 1.0).astype(np.float32)

    def camera_info(self):
        return {"name": "side", "view": "side view, cart kept at the centre", "frame_width_m": 4.0}

    def render(self, size=None):
        """Upright RGB image, cart at the centre, black cart and brown pole on white."""
        from PIL import Image, ImageDraw

        size = int(size or self.image_size)
        scale = 4 if size < 128 else 2  # supersample, then downscale for clean edges
        S = size * scale
        img = Image.new("RGB", (S, S), (255, 255, 255))
        d = ImageDraw.Draw(img)
        u = S / 4.0  # pixels per metre: the full pole (1 m) spans a quarter of the frame
        cx, cy = S / 2.0, S * 0.65
        d.line([(0, cy + 0.15 * u), (S, cy + 0.15 * u)], fill=(0, 0, 0), width=max(1, S // 100))
        cw, ch = 0.5 * u, 0.3 * u
        d.rectangle([cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2], fill=(0, 0, 0))
        th = self.s[2]
        length, width = 2 * HALF_LENGTH * u * 1.2, 0.1 * u
        tip = np.array([np.sin(th), -np.cos(th)]) * length
        side = np.array([np.cos(th), np.sin(th)]) * width / 2
        base = np.array([cx, cy - ch / 4])
        poly = [tuple(base - side), tuple(base + side), tuple(base + tip + side),
                tuple(base + tip - side)]
        d.polygon(poly, fill=POLE_RGB)
        r = width * 0.45
        d.ellipse([base[0] - r, base[1] - r, base[0] + r, base[1] + r], fill=(129, 132, 203))
        img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)
