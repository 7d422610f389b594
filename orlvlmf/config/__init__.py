"""Structured, strictly checked run configs (see :mod:`orlvlmf.config.loader`)."""

from orlvlmf.config.loader import (
    ConfigError,
    component_field,
    load_config,
    resolve_config_path,
    shipped_configs,
)

__all__ = ["ConfigError", "component_field", "load_config", "resolve_config_path", "shipped_configs"]
