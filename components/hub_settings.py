"""What the hub is told: settings.json (no secrets) and its secret environment.

The settings are the validated stack config sections under the names the stack
config uses (`auth.adminUsers` is `settings["auth"]["adminUsers"]`), the spawner
section of the deployment's user-server backend, the add-ons' services and roles,
and where the hub finds the rest of the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.config import StackConfig
from components.config.registry import settings_section
from components.hub_addons import HubAddOn
from components.names import HUB_CONFIG_DIR, HUB_DATA_DIR, HUB_PORT, TLS_HTTPS_PORT, DeploymentNames
from components.user_servers import UserServerImages, backend_of

ROUTE_CHECK_INTERVAL_S = 5  # a restarted proxy has no routes; the hub re-adds them this often
PROXY_TOKEN_ENV = "CONFIGPROXY_AUTH_TOKEN"  # the name configurable-http-proxy reads


def hub_settings(
    config: StackConfig,
    names: DeploymentNames,
    images: UserServerImages,
    addons: HubAddOn,
    oidc_endpoints: Mapping[str, str],
    docker_host_name: str = "",
) -> dict[str, Any]:
    return {
        "hub": {
            "connectIp": names.hub_container,
            "port": HUB_PORT,
            "dataDir": HUB_DATA_DIR,
            "configDir": HUB_CONFIG_DIR,
            "proxyApiUrl": names.proxy_api_url,
            "routeCheckIntervalSeconds": ROUTE_CHECK_INTERVAL_S,
            # Behind TLS with a name: the hub's redirects and its cookies' Secure flag follow it.
            "publicUrl": config.public_url if config.serves_tls and config.public_host else "",
        },
        # The callback URL in effect (its default made from the public URL) and the issuer's endpoints (preflight).
        "auth": {
            **settings_section(config.auth),
            "oauthCallbackUrl": config.oauth_callback_url if config.auth.authenticator.oauth else "",
            "oidcEndpoints": dict(oidc_endpoints),
        },
        "spawner": backend_of(config).hub_settings(config, images, docker_host_name),
        "services": addons.services,
        "roles": addons.roles,
        "certificateMetrics": certificate_metrics(config, names),
    }


def certificate_metrics(config: StackConfig, names: DeploymentNames) -> dict[str, Any] | None:
    """Where the hub asks for each public name's certificate (hub_config/certificate_metrics.py)."""
    if not (config.metrics.enabled and config.serves_tls):
        return None
    return {"host": names.tls_container, "port": TLS_HTTPS_PORT, "names": list(config.public_host) or [""]}


def hub_secret_envs(config: StackConfig, proxy_auth_token: pulumi.Input[str], addons: HubAddOn) -> dict[str, pulumi.Input[str]]:
    """The secrets jupyterhub_config.py reads from its environment, by variable name."""
    envs: dict[str, pulumi.Input[str]] = {PROXY_TOKEN_ENV: proxy_auth_token, **addons.secret_envs}
    authenticator = config.auth.authenticator
    secret = getattr(config, authenticator.secret) if authenticator.secret else None
    if secret is not None:
        envs[authenticator.secret_env] = secret
    return envs
