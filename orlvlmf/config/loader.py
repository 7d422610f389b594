"""Load a run config: YAML files (with ``extends``) + dot-list overrides, checked strictly.

Composition
    A file may say ``extends: base.yaml`` (or a list).  Parents merge first, the file on top, the
    command-line overrides last.  A mapping that carries ``name`` selects a registered component;
    when a later source changes that ``name`` the mapping is *replaced*, not merged, so options of
    the old component never leak into the new one.

Checking (before any work starts)
    * unknown keys → error naming the key, the file that set it and the closest valid key;
    * wrong types → error naming the key, the value and the file;
    * missing required values (``???``) → error naming the key and how to set it;
    * values outside the range their field declares (``ranged`` / ``checked`` in
      :mod:`orlvlmf.config.structured`) → error naming the key, the valid range and the file;
    * component nodes are checked against the config dataclass the component registered;
    * a secret-looking key (``api_key``, ``token``, ...) given a literal value is refused: secrets
      come from the environment only.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from orlvlmf.config.structured import (ConfigError, component_kind, component_optional, unknown_key,
                                       value_problem)
from orlvlmf.registry import REGISTRY, SINGULAR, RegistryError

COMMAND_LINE = "the command line"
SECRET_KEY = re.compile(r"(^|_)(api_?key|token|secret|password)$", re.IGNORECASE)


# -- locating files ---------------------------------------------------------------------------
def shipped_config_dir() -> Path:
    """Directory of the configs shipped with orlvlmf (the repository's ``configs/``)."""
    repo_configs = Path(__file__).resolve().parents[2] / "configs"
    if (repo_configs / "__init__.py").is_file():  # a source checkout / editable install
        return repo_configs
    from importlib import resources  # an installed wheel maps configs/ to orlvlmf.configs

    return Path(str(resources.files("orlvlmf.configs")))


def shipped_configs() -> list[str]:
    return sorted(p.name for p in shipped_config_dir().glob("*.yaml"))


def resolve_config_path(name: str | Path, relative_to: Path | None = None) -> Path:
    """A path as given, else relative to the including file, else a shipped config by name."""
    p = Path(name)
    candidates = [p] if p.is_absolute() else [Path.cwd() / p]
    if relative_to is not None and not p.is_absolute():
        candidates.insert(0, relative_to / p)
    if not p.is_absolute() and len(p.parts) == 1:
        stem = p.name if p.suffix in (".yaml", ".yml") else p.name + ".yaml"
        candidates.append(shipped_config_dir() / stem)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    hint = difflib.get_close_matches(p.name, shipped_configs(), n=1, cutoff=0.5)
    raise ConfigError(
        f"config '{name}' not found (looked in: {', '.join(str(c) for c in candidates)}). "
        f"Shipped configs: {', '.join(shipped_configs()) or '(none)'}"
        + (f". Did you mean '{hint[0]}'?" if hint else "")
    )


# -- reading and merging ---------------------------------------------------------------------
def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    return data


def _file_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    if path in seen:
        raise ConfigError(f"{path}: 'extends' forms a cycle: {' -> '.join(map(str, seen + (path,)))}")
    data = _read_yaml(path)
    parents = data.pop("extends", None) or []
    if isinstance(parents, str):
        parents = [parents]
    chain: list[tuple[Path, dict]] = []
    for parent in parents:
        chain += _file_chain(resolve_config_path(parent, relative_to=path.parent), seen + (path,))
    return chain + [(path, data)]


def _parse_overrides(overrides: Iterable[str]) -> dict:
    out: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.path=value (e.g. reward.epochs=5)")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is set twice with different shapes")
        node[parts[-1]] = value
    return out


def _merge(base: dict, top: dict, source: str, prov: dict, prefix: str = "") -> dict:
    """Merge ``top`` into ``base`` (in place) recording which source set each dotted key."""
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        old = base.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            if "name" in value and value.get("name") != old.get("name"):
                base[key] = {}
                _forget(prov, dotted)
            _merge(base[key], dict(value), source, prov, dotted + ".")
        else:
            base[key] = _copy(value)
            _forget(prov, dotted)
            _mark(prov, dotted, value, source)
    return base


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mark(prov: dict, dotted: str, value: Any, source: str) -> None:
    prov[dotted] = source
    if isinstance(value, Mapping):
        for k, v in value.items():
            _mark(prov, f"{dotted}.{k}", v, source)


def _forget(prov: dict, dotted: str) -> None:
    for k in [k for k in prov if k == dotted or k.startswith(dotted + ".")]:
        del prov[k]


