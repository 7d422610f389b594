"""One registry for every plugin kind.

A *component* is anything a config can select by name: an encoder, an environment, a feedback
backend, a learner, a dataset reader, a pipeline stage.  Components reach the registry two ways,
through one mechanism:

* built-ins use the :func:`register` decorator (or :func:`register_lazy` with a
  ``"module:Class"`` target, for heavy modules) in modules listed in :data:`BUILTIN_MODULES`;
  those modules are imported the first time their kind is looked up, so ``import orlvlmf`` stays light;
* other distributions declare entry points in the group ``orlvlmf.<kind>``
  (e.g. ``[project.entry-points."orlvlmf.encoders"] my-net = "my_pkg.nets:MyNet"``); an entry point
  is read from package metadata when its kind is first used and only *loaded* when looked up by name.

A component may carry its structured config dataclass in ``register(..., config=Cls)`` or as a
``Config`` attribute; configs that select the component are validated against it.  Once loaded,
a component knows its registered name (``registry_name``) and config class (``Config``).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata as metadata
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

KINDS: tuple[str, ...] = ("encoders", "envs", "feedback", "learners", "datasets", "stages")

#: Modules whose import registers the built-in components of each kind.
BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "encoders": ("orlvlmf.encoders",),
    "envs": (),
    "feedback": ("orlvlmf.feedback.backends",),
    "learners": ("orlvlmf.policy.learners",),
    "datasets": ("orlvlmf.data.formats",),
    "stages": (
        "orlvlmf.data.stage",
        "orlvlmf.feedback.stage",
        "orlvlmf.reward.stage",
        "orlvlmf.reward.clip_stage",
        "orlvlmf.policy.stage",
        "orlvlmf.evaluation.stage",
        "orlvlmf.report.stage",
    ),
}

#: How one component of each kind is called in messages.
SINGULAR = {"encoders": "encoder", "envs": "env", "feedback": "feedback backend",
            "learners": "learner", "datasets": "dataset reader", "stages": "stage"}

ENTRY_POINT_PREFIX = "orlvlmf."
BUILTIN_DIST = "orlvlmf"


class RegistryError(LookupError):
    """A component could not be found or two components claim one name."""


@dataclass
class Entry:
    """One registered component; ``obj`` is ``None`` until an entry point is loaded."""

    kind: str
    name: str
    dist: str
    target: str
    obj: Any = None
    config: type | None = None
    loader: Callable[[], Any] | None = field(default=None, repr=False)

    def load(self) -> Any:
        if self.obj is None:
            assert self.loader is not None
            obj = self.loader()
            self.obj = obj
            if self.config is None:
                self.config = getattr(obj, "Config", None)
            _annotate(obj, self.name, self.config)
        return self.obj


def _annotate(obj: Any, name: str, config: type | None) -> None:
    """Tell a component its registered name (and config class), whichever way it registered."""
    try:
        obj.registry_name = name
        if config is not None and getattr(obj, "Config", None) is None:
            obj.Config = config
    except (AttributeError, TypeError):  # an object that takes no attributes: fine
        pass


def _import_target(target: str) -> Any:
    """The object a ``"package.module:attr"`` target names."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _closest(name: str, options: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return found[0] if found else None


def _dist_of_module(module: str) -> str:
    top = module.split(".")[0]
    if top == "orlvlmf":
        return BUILTIN_DIST
    return _packages_distributions().get(top, [top])[0]


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """Top-level module → distributions (scanning metadata is slow: done once)."""
    try:
        return metadata.packages_distributions()
    except Exception:  # pragma: no cover - broken metadata on the machine
        return {}


