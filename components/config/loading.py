"""Reading the stack config: raw values (as Pulumi gives them) into a checked `StackConfig`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from components.config.checks import check_stack
from components.config.registry import ConfigError, config_key, fail, record_of, registry, section_of, set_command
from components.config.spawner import extra_images_replaced
from components.config.stack import StackConfig

SECRET_NAMES = tuple(k.key for k in registry(StackConfig) if k.secret)
# Keys in sections that later versions replaced: the fix for a stack that still sets one.
REPLACED_KEYS: dict[str, Callable[[Any], str]] = {"spawner.extraImages": extra_images_replaced}


def _read(key: str, value: Any, kind: Any, rule: Mapping[str, Any]) -> Any:
    """A raw value (as Pulumi gives it: text, or JSON types inside objects) as the field's type."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise fail(key, value, "must be true or false", set_command(key, str(rule["default"]).lower()))
    if kind is int or kind is float:
        low, high = rule["low"], rule["high"]
        try:
            number = kind(str(value))
        except ValueError:
            number = None
        if number is None or not low <= number <= high or isinstance(value, bool):
            kind_of_number = "a whole number" if kind is int else "a number"
            raise fail(key, value, f"must be {kind_of_number} from {low} to {high}", set_command(key, rule["default"]))
        return number
    if kind is str:
        if not isinstance(value, str):
            raise fail(key, value, "must be a string", set_command(key, "<text>"))
        return value
    if (record := record_of(kind)) is not None:
        if not isinstance(value, list):
            raise fail(key, value, "must be a list of objects", f"pulumi config set --path '{key}[0].<field>' <value>")
        return tuple(_parse_section(record, item, f"{key}[{index}].", {}) for index, item in enumerate(value))
    if kind == tuple[str, ...]:
        if rule["one_or_list"] and isinstance(value, str):
            return (value,) if value else ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise fail(key, value, "must be a list of strings", f"pulumi config set --path '{key}[0]' <text>")
        return tuple(value)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail(key, value, "must be a map of label to string", f"pulumi config set --path '{key}.<label>' <text>")
    return dict(value)


def _parse_section(section: type, raw: Any, prefix: str, secrets: Mapping[str, pulumi.Output[str] | None]) -> Any:
    if not isinstance(raw, dict):
        raise fail(prefix.rstrip("."), raw, "must be an object", f"see the '{prefix}*' keys in docs/reference/config.md")
    types = typing.get_type_hints(section)
    values: dict[str, Any] = {}
    for entry in dataclasses.fields(section):
        name = config_key(entry.name)
        key = prefix + name
        rule = {**entry.metadata, "default": entry.default}
        if rule["secret"]:
            values[entry.name] = secrets.get(name)
        elif (subsection := section_of(entry)) is not None:
            values[entry.name] = _parse_section(subsection, raw.get(name, {}), key + ".", secrets)
        elif name in raw:
            values[entry.name] = _read(key, raw[name], types[entry.name], rule)
            if rule["choices"] and values[entry.name] not in rule["choices"]:
                choices = rule["choices"]
                raise fail(key, raw[name], f"unknown choice; expected one of {', '.join(choices)}", set_command(key, choices[0]))
            if rule["check"]:
                rule["check"](key, values[entry.name])
    settable = {config_key(entry.name) for entry in dataclasses.fields(section) if not entry.metadata["secret"]}
    for name in sorted(set(raw) - settable):
        if (replacement := REPLACED_KEYS.get(prefix + name)) is not None:
            raise ConfigError(f"config '{prefix + name}': {replacement(raw[name])}")
        known_here = ", ".join(sorted(prefix + key for key in settable))
        raise fail(prefix + name, raw[name], "unknown setting", f"check its spelling; known here: {known_here}")
    return section(**values)


def parse_config(raw: Mapping[str, Any], secrets: Mapping[str, pulumi.Output[str] | None]) -> StackConfig:
    """Check raw stack config values (keys without the project prefix) and type them."""
    config: StackConfig = _parse_section(StackConfig, dict(raw), "", secrets)
    check_stack(config)
    return config


def plain_secret_error(key: str) -> ConfigError:
    """A secret key set without --secret: its value would sit in the stack file, and then in git."""
    return ConfigError(
        f"config '{key}': a secret, set in plain text in Pulumi.<stack>.yaml. "
        f"Fix: pulumi config set --secret {key} <value> (this encrypts it in place)"
    )


MOVED_KEYS = {"httpRedirectPort": "tls.httpPort"}  # keys of earlier versions, and where they went


def _refuse_unknown_top_level_keys() -> None:
    """`pulumi config set publcPort 9000` would otherwise deploy on the default port without a word."""
    prefix = f"{pulumi.get_project()}:"
    given = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    known = {config_key(f.name) for f in dataclasses.fields(StackConfig)}
    for key in sorted(k.removeprefix(prefix) for k in given if k.startswith(prefix)):
        if key in MOVED_KEYS:
            raise ConfigError(
                f"config '{key}': moved to {MOVED_KEYS[key]}. "
                f"Fix: pulumi config rm {key}, then {set_command(MOVED_KEYS[key], '<its value>')}"
            )
        if key not in known:
            raise ConfigError(
                f"config '{key}': not a setting of this program (known: {', '.join(sorted(known))}). "
                f"Fix: pulumi config rm {key}, and set the key you meant"
            )


def load_config() -> StackConfig:
    """Read this stack's config through Pulumi and check it."""
    _refuse_unknown_top_level_keys()
    config = pulumi.Config()
    raw: dict[str, Any] = {}
    for entry in dataclasses.fields(StackConfig):
        key = config_key(entry.name)
        text = None if entry.metadata["secret"] else config.get(key)
        if text is None:
            continue
        if entry.metadata["one_or_list"] and text.startswith("["):
            with contextlib.suppress(json.JSONDecodeError):  # not JSON: the value's own check names it
                raw[key] = json.loads(text)  # a YAML list reaches the program as JSON text
                continue
        if section_of(entry) is None:
            raw[key] = text
            continue
        try:
            raw[key] = json.loads(text)
        except json.JSONDecodeError as error:
            raise fail(key, text, f"not a YAML object ({error})", f"see the '{key}.*' keys in docs/reference/config.md") from None
    project = pulumi.get_project()
    secret_keys = set(pulumi.runtime.config.get_config_secret_keys_env())
    for key in SECRET_NAMES:
        full_key = f"{project}:{key}"
        if config.get(key) is not None and not (full_key in secret_keys or pulumi.runtime.is_config_secret(full_key)):
            raise plain_secret_error(key)
    secrets = {key: config.get_secret(key) for key in SECRET_NAMES}
    return parse_config(raw, secrets)
