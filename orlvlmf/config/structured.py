"""The dataclass side of configs: component fields, and building a config dataclass from a node.

Leaf module (stdlib only; omegaconf only when given a ``DictConfig``), so every section config
(``reward/config.py``, ``policy/config.py``, ...) can import it without importing the loader.

* :func:`component_field` declares a field that selects a registered component by ``name``
  (``policy: {name: iql, ...}``); the loader checks such a node against the component's config.
* :func:`build` is the one way to turn a config node (mapping, ``DictConfig``, instance, ``None``)
  into its dataclass, refusing unknown keys with :func:`unknown_key` — the message the loader
  gives too.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Iterable, Mapping, TypeVar

T = TypeVar("T")
COMPONENT = "orlvlmf_component"
OPTIONAL = "orlvlmf_optional"


class ConfigError(ValueError):
    """A config cannot be used; the message says what is wrong, where, and how to fix it."""


def component_field(kind: str, default: str | None, *, optional: bool = False,
                    **defaults: Any) -> Any:
    """A dataclass field that selects a registered component of ``kind`` by ``name``.

    ``optional``: the field may be omitted or ``null`` (no component); its type must then be
    ``Optional[...]``.
    """
    node = ({"name": default} if default is not None else {"name": "???"}) | defaults
    return dataclasses.field(
        default_factory=(lambda: None) if optional and default is None else (lambda: dict(node)),
        metadata={COMPONENT: kind, OPTIONAL: optional})


def component_kind(f: dataclasses.Field) -> str | None:
    """Plugin kind of a field declared with :func:`component_field`, else ``None``."""
    return f.metadata.get(COMPONENT)


def component_optional(f: dataclasses.Field) -> bool:
    """Whether a :func:`component_field` may be ``null`` (no component)."""
    return bool(f.metadata.get(OPTIONAL))


def unknown_key(keys: Iterable[Any], cls: type, prefix: str = "") -> str | None:
    """The message for the first of ``keys`` that ``cls`` has no field for (``None``: all known).

    ``prefix`` is the dotted path of the node (``"policy."``), so the message names the full key.
    """
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in keys:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.4)
            return (f"unknown key '{prefix}{key}'"
                    + (f". Did you mean '{prefix}{hint[0]}'?" if hint else "")
                    + f" Valid keys here: {', '.join(fields)}")
    return None


def to_plain(node: Any) -> Any:
    """A ``DictConfig`` / ``ListConfig`` as plain containers (interpolations resolved); else as is."""
    if type(node).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(node, resolve=True)
    return node


def build(cls: type[T], node: Any, where: str = "", *, component: bool = False,
          error: type[Exception] = ConfigError) -> T:
    """``cls`` from a config node: an instance as is, ``None`` → defaults, a mapping checked.

    ``where`` is the node's dotted key (named in errors); ``component``: the node selects a
    registered component, so its ``name`` key is not an option of ``cls``.  Unknown keys raise
    ``error`` (a :class:`ConfigError` unless the caller has its own error type).
    """
    if isinstance(node, cls):
        return node
    if node is None:
        return cls()
    node = to_plain(node)
    if not isinstance(node, Mapping):
        raise error(f"{where or cls.__name__} must be a mapping of keys to values, got {node!r}")
    args = {k: v for k, v in node.items() if not (component and k == "name")}
    problem = unknown_key(args, cls, f"{where}." if where else "")
    if problem:
        raise error(problem)
    return cls(**args)
