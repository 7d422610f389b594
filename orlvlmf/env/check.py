"""``orlvlmf check-env NAME``: verify that an env plugin keeps the :class:`~orlvlmf.env.Env` contract.

Each check runs on its own and reports one line; a failing check says what it expected, what it got
and what to fix, and the remaining checks still run.  Checks:

* observations — ``reset`` returns exactly the requested keys; ``state`` is (state_dim,) float32,
  ``image`` (S, S, 3) uint8, ``point_cloud`` (P, ≥3) float32; values finite; info["success"] bool.
* images — the first frame is not (nearly) constant (pixel std > ``MIN_IMAGE_STD``).
* actions — ``step`` accepts actions at the bounds ±1, rejects a wrong shape and NaN with
  :class:`~orlvlmf.env.EnvError`, returns a finite float reward and a bool success; random actions
  change the state; ``expert_action`` (when the plugin has one) is (action_dim,) within [−1, 1].
* determinism — the same seed and actions give the same observations, rewards and successes.
* horizon — an episode is truncated exactly at ``env.horizon`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from orlvlmf.env import EnvError, make_env

MIN_IMAGE_STD = 5.0  # pixel std (0–255) below which a frame counts as blank


class EnvCheckError(AssertionError):
    """A check of the env contract failed; the message says what to fix."""


@dataclass
class CheckReport:
    name: str
    results: list[tuple[str, str | None]] = field(default_factory=list)  # (check, failure or None)

    @property
    def failures(self) -> list[tuple[str, str]]:
        return [(c, f) for c, f in self.results if f is not None]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        return [f"{'ok  ' if f is None else 'FAIL'} {c}" + ("" if f is None else f": {f}")
                for c, f in self.results]

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise EnvCheckError(f"env '{self.name}' fails {len(self.failures)} check(s):\n"
                                + "\n".join(f"  {c}: {f}" for c, f in self.failures))


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise EnvCheckError(message)


def _check_obs(env, obs: Mapping[str, np.ndarray], keys, size: int) -> None:
    _expect(isinstance(obs, Mapping), f"reset/step must return a dict of observations, got {type(obs).__name__}")
    _expect(set(obs) == set(keys), f"observation keys {sorted(obs)} != requested {sorted(keys)}: "
            "return only the kinds in env.observation_keys (the base class's observe() does)")
    if "state" in obs:
        s = np.asarray(obs["state"])
        _expect(s.shape == (env.state_dim,) and s.dtype == np.float32,
                f"state must be ({env.state_dim},) float32 (state_dim passed to Env.__init__), got "
                f"{s.shape} {s.dtype}")
        _expect(bool(np.all(np.isfinite(s))), "state holds NaN/inf")
    if "image" in obs:
        img = np.asarray(obs["image"])
        _expect(img.shape == (size, size, 3) and img.dtype == np.uint8,
                f"image must be ({size}, {size}, 3) uint8 at image_size={size}, got {img.shape} {img.dtype}: "
                "render(size) must honour the size")
    if "point_cloud" in obs:
        pc = np.asarray(obs["point_cloud"])
        _expect(pc.ndim == 2 and pc.shape[1] >= 3 and pc.dtype == np.float32,
                f"point_cloud must be (P, 3+F) float32, got {pc.shape} {pc.dtype}")
        _expect(bool(np.all(np.isfinite(pc))), "point_cloud holds NaN/inf")


def _rollout(env, seed: int, actions: np.ndarray) -> tuple[list, list, list]:
    obs, _ = env.reset(seed=seed)
    frames, rewards, successes = [obs], [], []
    for a in actions:
        obs, r, _, _, info = env.step(a)
        frames.append(obs)
        rewards.append(r)
        successes.append(info["success"])
    return frames, rewards, successes


def check_env(env_cfg: Any, *, image_size: int = 48, steps: int = 5, seed: int = 0,
              horizon_check: bool = True) -> CheckReport:
    """Run every check on the env ``env_cfg`` (a name or ``{name: ..., options}``); see the module doc."""
    node = {"name": env_cfg} if isinstance(env_cfg, str) else dict(env_cfg)
    name = str(node.get("name"))
    report = CheckReport(name)
    from orlvlmf.registry import REGISTRY

    kinds = tuple(getattr(REGISTRY.get("envs", name), "supported_observations", ("state", "image")))
    env = make_env(node, observations=kinds, image_size=image_size)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, size=(steps, env.action_dim))
    actions[0] = 1.0  # the bounds are valid actions
    if steps > 1:
        actions[1] = -1.0

    def run(check: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except EnvCheckError as err:
            report.results.append((check, str(err)))
        except Exception as err:  # noqa: BLE001 - a crash is a failed check, reported with its type
            report.results.append((check, f"raised {type(err).__name__}: {err}"))
        else:
            report.results.append((check, None))

    state: dict = {}

    def observations() -> None:
        _expect(isinstance(env.task_text, str) and env.task_text.strip() != "",
                "env.task_text must be the goal sentence (e.g. 'to open the drawer')")
        obs, info = env.reset(seed=seed)
        _expect(isinstance(info, Mapping) and isinstance(info.get("success"), bool),
                "reset must return (obs, info) with info['success'] a bool")
        _check_obs(env, obs, kinds, image_size)
        state["first"] = obs

    def images() -> None:
        if "image" not in kinds:
            return
        obs = state.get("first") or env.reset(seed=seed)[0]
        std = float(np.asarray(obs["image"], float).std())
        _expect(std > MIN_IMAGE_STD, f"the first frame is (nearly) constant (pixel std {std:.2f} <= "
                f"{MIN_IMAGE_STD}): is the camera pointed at the scene and the renderer set up?")

    def action_checks() -> None:
        frames, rewards, successes = _rollout(env, seed, actions)
        for obs, r, s in zip(frames[1:], rewards, successes):
            _check_obs(env, obs, kinds, image_size)
            _expect(isinstance(r, float) and np.isfinite(r), f"reward must be a finite float, got {r!r}")
            _expect(isinstance(s, bool), f"info['success'] must be a bool, got {type(s).__name__}")
        key = "state" if "state" in kinds else kinds[0]
        _expect(not np.array_equal(frames[0][key], frames[-1][key]),
                f"{steps} random actions left '{key}' unchanged: does _step apply the action?")
        for bad, what in ((np.zeros(env.action_dim + 1), "a wrong shape"),
                          (np.full(env.action_dim, np.nan), "NaN")):
            try:
                env.step(bad)
            except EnvError:
                continue
            raise EnvCheckError(f"step accepted {what}; the base class's step() rejects it: do not "
                                "override step, implement _step")
        try:
            a = np.asarray(env.expert_action(frames[-1]))
        except NotImplementedError:
            return
        _expect(a.shape == (env.action_dim,) and bool(np.all(np.abs(a) <= 1.0)),
                f"expert_action must return ({env.action_dim},) values in [-1, 1], got {a.shape} "
                f"max |a| {float(np.abs(a).max()):.3g}")

    def determinism() -> None:
        f1, r1, s1 = _rollout(env, seed, actions)
        f2, r2, s2 = _rollout(env, seed, actions)
        for t, (a, b) in enumerate(zip(f1, f2)):
            for k in kinds:
                _expect(np.array_equal(a[k], b[k]), f"same seed, same actions, different '{k}' at "
                        f"step {t}: reset(seed) must reseed every random source (np.random.default_rng"
                        "(seed) in _reset), and no global RNG may be used")
        _expect(r1 == r2 and s1 == s2, "same seed, same actions, different rewards/successes")

    def horizon() -> None:
        if not horizon_check:
            return
        kind = "state" if "state" in kinds else kinds[0]
        short = make_env(node, observations=(kind,), image_size=image_size)
        try:
            short.reset(seed=seed)
            H = short.horizon
            for t in range(1, H + 1):
                _, _, term, trunc, _ = short.step(rng.uniform(-1.0, 1.0, short.action_dim))
                _expect(isinstance(term, bool) and isinstance(trunc, bool),
                        "step must return bool terminated and truncated")
                if term:
                    return  # an env may end early on termination
                _expect(trunc == (t == H), f"truncated={trunc} at step {t} of horizon {H}: episodes "
                        "must end exactly at env.horizon (pass horizon to Env.__init__)")
        finally:
            short.close()

    try:
        run("observations: keys, shapes, dtypes", observations)
        run(f"images: first frame not constant (std > {MIN_IMAGE_STD})", images)
        run(f"actions: bounds, bad input rejected, state changes ({steps} steps), expert", action_checks)
        run(f"determinism: same seed {seed} + actions -> same episode", determinism)
        run(f"horizon: truncated exactly at env.horizon ({env.horizon})", horizon)
    finally:
        env.close()
    return report


__all__ = ["check_env", "CheckReport", "EnvCheckError", "MIN_IMAGE_STD"]
