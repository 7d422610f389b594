"""Registry: decorator registration, lookup errors, duplicates, entry points."""

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from orlvlmf.registry import Entry, Registry, RegistryError


@dataclass
class WidgetConfig:
    width: int = 3


def test_decorator_registers_and_creates():
    reg = Registry()

    @reg.register("encoders", "widget", config=WidgetConfig)
    class Widget:
        def __init__(self, width=1):
            self.width = width

    assert reg.get("encoders", "widget") is Widget
    assert reg.create("encoders", "widget", width=5).width == 5
    assert reg.config_class("encoders", "widget") is WidgetConfig
    assert "widget" in reg.names("encoders")


def test_unknown_name_lists_available_and_suggests_closest():
    reg = Registry()
    reg.register("encoders", "resnet")(type("R", (), {}))
    reg.register("encoders", "mlp")(type("M", (), {}))
    with pytest.raises(RegistryError) as info:
        reg.get("encoders", "resnt")
    msg = str(info.value)
    assert "unknown encoder 'resnt'" in msg
    assert "mlp" in msg and "resnet" in msg
    assert "Did you mean 'resnet'?" in msg


def test_unknown_kind_is_an_error():
    with pytest.raises(RegistryError, match="did you mean 'encoders'"):
        Registry().names("encoder")


def test_two_packages_claiming_one_name_is_an_error_naming_both():
    reg = Registry()
    reg.add(Entry("envs", "cartpole", "pkg-one", "one.mod:Cart", loader=lambda: None))
    with pytest.raises(RegistryError) as info:
        reg.add(Entry("envs", "cartpole", "pkg-two", "two.mod:Cart", loader=lambda: None))
    assert "pkg-one" in str(info.value) and "pkg-two" in str(info.value)


def test_entry_points_load_lazily(monkeypatch):
    loaded = []

    class FakeEP:
        name, value, dist = "lazy-enc", "fake.mod:Enc", SimpleNamespace(name="fake-dist")

        def load(self):
            loaded.append(True)
            return type("Enc", (), {"Config": WidgetConfig})

    import orlvlmf.registry as registry_mod

    monkeypatch.setattr(
        registry_mod.metadata, "entry_points",
        lambda group: [FakeEP()] if group == "orlvlmf.encoders" else [],
    )
    monkeypatch.setitem(registry_mod.BUILTIN_MODULES, "encoders", ())
    reg = Registry()
    entries = reg.entries("encoders")
    assert [e.name for e in entries] == ["lazy-enc"] and entries[0].dist == "fake-dist"
    assert loaded == []  # listing does not import the plugin
    assert reg.config_class("encoders", "lazy-enc") is WidgetConfig
    assert loaded == [True]


def test_reset_keeps_decorated_components():
    reg = Registry()
    reg.register("learners", "mine")(type("L", (), {}))
    reg.reset()
    assert "mine" in reg.names("learners")


def test_a_missing_builtin_module_is_an_import_error_not_an_unknown_name(monkeypatch):
    import orlvlmf.registry as registry_mod

    monkeypatch.setitem(registry_mod.BUILTIN_MODULES, "stages", ("orlvlmf.pipeline.no_such_stages",))
    reg = Registry()
    for _ in range(2):  # a failed scan is not remembered as done
        with pytest.raises(ModuleNotFoundError, match="no_such_stages"):
            reg.names("stages")


def test_lazy_registration_imports_the_class_only_when_looked_up(tmp_path, monkeypatch):
    (tmp_path / "lazy_mod_for_registry.py").write_text(
        "class Heavy:\n    def __init__(self, width=1):\n        self.width = width\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    reg = Registry()
    reg.register_lazy("learners", "heavy", "lazy_mod_for_registry:Heavy", config=WidgetConfig)
    assert "lazy_mod_for_registry" not in sys.modules
    assert reg.names("learners") == ["heavy"]
    assert "lazy_mod_for_registry" not in sys.modules  # listing does not import it
    cls = reg.get("learners", "heavy")
    assert cls.registry_name == "heavy" and cls.Config is WidgetConfig  # written once, learned here
    assert reg.entry_of("learners", cls).name == "heavy"
    with pytest.raises(RegistryError, match="not a registered learner"):
        reg.entry_of("learners", WidgetConfig)
