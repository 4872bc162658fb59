"""Validating a workflow configuration against its JSON schema, with one-line errors naming the key.

Nested ``--config`` values reach the workflow as text: Snakemake reads ``KEY=VALUE`` as int, float, ``True``/``False``,
then YAML with the BaseLoader, which leaves every nested leaf a string (``evaluation={threshold: 0.4}`` gives
``"0.4"``). :func:`validate_config` reads such strings by the types the schema allows at their key before checking.
"""

from __future__ import annotations

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


def _fill_defaults(schema: dict, value: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if "default" in sub and key not in value:
            value[key] = sub["default"]
        if sub.get("type") == "object":
            if key not in value and "properties" in sub:
                value[key] = {}
            if isinstance(value.get(key), dict):
                _fill_defaults(sub, value[key])


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


def _options(schema: object, root: dict, refs: frozenset = frozenset()) -> list[dict]:
    """The alternatives ``schema`` allows: local ``$ref`` followed, ``anyOf``/``oneOf`` spread out (each with the
    keywords beside it). ``true`` (or a ``$ref`` this cannot follow) reads as ``{}``, anything goes; ``false``: none."""
    if schema is True:
        return [{}]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in refs or not ref.startswith("#/"):
            return [{}]
        target = root
        try:
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
        except (KeyError, IndexError, TypeError):
            return [{}]
        beside = {key: value for key, value in schema.items() if key != "$ref"}
        if not isinstance(target, dict):
            return _options(target, root, refs | {ref})
        return _options({**target, **beside}, root, refs | {ref})
    alternatives = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    if not alternatives:
        return [schema]
    beside = {key: value for key, value in schema.items() if key not in ("anyOf", "oneOf")}
    return [{**beside, **option} for sub in alternatives for option in _options(sub, root, refs)]


def _types(option: dict) -> set[str] | None:
    """The JSON types ``option`` names (``type``, else those of its ``enum``/``const``); None when it names none."""
    if "type" in option:
        return {option["type"]} if isinstance(option["type"], str) else set(option["type"])
    if "enum" in option or "const" in option:
        values = option["enum"] if "enum" in option else [option["const"]]
        kinds = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string"}
        return {kinds.get(type(value), "other") for value in values}
    return None


def _allowed(option: dict, value: object) -> bool:
    """Whether ``value`` is in ``option``'s ``enum``/``const`` (True where it has neither); 1 is not True here."""
    if "enum" not in option and "const" not in option:
        return True
    values = option["enum"] if "enum" in option else [option["const"]]
    return any(isinstance(value, bool) == isinstance(item, bool) and value == item for item in values)


def _read_text(text: str, options: list[dict]) -> object:
    """``text`` as the schema ``options`` take it: kept where one takes a string, else the first clean reading as a
    type one allows, else kept (the schema then refuses it, naming the key)."""
    for option in options:
        types = _types(option)
        if (types is None or "string" in types) and _allowed(option, text):
            return text
    for option in options:
        types = _types(option) or set()
        for kind in _KINDS:
            if kind in types or (kind == "integer" and "number" in types):
                value = _read_as(text, kind)
                if value is not _UNREADABLE and _allowed(option, value):
                    return value
    return text


def _holding(options: list[dict], kind: str) -> list[dict]:
    """The ``options`` that may hold an ``array`` or ``object``."""
    return [option for option in options if (types := _types(option)) is None or kind in types]


def _key_options(options: list[dict], key: str, root: dict) -> list[dict]:
    """The alternatives for the value at ``key`` of an object that ``options`` describe."""
    found = []
    for option in _holding(options, "object"):
        properties = option.get("properties", {})
        patterns = [sub for pattern, sub in option.get("patternProperties", {}).items() if re.search(pattern, key)]
        if key in properties or patterns:
            subs = ([properties[key]] if key in properties else []) + patterns
        else:
            subs = [option.get("additionalProperties", True)]
        found += [sub_option for sub in subs for sub_option in _options(sub, root)]
    return found


def _item_options(options: list[dict], index: int, root: dict) -> list[dict]:
    """The alternatives for item ``index`` of an array that ``options`` describe."""
    found = []
    for option in _holding(options, "array"):
        prefix = option.get("prefixItems", [])
        sub = prefix[index] if index < len(prefix) else option.get("items", True)
        found += _options(sub, root)
    return found


def _read(value: object, options: list[dict], root: dict) -> object:
    """``value`` from the command line with its strings read by ``options`` (new lists and dicts, the given ones are
    left as they are: Snakemake shares them with its own copy of the command line)."""
    if isinstance(value, str):
        return _read_text(value, options)
    if isinstance(value, list):
        return [_read(item, _item_options(options, index, root), root) for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {key: _read(item, _key_options(options, key, root), root) for key, item in value.items()}
    return value


def _read_overrides(config: dict, overrides: Mapping, options: list[dict], root: dict) -> None:
    """Read, in ``config``, the values that ``overrides`` (the command line's ``--config``) put there."""
    for key, given in overrides.items():
        if key not in config:
            continue
        key_options = _key_options(options, key, root)
        if isinstance(given, Mapping) and isinstance(config[key], dict):
            _read_overrides(config[key], given, key_options, root)
        elif config[key] == given:  # still the command line's value
            config[key] = _read(given, key_options, root)


def validate_config(config: dict, schema_path: str | Path, overrides: Mapping | None = None) -> dict:
    """Check ``config`` in place (defaults filled in) and return it; raise :class:`ConfigError` on the first problem.

    ``overrides`` is the command line's ``--config`` mapping as Snakemake holds it (``workflow.config_settings.config``,
    already merged into ``config``): its strings are first read, in ``config``, as the types the schema allows at their
    key (``"0.4"`` a number, ``"500"`` an integer, ``"true"`` a boolean, ``"null"`` null, lists item by item). Values
    the schema takes as strings, and every value from config files, are left as they are."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    if overrides:
        _read_overrides(config, overrides, _options(schema, schema), schema)
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config key {key}: {error.message}")
    _fill_defaults(schema, config)
    return config
