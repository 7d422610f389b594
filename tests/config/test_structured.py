"""`build`: the one way a config node becomes its dataclass (learners, CLIP, sweep specs)."""

from dataclasses import dataclass

import pytest
from omegaconf import OmegaConf

from orlvlmf.config import ConfigError, build


@dataclass
class Opts:
    steps: int = 10
    rate: float = 0.1


def test_mapping_dictconfig_instance_and_none():
    assert build(Opts, {"steps": 3}) == Opts(steps=3)
    assert build(Opts, OmegaConf.create({"rate": 0.5})) == Opts(rate=0.5)
    given = Opts(steps=7)
    assert build(Opts, given) is given
    assert build(Opts, None) == Opts()


def test_unknown_key_names_the_dotted_key_and_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'policy.stepz'. Did you mean 'policy.steps'\?"):
        build(Opts, {"stepz": 3}, "policy")


def test_component_nodes_drop_their_name_others_keep_it():
    assert build(Opts, {"name": "iql", "steps": 2}, "policy", component=True) == Opts(steps=2)
    with pytest.raises(ConfigError, match="unknown key 'clip.name'"):
        build(Opts, {"name": "x"}, "clip")


def test_callers_choose_their_error_type_and_non_mappings_are_refused():
    with pytest.raises(KeyError):
        build(Opts, {"bad": 1}, error=KeyError)
    with pytest.raises(ConfigError, match="tasks\\[\\] must be a mapping"):
        build(Opts, [1, 2], "tasks[]")
