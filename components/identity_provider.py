"""The preview's questions to the identity provider (`auth.type oidc` and `ldap`).

Asked from the running hub (`docker exec`), so the answer is the one the hub will get:
its network, its name resolution, its trust of `auth.caRoot`. With no hub running (a
first deployment, or a stopped hub) they are asked from this machine, and the preview
says so. A failure stops the preview with the reason; nothing running is touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import docker.errors
import pulumi

from components import ldap_reachability, oidc_discovery
from components.config import ConfigError, StackConfig
from components.config.registry import fail
from components.public_port import provider_client

PRIVATE_CA = "and auth.caRoot for a private CA"


def oidc_endpoints(config: StackConfig) -> dict[str, str]:
    """`auth.type oidc`: the issuer's endpoints (oidc_discovery.py); {} with another type."""
    auth = config.auth
    if auth.type != "oidc":
        return {}

    def here() -> str:
        return json.dumps(oidc_discovery.discover(auth.oidc_issuer, auth.ca_root))

    try:
        where, output = _ask(config, oidc_discovery, [auth.oidc_issuer], auth.ca_root, here)
    except oidc_discovery.UnusableError as error:
        fix = f"check the issuer URL (its discovery document names it), that the hub's host reaches it, {PRIVATE_CA}"
        raise fail("auth.oidcIssuer", auth.oidc_issuer, str(error), fix) from error
    pulumi.log.info(f"auth.oidcIssuer {auth.oidc_issuer} answered (asked {where})")
    endpoints: dict[str, str] = json.loads(output)
    return endpoints


def check_ldap_server(config: StackConfig) -> None:
    """`auth.type ldap`: the server answers LDAP, with TLS as configured and a certificate the hub trusts."""
    auth = config.auth
    if auth.type != "ldap":
        return
    tls = not auth.ldap_plain_text

    def here() -> str:
        return ldap_reachability.check(auth.ldap_url, tls, auth.ca_root)

    try:
        where, _ = _ask(config, ldap_reachability, [auth.ldap_url, "tls" if tls else "plain"], auth.ca_root, here)
    except ldap_reachability.UnusableError as error:
        fix = f"check the server's name and port, that the hub's host reaches it, {PRIVATE_CA}"
        raise fail("auth.ldapUrl", auth.ldap_url, str(error), fix) from error
    pulumi.log.info(f"auth.ldapUrl {auth.ldap_url} answered (asked {where})")


def _ask(config: StackConfig, script: ModuleType, arguments: list[str], ca_root: str, here: Callable[[], str]) -> tuple[str, str]:
    """Where it was asked, and the answer: `script` (runnable on its own) run in the hub, else `here()`."""
    try:
        hub = provider_client().containers.get(config.names.hub_container)
    except docker.errors.NotFound:
        hub = None
    if hub is None or hub.status != "running":
        return "from this machine: no hub runs yet", here()
    source = Path(str(script.__file__)).read_text()
    environment = {script.CA_ROOT_ENV: ca_root}
    result = hub.exec_run(["python3", "-I", "-c", source, *arguments], environment=environment, demux=True)
    stdout, stderr = (part.decode(errors="replace").strip() if part else "" for part in result.output)
    if result.exit_code == 0:
        return "from the hub's network", stdout
    if result.exit_code == 2:
        raise script.UnusableError(f"{stderr} (asked from the hub's network)")
    raise ConfigError(f"the identity provider check could not run in the hub (exit {result.exit_code}): {stderr[-400:]}")
