"""``orlvlmf check-env``: a correct plugin passes every check, broken ones fail with clear messages."""

import re

import numpy as np
import pytest

from orlvlmf.cli import main
from orlvlmf.env.check import EnvCheckError, check_env
from orlvlmf.registry import REGISTRY

from point_env import PointEnv, PointSpec


class _Broken(PointEnv):
    """The point env with one fault, chosen by ``fault``."""

    fault = ""

    def _reset(self, seed):
        super()._reset(seed)
        if self.fault == "global_rng":  # ignores the seed
            self._goal = np.random.uniform(0.1, 0.9, 2)

    def _step(self, action):
        if self.fault == "ignores_action":
            action = action * 0
        return super()._step(action)

    def _state(self):
        s = super()._state()
        return s[:3] if self.fault == "short_state" else s

    def render(self, size=None):
        img = super().render(size)
        if self.fault == "blank":
            img[:] = 0
        if self.fault == "wrong_size":
            img = img[:-1]
        return img

    def step(self, action):  # overriding step skips the base class's checks and horizon
        if self.fault == "own_step":
            return self.observe(), 0.0, False, False, {"success": False}
        return super().step(action)


def _spec(fault):
    class Spec(PointSpec):
        @classmethod
        def make(cls, config, observations=("state", "image"), image_size=64, horizon=None):
            env = _Broken(config, observations, image_size, horizon or cls.default_horizon)
            env.fault = fault
            return env

    return Spec


@pytest.fixture
def envs(monkeypatch):
    names = {"point": PointSpec, **{f"point-{f}": _spec(f) for f in
                                    ("global_rng", "ignores_action", "short_state", "blank",
                                     "wrong_size", "own_step")}}
    real = REGISTRY.get

    def get(kind, name):
        return names[name] if kind == "envs" and name in names else real(kind, name)

    monkeypatch.setattr(REGISTRY, "get", get)
    return names


def test_a_correct_plugin_passes_every_check(envs, capsys):
    report = check_env("point")
    assert report.ok and len(report.results) == 5
    assert main(["check-env", "point", "step_size=0.1"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok  ") == 5 and "all checks passed" in out


@pytest.mark.parametrize("fault,check,message", [
    ("global_rng", "determinism", "reseed every random source"),
    ("ignores_action", "actions", "left 'state' unchanged"),
    ("short_state", "observations", r"state must be \(4,\) float32"),
    ("blank", "images", "nearly\\) constant"),
    ("wrong_size", "observations", r"image must be \(48, 48, 3\)"),
    ("own_step", "horizon", "episodes must end exactly at env.horizon"),
])
def test_a_broken_plugin_fails_the_right_check(envs, fault, check, message):
    report = check_env(f"point-{fault}")
    failed = dict(report.failures)
    names = [c for c in failed if c.startswith(check)]
    assert names, f"expected '{check}' to fail, got {report.lines()}"
    assert re.search(message, failed[names[0]]), failed[names[0]]
    with pytest.raises(EnvCheckError, match=f"point-{fault}"):
        report.raise_if_failed()


def test_cli_exit_codes_and_bad_options(envs, capsys):
    assert main(["check-env", "point-blank"]) == 1
    assert "FAIL images" in capsys.readouterr().out
    assert main(["check-env", "point", "step_size"]) == 2
    assert "must look like key=value" in capsys.readouterr().err
    assert main(["check-env", "point", "bogus=1"]) == 2
    assert "no option(s) ['bogus']" in capsys.readouterr().err
