"""The dataclass side of configs: component fields, and building a config dataclass from a node.

Leaf module (stdlib only; omegaconf only when given a ``DictConfig``), so every section config
(``reward/config.py``, ``policy/config.py``, ...) can import it without importing the loader.

* :func:`component_field` declares a field that selects a registered component by ``name``
  (``policy: {name: iql, ...}``); the loader checks such a node against the component's config.
* :func:`ranged` / :func:`checked` declare a field's valid values beside the field (a number's
  range, a list's length and items, or any check): the loader checks them when a config is
  loaded, and :func:`build` when a node becomes its dataclass, so every config dataclass (a
  plugin's too) owns its own ranges.
* :func:`build` is the one way to turn a config node (mapping, ``DictConfig``, instance, ``None``)
  into its dataclass, refusing unknown keys with :func:`unknown_key` — the message the loader
  gives too.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

T = TypeVar("T")
COMPONENT = "orlvlmf_component"
OPTIONAL = "orlvlmf_optional"
CHECK = "orlvlmf_check"


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


# -- valid values beside each field ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Range:
    """Valid numbers: ``ge`` <= x, ``gt`` < x, x <= ``le``, x < ``lt`` (unset bounds are open).

    On a list field the bounds apply to every item, and ``min_items`` to its length.  ``None``
    (an optional field left unset) and ``${...}`` interpolations pass; types are OmegaConf's job.
    """

    ge: Optional[float] = None
    gt: Optional[float] = None
    le: Optional[float] = None
    lt: Optional[float] = None
    min_items: Optional[int] = None

    def describe(self) -> str:
        lo = f"[{self.ge:g}" if self.ge is not None else (f"({self.gt:g}" if self.gt is not None else None)
        hi = f"{self.le:g}]" if self.le is not None else (f"{self.lt:g})" if self.lt is not None else None)
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return f"{'>=' if self.ge is not None else '>'} {lo[1:]}"
        return f"{'<=' if self.le is not None else '<'} {hi[:-1]}" if hi else "a number"

    def _bad(self, x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return False  # not a number: the type check reports it
        return ((self.ge is not None and not x >= self.ge) or (self.gt is not None and not x > self.gt)
                or (self.le is not None and not x <= self.le) or (self.lt is not None and not x < self.lt))

    def __call__(self, value: Any) -> Optional[str]:
        if value is None or (isinstance(value, str) and value.startswith("${")):
            return None
        if isinstance(value, (list, tuple)):
            if self.min_items is not None and len(value) < self.min_items:
                return f"needs at least {self.min_items} item(s), got {list(value)!r}"
            for i, x in enumerate(value):
                if self._bad(x):
                    return f"must hold numbers {self.describe()}; item {i} is {x!r}"
            return None
        return f"must be {self.describe()}, got {value!r}" if self._bad(value) else None


def ranged(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
           ge: Optional[float] = None, gt: Optional[float] = None, le: Optional[float] = None,
           lt: Optional[float] = None, min_items: Optional[int] = None) -> Any:
    """A dataclass field whose numbers must lie in the given range (see :class:`Range`)::

        batch_size: int = ranged(64, ge=1)
        val_fraction: float = ranged(0.2, ge=0, lt=1)
        hidden: List[int] = ranged(default_factory=lambda: [256], ge=1, min_items=1)
    """
    return checked(default, Range(ge, gt, le, lt, min_items), default_factory=default_factory)


def checked(default: Any = dataclasses.MISSING, check: Callable[[Any], Optional[str]] = None, *,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its own check: ``check(value)`` returns what is wrong (completing
    "'<key>' ...") or ``None``.  The message must not echo a value that may be a secret."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={CHECK: check})


def field_problem(f: dataclasses.Field, value: Any) -> Optional[str]:
    """What is wrong with ``value`` for field ``f`` (``None``: nothing, or no check declared)."""
    check = f.metadata.get(CHECK)
    return check(value) if check is not None else None


def value_problem(cls: type, values: Mapping[str, Any], prefix: str = "") -> Optional[tuple[str, str]]:
    """(dotted key, message) of the first value of ``values`` its field of ``cls`` refuses."""
    for f in dataclasses.fields(cls):
        if f.name in values:
            problem = field_problem(f, values[f.name])
            if problem:
                return f"{prefix}{f.name}", f"'{prefix}{f.name}' {problem}"
    return None


def one_of(*choices: str) -> Callable[[Any], Optional[str]]:
    """Check of a field that takes one of a few words."""
    def check(value: Any) -> Optional[str]:
        if value is None or value in choices or (isinstance(value, str) and value.startswith("${")):
            return None
        return f"must be one of {', '.join(choices)}, got {value!r}"

    return check


def plain_name(value: Any) -> Optional[str]:
    """Check of a name used as one folder (the run ``name``): no separators, not ``.`` / ``..``."""
    if value == "???" or (isinstance(value, str) and value.startswith("${")):
        return None
    v = str(value)
    if v in ("", ".", "..") or any(c in v for c in "/\\\0") or v != v.strip():
        return (f"must be one plain folder name (letters, digits, '-', '_', '.'; no '/', not '.' or "
                f"'..'), got {v!r}: it names the folder under run_dir that holds the run")
    return None


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_var_name(value: Any) -> Optional[str]:
    """Check of a field holding the NAME of an environment variable (``api_key_env``).  The value
    is never echoed: it may be the key itself, pasted in the wrong place."""
    if value is None or (isinstance(value, str) and value.startswith("${")):
        return None
    v = str(value)
    looks_like_key = (len(v) >= 24 and any(c.islower() for c in v) and any(c.isdigit() for c in v))
    if not _ENV_NAME.match(v) or looks_like_key:
        return ("must be the name of an environment variable (letters, digits and '_', e.g. "
                "OPENAI_API_KEY), not the key itself; the value given is not shown. Export the key "
                "as that variable and name the variable here")
    return None


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
    bad = value_problem(cls, args, f"{where}." if where else "")
    if bad:
        raise error(bad[1])
    return cls(**args)