class Registry:
    """Name → component tables, one per kind, filled lazily."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._scanned: set[str] = set()
        self._lock = threading.RLock()

    # -- registration -------------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        with self._lock:
            self._check_kind(entry.kind)
            table = self._tables[entry.kind]
            old = table.get(entry.name)
            if old is not None:
                same = old.target == entry.target or (old.obj is not None and old.obj is entry.obj)
                if not same:
                    raise RegistryError(
                        f"two components claim the {SINGULAR[entry.kind]} name '{entry.name}': "
                        f"{old.target} (from package '{old.dist}') and {entry.target} "
                        f"(from package '{entry.dist}'). Uninstall one of the two packages or "
                        f"rename one entry point."
                    )
                if old.obj is None and entry.obj is not None:
                    old.obj, old.config = entry.obj, entry.config or old.config
                return
            table[entry.name] = entry

    def register(self, kind: str, name: str | None = None, *, config: type | None = None):
        """Decorator: ``@register("encoders", "mlp", config=MLPConfig)``."""

        def wrap(obj: Any) -> Any:
            comp_name = name or getattr(obj, "__name__", None)
            cfg = config if config is not None else getattr(obj, "Config", None)
            target = f"{obj.__module__}:{obj.__qualname__}"
            self.add(Entry(kind, comp_name, _dist_of_module(obj.__module__), target, obj, cfg))
            _annotate(obj, comp_name, cfg)
            return obj

        return wrap

    def register_lazy(self, kind: str, name: str, target: str, *, config: type | None = None) -> None:
        """Register ``"package.module:Class"`` without importing it (until it is looked up).

        For components whose module is heavy (torch, Lightning) while their config must be
        checkable cheaply: the name, the config class and the target are written once, here.
        """
        module = target.partition(":")[0]
        self.add(Entry(kind, name, _dist_of_module(module), target, config=config,
                       loader=lambda: _import_target(target)))

    # -- discovery ----------------------------------------------------------------------------
    def _check_kind(self, kind: str) -> None:
        if kind not in self._tables:
            hint = _closest(kind, KINDS)
            raise RegistryError(
                f"unknown plugin kind '{kind}'; kinds are {', '.join(KINDS)}"
                + (f" (did you mean '{hint}'?)" if hint else "")
            )

    def _scan(self, kind: str) -> None:
        with self._lock:
            if kind in self._scanned:
                return
            self._scanned.add(kind)  # first: a module that looks up its own kind does not recurse
            try:
                for module in BUILTIN_MODULES.get(kind, ()):
                    importlib.import_module(module)  # a typo here is an ImportError, not "unknown"
                for ep in metadata.entry_points(group=ENTRY_POINT_PREFIX + kind):
                    dist = ep.dist.name if ep.dist is not None else "?"
                    self.add(Entry(kind, ep.name, dist, ep.value, loader=ep.load))
            except BaseException:
                self._scanned.discard(kind)
                raise

    def entries(self, kind: str) -> list[Entry]:
        self._check_kind(kind)
        self._scan(kind)
        return sorted(self._tables[kind].values(), key=lambda e: e.name)

    def names(self, kind: str) -> list[str]:
        return [e.name for e in self.entries(kind)]

    def entry(self, kind: str, name: str) -> Entry:
        self._check_kind(kind)
        self._scan(kind)
        table = self._tables[kind]
        if name not in table:
            available = sorted(table)
            hint = _closest(str(name), available)
            msg = f"unknown {SINGULAR[kind]} '{name}'. Available {kind}: " + (
                ", ".join(available) if available else "(none installed)"
            )
            if hint:
                msg += f". Did you mean '{hint}'?"
            raise RegistryError(msg)
        entry = table[name]
        entry.load()
        return entry

    def entry_of(self, kind: str, obj: Any) -> Entry:
        """The (loaded) entry registered for ``obj``, found by its import path."""
        target = f"{obj.__module__}:{obj.__qualname__}"
        for entry in self.entries(kind):
            if entry.obj is obj or entry.target == target:
                entry.load()
                return entry
        raise RegistryError(f"{target} is not a registered {SINGULAR[kind]}: register it (see "
                            f"orlvlmf.registry) before building it")

    def get(self, kind: str, name: str) -> Any:
        """The registered object (class or factory) for ``name``."""
        return self.entry(kind, name).obj

    def config_class(self, kind: str, name: str) -> type | None:
        return self.entry(kind, name).config

    def create(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """Instantiate ``name`` of ``kind`` (timm's ``create_model`` for every kind)."""
        return self.get(kind, name)(*args, **kwargs)

    def reset(self) -> None:
        """Forget entry points so the next lookup reads package metadata again.

        Components registered by decorator stay: their modules are imported only once.
        """
        with self._lock:
            for kind, table in self._tables.items():
                self._tables[kind] = {n: e for n, e in table.items() if e.loader is None}
            self._scanned.clear()


REGISTRY = Registry()
register = REGISTRY.register
register_lazy = REGISTRY.register_lazy
get = REGISTRY.get
create = REGISTRY.create
