"""Structured, strictly checked run configs.

* :mod:`.structured` — leaf: :class:`ConfigError`, :func:`component_field`, :func:`build`
  (a config dataclass from a node, unknown keys refused), :func:`ranged` / :func:`checked`
  (a field's valid values, declared beside it);
* :mod:`.loader` — YAML files with ``extends`` + dot-list overrides, checked against a schema;
* :mod:`.schema` — the run config :class:`~orlvlmf.config.schema.RunConfig`, composed of the
  section dataclasses that live beside their code.
"""

from orlvlmf.config.loader import load_config, resolve_config_path, shipped_configs
from orlvlmf.config.structured import ConfigError, build, checked, component_field, ranged

__all__ = ["ConfigError", "build", "checked", "component_field", "load_config", "ranged",
           "resolve_config_path", "shipped_configs"]
