"""The top level of the stack config: the deployment's name and address, its sections, and
every secret (a secret inside a section would mask the whole section in a preview)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pulumi

from components.config.auth import AuthConfig
from components.config.backup import BackupConfig
from components.config.build import BuildConfig
from components.config.cluster import ClusterConfig
from components.config.culler import CullerConfig
from components.config.logs import LogsConfig
from components.config.metrics import MetricsConfig
from components.config.registry import setting
from components.config.spawner import SpawnerConfig
from components.config.tls import TlsConfig
from components.config.values import IMAGE_REF, each, ip_address, pattern
from components.names import DeploymentNames

# `name` prefixes image names (<name>-hub:<tag>), so it must be a valid repository path
# component in Docker's reference grammar: lower case, separators between alphanumerics.
_IMAGE_NAME_COMPONENT = re.compile(r"(?=.{1,50}$)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


@dataclass(frozen=True)
class StackConfig:
    name: str = setting(
        "jupyterhub",
        "prefix of every container, volume, network and image of the deployment",
        check=pattern(
            _IMAGE_NAME_COMPONENT,
            "not usable in image names (lower-case letters and digits, separated by single '.', '_' or '-'; at most 50)",
            "pulumi config set name jupyterhub",
        ),
    )
    public_ip: str = setting("0.0.0.0", "host address the proxy is published on (`127.0.0.1` for dev)", check=ip_address)
    public_port: int = setting(8000, "host port the proxy is published on", low=1, high=65535)
    public_host: tuple[str, ...] = setting(
        (),
        "the host name users type (or a list: the first is the `publicUrl` output's, all get certificates with "
        "`tls.mode acme`); empty: `localhost` or `publicIp`",
        check=each(pattern(_HOST_NAME, "not a host name", "pulumi config set publicHost hub.example.org")),
        one_or_list=True,
    )
    notebook_rollback_image: str = setting(
        "",
        "a previous `notebookImage` output; new servers use it instead of the current build (checked on the host first)",
        check=pattern(
            IMAGE_REF,
            "not an image reference",
            "use a name:tag from the stack output notebookImage of an earlier deploy, or remove the key",
            optional=True,
        ),
    )
    docker_api_proxy: bool = setting(
        True,
        "the hub reaches Docker through the filtering API proxy, not the socket (see "
        "[Security model](../explanation/security.md))",
    )
    build: BuildConfig = setting(BuildConfig(), "")
    auth: AuthConfig = setting(AuthConfig(), "")
    spawner: SpawnerConfig = setting(SpawnerConfig(), "")
    culler: CullerConfig = setting(CullerConfig(), "")
    logs: LogsConfig = setting(LogsConfig(), "")
    backup: BackupConfig = setting(BackupConfig(), "")
    metrics: MetricsConfig = setting(MetricsConfig(), "")
    cluster: ClusterConfig = setting(ClusterConfig(), "")
    tls: TlsConfig = setting(TlsConfig(), "")
    oauth_client_secret: pulumi.Output[str] | None = setting(
        None,
        "the OAuth client's secret (`oidc`, `github`, `generic-oauth`): `pulumi config set --secret oauthClientSecret …`",
        secret=True,
    )
    ldap_search_password: pulumi.Output[str] | None = setting(
        None, "`ldap` search bind: the password of `auth.ldapSearchUser`", secret=True
    )
    shared_password: pulumi.Output[str] | None = setting(None, "the password of `shared-password`", secret=True)
    tls_certificate: pulumi.Output[str] | None = setting(
        None, "`tls.mode files`: the PEM certificate (chain) served on `publicPort`", secret=True
    )
    tls_key: pulumi.Output[str] | None = setting(
        None, 'its PEM key: `pulumi config set --secret tlsKey -- "$(cat key.pem)"`', secret=True
    )
    backup_password: pulumi.Output[str] | None = setting(
        None, "the backup repository's password (restic encrypts every snapshot with it; keep a copy elsewhere)", secret=True
    )
    registry_password: pulumi.Output[str] | None = setting(
        None, "swarm: the password of `cluster.registryUsername` at `cluster.registry`", secret=True
    )
    backup_credentials: pulumi.Output[str] | None = setting(
        None,
        "`KEY=value` lines the repository's backend needs, e.g. `AWS_ACCESS_KEY_ID=…` and `AWS_SECRET_ACCESS_KEY=…` for s3",
        secret=True,
    )

    @property
    def serves_tls(self) -> bool:
        return self.tls.mode != "off"

    @property
    def public_url(self) -> str:
        """The URL users type: the first publicHost (else localhost or publicIp), the port unless the scheme's own."""
        host_name = next(iter(self.public_host), "localhost" if self.publishes_on_loopback else self.public_ip)
        scheme = "https" if self.serves_tls else "http"
        port = "" if (scheme, self.public_port) in (("https", 443), ("http", 80)) else f":{self.public_port}"
        return f"{scheme}://{host_name}{port}/"

    @property
    def oauth_callback_url(self) -> str:
        """Where the identity provider sends users back: `auth.oauthCallbackUrl`, else the public URL's."""
        return self.auth.oauth_callback_url or f"{self.public_url}hub/oauth_callback"

    @property
    def publishes_on_loopback(self) -> bool:
        return ipaddress.ip_address(self.public_ip).is_loopback

    @property
    def names(self) -> DeploymentNames:
        return DeploymentNames(self.name, self.spawner.home_volume_template)
