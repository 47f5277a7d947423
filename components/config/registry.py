"""The key registry's machinery: a setting is a dataclass field with its rule in the
field's metadata; a section is a field whose default is a section dataclass."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A stack config value is missing or wrong; the message says how to fix it."""


def fail(key: str, value: object, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"config '{key}' = {value!r}: {problem}. Fix: {fix}")


def set_command(key: str, value: object) -> str:
    """The `pulumi config set` that gives key a value (nested keys need --path)."""
    return f"pulumi config set {'--path ' if '.' in key else ''}{key} {value}"


Check = Callable[[str, Any], None]  # raises ConfigError naming the key


def setting(
    default: Any,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    secret: bool = False,
    one_or_list: bool = False,
) -> Any:
    """A field of the registry: a stack config key with its default, its doc and its rule
    (`one_or_list`: a list of strings that may also be given as one string)."""
    metadata = {
        "doc": doc, "low": low, "high": high, "choices": choices, "check": check, "secret": secret, "one_or_list": one_or_list
    }  # fmt: skip
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section_of(entry: dataclasses.Field[Any]) -> type | None:
    """The section class a field holds, or None for a key."""
    return type(entry.default) if dataclasses.is_dataclass(entry.default) else None


def record_of(kind: Any) -> type | None:
    """The record class of a list-of-records key (a field typed `tuple[Record, ...]`), or None."""
    arguments = typing.get_args(kind)
    if typing.get_origin(kind) is tuple and len(arguments) == 2 and dataclasses.is_dataclass(arguments[0]):
        return typing.cast(type, arguments[0])
    return None


def config_key(field_name: str) -> str:
    """The stack config key of a field: its name in camelCase."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class Key:
    """One entry of the registry, as the site's config table and the parser see it."""

    key: str
    default: Any
    doc: str
    secret: bool
    low: float | None = None
    high: float | None = None


def registry(section: type, prefix: str = "") -> Iterator[Key]:
    """Every key of section and its subsections, in field order (a list of records: the list's
    key, then each field of its records as `key[].field`)."""
    types = typing.get_type_hints(section)
    for entry in dataclasses.fields(section):
        key = prefix + config_key(entry.name)
        if (subsection := section_of(entry)) is not None:
            yield from registry(subsection, key + ".")
            continue
        default = {} if entry.default is dataclasses.MISSING else entry.default
        rule = entry.metadata
        yield Key(key, default, rule["doc"], rule["secret"], rule["low"], rule["high"])
        if (record := record_of(types[entry.name])) is not None:
            yield from registry(record, key + "[].")


def settings_section(section: Any) -> dict[str, Any]:
    """A validated section as the hub's settings.json carries it: the stack config's key names and values."""
    return {
        config_key(entry.name): list(value) if isinstance(value, tuple) else value
        for entry in dataclasses.fields(section)
        for value in [getattr(section, entry.name)]
    }
