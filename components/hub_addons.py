"""Hub add-ons: what each contributes to the hub (services and roles, keyed by name,
so add-ons add to each other instead of overwriting) and the secrets it needs.

The idle culler is the first; metrics and backups come next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.config import StackConfig


@dataclass(frozen=True)
class HubAddOn:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # JupyterHub.services entries, by name
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # JupyterHub.load_roles entries, by name
    secret_envs: dict[str, pulumi.Input[str]] = field(default_factory=dict)


def idle_culler(config: StackConfig) -> HubAddOn | None:
    if not config.culler.enabled:
        return None
    name = "idle-culler"
    return HubAddOn(
        services={
            name: {
                "name": name,
                "command": ["python3", "-m", "jupyterhub_idle_culler", f"--timeout={config.culler.timeout_seconds}"],
            }
        },
        roles={
            name: {
                "name": name,
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": [name],
            }
        },
    )


def hub_addons(config: StackConfig) -> list[HubAddOn]:
    return [addon for addon in (idle_culler(config),) if addon is not None]


def merged(addons: list[HubAddOn]) -> HubAddOn:
    """All add-ons together; two that claim one service, role or variable name are a bug."""
    services: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    secret_envs: dict[str, pulumi.Input[str]] = {}
    for addon in addons:
        for name in (
            (set(services) & set(addon.services)) | (set(roles) & set(addon.roles)) | (set(secret_envs) & set(addon.secret_envs))
        ):
            raise ValueError(f"two hub add-ons claim {name}")
        services |= addon.services
        roles |= addon.roles
        secret_envs |= addon.secret_envs
    return HubAddOn(services, roles, secret_envs)
