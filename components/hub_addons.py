"""Hub add-ons: what each contributes to the hub (services and roles, keyed by name,
so add-ons add to each other instead of overwriting) and the secrets it needs.

A service whose API token is a secret names the variable holding it
(`SERVICE_TOKEN_ENV_KEY`); jupyterhub_config.py puts the token in its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.config import StackConfig

SERVICE_TOKEN_ENV_KEY = "apiTokenEnv"
METRICS_SERVICE = "metrics"
METRICS_TOKEN_ENV = "METRICS_SERVICE_TOKEN"


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


def metrics_reader(config: StackConfig, token: pulumi.Input[str]) -> HubAddOn | None:
    """A service with no process of its own: its token may read /hub/metrics and nothing else."""
    if not config.metrics.enabled:
        return None
    return HubAddOn(
        services={METRICS_SERVICE: {"name": METRICS_SERVICE, SERVICE_TOKEN_ENV_KEY: METRICS_TOKEN_ENV}},
        roles={METRICS_SERVICE: {"name": METRICS_SERVICE, "scopes": ["read:metrics"], "services": [METRICS_SERVICE]}},
        secret_envs={METRICS_TOKEN_ENV: token},
    )


def hub_addons(config: StackConfig, metrics_token: pulumi.Input[str] = "") -> list[HubAddOn]:
    """The add-ons the stack config asks for; metrics_token is the generated secret ('' for a check of names only)."""
    return [addon for addon in (idle_culler(config), metrics_reader(config, metrics_token)) if addon is not None]


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
