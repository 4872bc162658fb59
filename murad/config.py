"""Validating a workflow configuration against its JSON schema, with one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import InputError


class ConfigError(InputError):
    """A configuration value that the schema rejects; the message names the key."""


def _fill_defaults(schema: dict, value: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if "default" in sub and key not in value:
            value[key] = sub["default"]
        if sub.get("type") == "object":
            if key not in value and "properties" in sub:
                value[key] = {}
            if isinstance(value.get(key), dict):
                _fill_defaults(sub, value[key])


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Check ``config`` in place (defaults filled in) and return it; raise :class:`ConfigError` on the first problem."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config key {key}: {error.message}")
    _fill_defaults(schema, config)
    return config
