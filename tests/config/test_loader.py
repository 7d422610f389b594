"""Config loading: extends, overrides, strict checking with file names and hints, secrets."""

from dataclasses import dataclass, field
from typing import Any, Dict, List

import pytest
import yaml

from orlvlmf.config import ConfigError, component_field, load_config, resolve_config_path
from orlvlmf.registry import REGISTRY


@dataclass
class ToyEncoderConfig:
    hidden: int = 8
    layers: List[int] = field(default_factory=lambda: [4])


@REGISTRY.register("encoders", "toy-config-enc", config=ToyEncoderConfig)
class ToyEncoder:
    pass


@dataclass
class Inner:
    steps: int = 10
    rate: float = 0.1


@dataclass
class Schema:
    name: str = "???"
    inner: Inner = field(default_factory=Inner)
    encoder: Dict[str, Any] = component_field("encoders", "toy-config-enc")


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_extends_and_overrides_merge_in_order(tmp_path):
    write(tmp_path, "base.yaml", {"name": "b", "inner": {"steps": 5, "rate": 0.5}})
    child = write(tmp_path, "child.yaml", {"extends": "base.yaml", "inner": {"steps": 7}})
    cfg = load_config(child, ["inner.rate=0.25", "encoder.hidden=16"], schema=Schema)
    assert cfg.name == "b" and cfg.inner.steps == 7 and cfg.inner.rate == 0.25
    assert cfg.encoder.hidden == 16 and list(cfg.encoder.layers) == [4]


def test_unknown_key_names_key_file_and_closest(tmp_path):
    p = write(tmp_path, "run.yaml", {"name": "x", "inner": {"stepz": 3}})
    with pytest.raises(ConfigError) as info:
        load_config(p, schema=Schema)
    msg = str(info.value)
    assert str(p) in msg and "inner.stepz" in msg and "Did you mean 'inner.steps'" in msg


def test_unknown_key_from_parent_file_names_the_parent(tmp_path):
    base = write(tmp_path, "base.yaml", {"inenr": {"steps": 3}})
    child = write(tmp_path, "child.yaml", {"extends": "base.yaml", "name": "x"})
    with pytest.raises(ConfigError) as info:
        load_config(child, schema=Schema)
    assert str(base) in str(info.value) and "Did you mean 'inner'" in str(info.value)


def test_unknown_key_inside_a_component_is_checked_against_its_config(tmp_path):
    p = write(tmp_path, "run.yaml", {"name": "x", "encoder": {"name": "toy-config-enc", "hiden": 3}})
    with pytest.raises(ConfigError, match="encoder.hiden.*Did you mean 'encoder.hidden'"):
        load_config(p, schema=Schema)


def test_wrong_type_names_key_and_source():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["name=x", "inner.steps=many"], schema=Schema)
    assert "inner.steps" in str(info.value) and "command line" in str(info.value)


def test_missing_required_value_is_reported():
    with pytest.raises(ConfigError, match="required value 'name' is not set"):
        load_config(None, [], schema=Schema)


def test_unknown_component_name_uses_registry_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown encoder 'toy-config-en'.*Did you mean 'toy-config-enc'"):
        load_config(None, ["name=x", "encoder.name=toy-config-en"], schema=Schema)


def test_changing_component_name_replaces_its_options(tmp_path):
    @REGISTRY.register("encoders", "toy-other-enc")
    class Other:
        pass

    base = write(tmp_path, "base.yaml", {"name": "x", "encoder": {"name": "toy-config-enc", "hidden": 3}})
    child = write(tmp_path, "c.yaml", {"extends": base.name, "encoder": {"name": "toy-other-enc"}})
    cfg = load_config(child, schema=Schema)
    assert dict(cfg.encoder) == {"name": "toy-other-enc"}


def test_literal_secret_is_refused():
    @dataclass
    class WithKey:
        name: str = "x"
        api_key: str = ""

    with pytest.raises(ConfigError, match="literal secret"):
        load_config(None, ["api_key=sk-123"], schema=WithKey)


def test_bare_name_finds_shipped_config_and_missing_one_suggests():
    assert resolve_config_path("drawer.yaml").name == "drawer.yaml"
    assert resolve_config_path("drawer").name == "drawer.yaml"
    with pytest.raises(ConfigError, match="Did you mean 'drawer.yaml'"):
        resolve_config_path("drawr.yaml")


def test_config_is_read_only_and_strict():
    cfg = load_config(None, ["name=x"], schema=Schema)
    with pytest.raises(Exception):
        cfg.inner.steps = 3
    with pytest.raises(Exception):
        _ = cfg.inner.nope


def test_extends_cycle_is_reported(tmp_path):
    write(tmp_path, "a.yaml", {"extends": "b.yaml"})
    write(tmp_path, "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml", schema=Schema)


def test_component_defaults_are_filled_in_sections_nobody_mentions():
    @dataclass
    class Section:
        encoder: Dict[str, Any] = component_field("encoders", "toy-config-enc")

    @dataclass
    class Outer:
        name: str = "x"
        section: Section = field(default_factory=Section)

    cfg = load_config(None, [], schema=Outer)
    assert cfg.section.encoder.hidden == 8 and list(cfg.section.encoder.layers) == [4]
