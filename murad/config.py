"""Validating a workflow configuration against its JSON schema, with one-line errors naming the key.

Nested ``--config`` values reach the workflow as text: Snakemake reads ``KEY=VALUE`` as int, float, ``True``/``False``,
then YAML with the BaseLoader, which leaves every nested leaf a string (``evaluation={threshold: 0.4}`` gives
``"0.4"``). :func:`validate_config` reads such strings by the types the schema allows at their key before checking.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import InputError


class ConfigError(InputError):
    """A configuration value that the schema rejects; the message names the key."""


# The readings of command-line text, as YAML 1.2's core schema reads plain scalars. Snakemake's own parser takes
# True/False at the top level, a subset of these; YAML 1.1's yes/no/on/off stay text (and are refused where the
# schema wants a boolean), and so do .inf/.nan, 0x1f, 0o17 and 1_000.
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_KINDS = ("null", "boolean", "integer", "number")  # tried in this order; their readings never overlap
_UNREADABLE = object()


def _fill_defaults(schema: dict, value: dict, root: dict | None = None) -> None:
    """Put each missing key's schema default into ``value``, in nested objects too (through ``$ref``)."""
    root = root or schema
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:  # "#/$defs/<name>", with the referring schema's own keywords beside it
            sub = {**root["$defs"][sub["$ref"].rpartition("/")[2]], **sub}
        if "default" in sub and key not in value:
            value[key] = copy.deepcopy(sub["default"])
        is_section = sub.get("type") == "object" and "properties" in sub
        if is_section and isinstance(value.setdefault(key, {}), dict):
            _fill_defaults(sub, value[key], root)


def _read_as(text: str, kind: str) -> object:
    """``text`` read as a JSON ``kind`` (an integer-looking number stays an int), or ``_UNREADABLE``."""
    if kind == "null":
        return None if text in _NULLS else _UNREADABLE
    if kind == "boolean":
        return _BOOLEANS.get(text, _UNREADABLE)
    try:
        if _INTEGER.fullmatch(text):  # an integer, or a number that stays an int
            return int(text)
        if kind == "number" and _NUMBER.fullmatch(text) and math.isfinite(number := float(text)):  # not 1e999
            return number
    except ValueError:  # over Python's 4300 digits
        pass
    return _UNREADABLE


def _type_errors(errors) -> list:
    """The schema's `type` errors among ``errors``, those inside `anyOf` alternatives included."""
    found = []
    for error in errors:
        if error.validator == "type":
            found.append(error)
        found += _type_errors(error.context or [])
    return found


def _given(overrides: Mapping, path: list, config: dict) -> bool:
    """Whether the value at ``path`` in ``config`` is still the one the command line gave."""
    given, value = overrides, config
    for key in path:
        try:
            given, value = given[key], value[key]
        except (KeyError, IndexError, TypeError):
            return False
    return given is value or given == value


def _read_overrides(config: dict, overrides: Mapping, validator: Draft202012Validator) -> None:
    """Where the schema says a value from the command line is text of the wrong type, read it as the first of the
    types it allows there that the text reads as cleanly; a value nothing reads stays text, for the schema to
    refuse. The command line's mapping itself is left as Snakemake holds it."""
    for error in _type_errors(validator.iter_errors(config)):
        path = list(error.absolute_path)
        if not isinstance(error.instance, str) or not path or not _given(overrides, path, config):
            continue
        allowed = {error.validator_value} if isinstance(error.validator_value, str) else set(error.validator_value)
        for kind in _KINDS:
            if kind in allowed or (kind == "integer" and "number" in allowed):
                value = _read_as(error.instance, kind)
                if value is not _UNREADABLE:
                    _set(config, overrides, path, value)
                    break


def _set(config: dict, overrides: Mapping, path: list, value: object) -> None:
    """Put ``value`` at ``path`` in ``config``, copying on the way any list or dict it shares with ``overrides``
    (Snakemake's merge of the command line into the config keeps some of them as the same objects)."""
    parent, given = config, overrides
    for key in path[:-1]:
        child, given = parent[key], given[key]
        if child is given:
            child = parent[key] = list(child) if isinstance(child, list) else dict(child)
        parent = child
    parent[path[-1]] = value


def validate_config(config: dict, schema_path: str | Path, overrides: Mapping | None = None) -> dict:
    """Check ``config`` in place (defaults filled in) and return it; raise :class:`ConfigError` on the first problem.

    ``overrides`` is the command line's ``--config`` mapping as Snakemake holds it (``workflow.config_settings.config``,
    already merged into ``config``): its strings are first read, in ``config``, as the types the schema allows at their
    key (``"0.4"`` a number, ``"500"`` an integer, ``"true"`` a boolean, ``"null"`` null, lists item by item). Values
    the schema takes as strings, and every value from config files, are left as they are."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = Draft202012Validator(schema)
    if overrides:
        _read_overrides(config, overrides, validator)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config key {key}: {error.message}")
    _fill_defaults(schema, config)
    return config


def is_colormap(name: str) -> bool:
    """Whether matplotlib has a colour map ``name`` (the CAM overlays' ``cam.colormap``); imports matplotlib only."""
    import matplotlib

    return name in matplotlib.colormaps
