"""Values that describe a deployment are immutable once made: a component cannot change
another's arguments, settings or policy behind its back."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

MODULES = [
    "components.config.auth",
    "components.config.backup",
    "components.config.build",
    "components.config.cluster",
    "components.config.culler",
    "components.config.logs",
    "components.config.metrics",
    "components.config.registry",
    "components.config.spawner",
    "components.config.stack",
    "components.config.tls",
    "components.names",
    "components.user_servers",
    "components.hub_addons",
    "components.images",
    "components.preflight",
    "components.deployment",
    "components.hub",
    "components.proxy",
    "components.network",
    "components.docker_api_proxy",
    "components.built_image",
    "components.host_image",
    "components.tls",
    "components.shared_volumes",
    "docker_api_proxy.wire",
    "docker_api_proxy.policy",
]


def dataclasses_of(module_name: str) -> list[type]:
    module = importlib.import_module(module_name)
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and dataclasses.is_dataclass(value) and value.__module__ == module_name
    ]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_dataclass_is_frozen(module_name: str) -> None:
    found = dataclasses_of(module_name)
    assert found, f"{module_name} has no dataclass: remove it from this list"
    for cls in found:
        assert cls.__dataclass_params__.frozen, f"{cls.__name__} must be frozen"  # type: ignore[attr-defined]