# -- checking ---------------------------------------------------------------------------------
class _Checker:
    def __init__(self, prov: dict, files: list[Path]):
        self.prov = prov
        self.files = files

    def where(self, dotted: str) -> str:
        src = self.prov.get(dotted)
        if src is None:
            parts = dotted.split(".")
            while parts and src is None:
                parts.pop()
                src = self.prov.get(".".join(parts))
        return src or (str(self.files[-1]) if self.files else COMMAND_LINE)

    def fail(self, dotted: str, what: str) -> typing.NoReturn:
        raise ConfigError(f"{self.where(dotted)}: {what}")

    def check(self, node: dict, cls: type, prefix: str = "") -> dict:
        """Checked plain container for ``node`` against dataclass ``cls`` (defaults filled in)."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        plain: dict = {}
        components: dict[str, tuple[str, dict]] = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            problem = unknown_key([key], cls, prefix)
            if problem:
                self.fail(dotted, problem)
            f = fields[key]
            kind = component_kind(f)
            sub = hints.get(key)
            if kind is not None and value is None and component_optional(f):
                components[key] = (kind, None)
            elif kind is not None:
                if not isinstance(value, Mapping):
                    value = {"name": value}  # ``encoder: mlp`` is short for ``encoder: {name: mlp}``
                default = (f.default_factory() if callable(f.default_factory) else None) or {}
                if value.get("name", default.get("name")) == default.get("name"):
                    value = {**default, **value}  # options for the default component
                components[key] = (kind, dict(value))
            elif dataclasses.is_dataclass(sub) and isinstance(value, Mapping):
                plain[key] = self.check(dict(value), sub, dotted + ".")
            else:
                plain[key] = value
        for key, f in fields.items():  # sections no source mentions: their components' defaults too
            sub = hints.get(key)
            if key not in node and component_kind(f) is None and dataclasses.is_dataclass(sub):
                plain[key] = self.check({}, sub, f"{prefix}{key}.")
        # defaults + type conversion through OmegaConf's structured merge
        try:
            base = OmegaConf.structured(cls)
            for key, f in fields.items():
                if component_kind(f) is not None:
                    components.setdefault(key, (component_kind(f), f.default_factory()))
            merged = OmegaConf.merge(
                base, {k: v for k, v in plain.items()}
            )
        except OmegaConfBaseException as err:
            key = f"{prefix}{getattr(err, 'full_key', '') or ''}".rstrip(".")
            value = getattr(err, "value", None)
            self.fail(key, f"bad value for '{key}'" + (f" ({value!r})" if value is not None else "")
                      + f": {str(err).splitlines()[0]}")
        out = OmegaConf.to_container(merged, resolve=False)
        bad = value_problem(cls, out, prefix)  # the ranges / checks declared beside the fields
        if bad:
            self.fail(*bad)
        for key, (kind, value) in components.items():
            out[key] = None if value is None else self.check_component(kind, value, f"{prefix}{key}")
        return out

    def check_component(self, kind: str, node: dict, dotted: str) -> dict:
        name = node.get("name")
        if name in (None, "???"):
            try:
                options = ", ".join(REGISTRY.names(kind))
            except RegistryError:
                options = "?"
            self.fail(dotted, f"'{dotted}.name' is required: which {SINGULAR[kind]} to use ({options})")
        try:
            cfg_cls = REGISTRY.config_class(kind, name)
        except RegistryError as err:
            self.fail(f"{dotted}.name", f"{dotted}.name: {err}")
        args = {k: v for k, v in node.items() if k != "name"}
        if cfg_cls is None:
            return {"name": name, **args}
        return {"name": name, **self.check(args, cfg_cls, dotted + ".")}


def _check_missing(cfg: DictConfig, checker: _Checker) -> None:
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        key = missing[0]
        more = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise ConfigError(
            f"required value '{key}' is not set{more}. Set it in {checker.where(key)} "
            f"or on the command line as {key}=VALUE"
        )


def _check_secrets(node: Any, checker: _Checker, prefix: str = "") -> None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            dotted = f"{prefix}{k}"
            if SECRET_KEY.search(str(k)) and isinstance(v, str) and v and not v.startswith("${oc.env:"):
                checker.fail(
                    dotted,
                    f"'{dotted}' holds a literal secret. Secrets come from the environment only: "
                    f"export it and name the variable instead (e.g. api_key_env: OPENAI_API_KEY)",
                )
            _check_secrets(v, checker, dotted + ".")


def load_config(
    config: str | Path | None, overrides: Iterable[str] = (), schema: type | None = None
) -> DictConfig:
    """Compose, check and return a read-only, struct-mode run config."""
    if schema is None:
        from orlvlmf.config.schema import RunConfig as schema  # noqa: N813
    prov: dict[str, str] = {}
    merged: dict = {}
    files: list[Path] = []
    if config is not None:
        for path, data in _file_chain(resolve_config_path(config)):
            files.append(path)
            _merge(merged, data, str(path), prov)
    _merge(merged, _parse_overrides(overrides), COMMAND_LINE, prov)
    checker = _Checker(prov, files)
    _check_secrets(merged, checker)
    container = checker.check(merged, schema)
    cfg = OmegaConf.create(container)
    _check_missing(cfg, checker)
    # Interpolations stay unresolved in the object (``${oc.env:...}`` must never be written out);
    # they resolve on access.
    OmegaConf.set_struct(cfg, True)
    OmegaConf.set_readonly(cfg, True)
    return cfg
