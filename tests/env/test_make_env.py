"""make_env and the Env base class (with the cartpole plugin, which needs no simulator)."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from orlvlmf.env import Env, EnvError, make_env
from orlvlmf.registry import REGISTRY, RegistryError


def test_plugins_registered_through_entry_points():
    names = REGISTRY.names("envs")
    for n in ("cartpole", "drawer-open", "soccer", "rope"):
        assert n in names
    entry = REGISTRY.entry("envs", "rope")
    assert entry.dist == "orlvlmf-rope"


def test_unknown_env_is_registry_error():
    with pytest.raises(RegistryError, match="unknown env 'cartpol'.*Did you mean 'cartpole'"):
        make_env("cartpol")


def test_make_env_from_config_node_and_overrides():
    node = OmegaConf.create({"name": "cartpole", "force_per_unit": 5.0})
    env = make_env(node, observations=("state",), image_size=32, horizon=7)
    assert isinstance(env, Env) and env.cfg.force_per_unit == 5.0 and env.horizon == 7
    env2 = make_env({"name": "cartpole"}, observations=("state",), force_per_unit=3.0)
    assert env2.cfg.force_per_unit == 3.0


def test_bad_env_configs():
    with pytest.raises(EnvError, match="no option.*'bogus'"):
        make_env({"name": "cartpole", "bogus": 1})
    with pytest.raises(EnvError, match="cannot observe.*point_cloud"):
        make_env("cartpole", observations=("state", "point_cloud"))
    with pytest.raises(EnvError, match="no 'name'"):
        make_env({"force_per_unit": 1.0})
    env = make_env("cartpole", observations=("state",))
    env.reset(seed=0)
    with pytest.raises(EnvError, match="expects an action of 1"):
        env.step(np.zeros(3))
    with pytest.raises(EnvError, match="NaN"):
        env.step([np.nan])


def test_truncation_at_horizon_and_requested_keys_only():
    env = make_env("cartpole", observations=("image",), image_size=24, horizon=3)
    obs, info = env.reset(seed=1)
    assert set(obs) == {"image"} and info["success"] is False
    flags = [env.step([0.0])[3] for _ in range(3)]
    assert flags == [False, False, True]
