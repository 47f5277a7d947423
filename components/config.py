"""Stack configuration: one registry of keys, read once, checked once, typed.

Each setting is one field below: its stack config key is the field name in
camelCase (`spawner.mem_limit` is `spawner.memLimit` in `Pulumi.<stack>.yaml`), and
`setting()` gives its default, its one-line doc (the README's table is generated
from these, `scripts/config_table.py`) and its bounds or check. The parser walks
the fields, so every key at every level is known, and anything else is refused.
A bad value raises `ConfigError`, naming the key, the value and the fix, before any
resource is declared.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.names import DeploymentNames
from components.user_servers import BACKENDS, BUILT_IMAGE_LABEL, backend_of

# JupyterHub's own rule for user names is loose; this is the subset that is also
# a valid Docker container / volume name fragment.
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# `name` prefixes image names (<name>-hub:<tag>), so it must be a valid repository path
# component in Docker's reference grammar: lower case, separators between alphanumerics.
_IMAGE_NAME_COMPONENT = re.compile(r"(?=.{1,50}$)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_MEMORY = re.compile(r"[1-9][0-9]*[KMGT]?")
_MEMORY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}  # JupyterHub's ByteSpecification
MIN_MEMORY_BYTES = 6 * 1024**2  # the engine refuses smaller limits
MIN_CPU_LIMIT = 0.01  # DockerSpawner's quota int(limit * 100000) must be at least the engine's 1000
_IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_HTTP_URL = re.compile(r"https?://\S+")
# A Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) with `{username}` in it once, and a
# fixed part beside it so that user names cannot pick arbitrary volumes of the host.
_HOME_VOLUME_TEMPLATE = re.compile(
    r"(?=.{1,200}$)(?=.*[a-zA-Z0-9_.-]\{username\}|.*\{username\}[a-zA-Z0-9_.-])"
    r"(?:[a-zA-Z0-9][a-zA-Z0-9_.-]*)?\{username\}[a-zA-Z0-9_.-]*"
)

# A registry a Docker engine pulls from: host[:port] and an optional path, lower case.
_REGISTRY = re.compile(
    r"(?=.{1,200}$)[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
# The Swarm placement constraints this program accepts (and can evaluate at preview).
PLACEMENT_CONSTRAINT = re.compile(
    r"(?P<attribute>node\.(?:id|hostname|role|platform\.os|platform\.arch)|(?:node|engine)\.labels\.[A-Za-z0-9][A-Za-z0-9_.-]*)"
    r" *(?P<operator>==|!=) *(?P<value>[A-Za-z0-9][A-Za-z0-9_.-]*)"
)


class ConfigError(ValueError):
    """A stack config value is missing or wrong; the message says how to fix it."""


def _fail(key: str, value: object, problem: str, fix: str) -> ConfigError:
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


def _pattern(pattern: re.Pattern[str], problem: str, fix: str, *, optional: bool = False) -> Check:
    def check(key: str, value: str) -> None:
        if not (optional and value == "") and not pattern.fullmatch(value):
            raise _fail(key, value, problem, fix)

    return check


def _each(check: Check) -> Check:
    def check_items(key: str, values: tuple[str, ...]) -> None:
        for value in values:
            check(key, value)

    return check_items


def _user_name(key: str, name: str) -> None:
    if not _USERNAME.fullmatch(name):
        raise _fail(
            key,
            name,
            "not a valid user name (lower-case letters, digits, '.', '_', '-'; starts with a letter or digit)",
            f"correct the name in {key}",
        )


def _memory(key: str, value: str) -> None:
    if not _MEMORY.fullmatch(value) or memory_bytes(value) < MIN_MEMORY_BYTES:
        raise _fail(key, value, "not a memory size of at least 6M", "use a number with an optional K, M, G or T suffix, e.g. 2G")


def _ip_address(key: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _fail(key, value, "not an IP address", set_command(key, "127.0.0.1")) from None


def _existing_path(key: str, value: str) -> None:
    if value and not Path(value).exists():
        raise _fail(
            key, value, "no such file or directory", "point it at a PEM file or a directory of *.crt files, or remove the key"
        )


def _extra_images(key: str, images: Mapping[str, str]) -> None:
    for label, ref in images.items():
        if label == BUILT_IMAGE_LABEL:
            raise _fail(f"{key}.{label}", ref, "the label of the image built from build.notebook", "give it another label")
        if not _IMAGE_REF.fullmatch(ref):
            raise _fail(f"{key}.{label}", ref, "not an image reference", "use name:tag of an image on the host")


def _http_url(key: str, value: str) -> None:
    _pattern(_HTTP_URL, "not an http(s) URL", set_command(key, "<url>"))(key, value)


def memory_bytes(size: str) -> int:
    return int(size.rstrip("KMGT")) * _MEMORY_UNITS[size.lstrip("0123456789")]


@dataclass(frozen=True)
class BuildConfig:
    base_image: str = setting(
        "debian:trixie-slim",
        "image every Dockerfile starts `FROM`",
        check=_pattern(_IMAGE_REF, "not an image reference", "pulumi config set --path build.baseImage debian:trixie-slim"),
    )
    extra_ca_certs_path: str = setting(
        "", "PEM file, or folder of `*.crt`, trusted during image builds (see below)", check=_existing_path
    )
    pip_index_url: str = setting(
        "https://pypi.org/simple", "Python package index used by the hub and notebook builds", check=_http_url
    )
    npm_registry: str = setting("https://registry.npmjs.org/", "npm registry used by the proxy build", check=_http_url)
    keep_builds: int = setting(
        3, "`admin.prune_images` keeps this many newest builds of each image, beside those in use", low=1, high=100
    )


@dataclass(frozen=True)
class Authenticator:
    """What each auth.type needs from the stack config, and the secret it gives the hub."""

    required: tuple[str, ...] = ()  # auth.* keys that must be set
    secret: str = ""  # the secret stack key, passed to the hub as secret_env
    secret_env: str = ""
    needs_allow_rule: bool = False  # OAuth lets nobody in without one (JupyterHub >= 5)
    loopback_only: bool = False


OAUTH = ("oauthClientId", "oauthCallbackUrl")
AUTHENTICATORS = {
    "native": Authenticator(),
    "github": Authenticator(OAUTH, "oauthClientSecret", "OAUTH_CLIENT_SECRET", needs_allow_rule=True),
    "generic-oauth": Authenticator(
        (*OAUTH, "oauthAuthorizeUrl", "oauthTokenUrl", "oauthUserdataUrl"),
        "oauthClientSecret",
        "OAUTH_CLIENT_SECRET",
        needs_allow_rule=True,
    ),
    "shared-password": Authenticator(secret="sharedPassword", secret_env="SHARED_PASSWORD", loopback_only=True),
}


@dataclass(frozen=True)
class AuthConfig:
    type: str = setting(
        "native",
        "`native`, `github`, `generic-oauth`, or `shared-password` (dev only, loopback only)",
        choices=tuple(AUTHENTICATORS),
    )
    admin_users: tuple[str, ...] = setting(
        (), "JupyterHub admins (with `native`, these may sign up without approval)", check=_each(_user_name)
    )
    open_signup: bool = setting(False, "`native`: new sign-ups may log in without an admin's approval")
    allowed_users: tuple[str, ...] = setting(
        (), "OAuth allow rule: these users (one allow rule is required for OAuth)", check=_each(_user_name)
    )
    allowed_organizations: tuple[str, ...] = setting((), "`github` allow rule: members of these organizations")
    allow_all: bool = setting(False, "OAuth allow rule: everyone the identity provider lets log in")
    oauth_client_id: str = setting("", "required for `github` and `generic-oauth`")
    oauth_callback_url: str = setting("", "required for `github` and `generic-oauth`: `https://<host>/hub/oauth_callback`")
    oauth_authorize_url: str = setting("", "`generic-oauth`: the provider's authorize endpoint")
    oauth_token_url: str = setting("", "`generic-oauth`: the provider's token endpoint")
    oauth_userdata_url: str = setting("", "`generic-oauth`: the provider's user-info endpoint")
    oauth_username_claim: str = setting("preferred_username", "`generic-oauth`: the user-info field that is the user name")

    @property
    def authenticator(self) -> Authenticator:
        return AUTHENTICATORS[self.type]


@dataclass(frozen=True)
class SpawnerConfig:
    type: str = setting(
        "docker",
        "`docker`, or `systemuser` (host `/home/<user>`; experimental, see below; needs `dockerApiProxy false`)",
        choices=tuple(BACKENDS),
    )
    mem_limit: str = setting("2G", "memory limit per user server (`512M`, `2G`, …; at least `6M`)", check=_memory)
    cpu_limit: float = setting(1.0, "CPUs per user server", low=MIN_CPU_LIMIT, high=256.0)
    pids_limit: int = setting(
        4096, "processes and threads per user server: a fork bomb stays inside its container", low=64, high=1_048_576
    )
    start_timeout_seconds: int = setting(120, "how long a spawn may take", low=5, high=3600)
    home_volume_template: str = setting(
        "",
        "each user's home volume; `{username}` is DockerSpawner's escaped user name. Empty: "
        "`<name>-home-{username}`. An adopted deployment's scheme (e.g. `jupyterhub-user-{username}`) "
        "mounts its volumes as they are",
        check=_pattern(
            _HOME_VOLUME_TEMPLATE,
            "not a volume name with {username} once and a fixed prefix or suffix",
            "pulumi config set --path spawner.homeVolumeTemplate 'jupyterhub-user-{username}'",
            optional=True,
        ),
    )
    max_servers: int = setting(
        200,
        "users' servers at once (the hub turns more away; the Docker API filter refuses more, pending ones included)",
        low=1,
        high=100_000,
    )
    extra_images: Mapping[str, str] = setting(
        {},
        "more images (`label: name:tag`) users pick from at spawn; each must be on the host (checked before the hub "
        "is replaced); `default` is the built image",
        check=_extra_images,
    )

    @property
    def mem_limit_bytes(self) -> int:
        return memory_bytes(self.mem_limit)


# A restic repository: an absolute folder on the Docker host, or a backend URL restic knows.
_RESTIC_REPOSITORY = re.compile(r"/[^\s:]*|(?:sftp|s3|rest|b2|azure|gs|swift|rclone):\S+")
_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True)
class BackupConfig:
    enabled: bool = setting(False, "a daily restic backup of the hub's data and every user's home (see Backups)")
    repository: str = setting(
        "",
        "where snapshots go: an absolute folder on the Docker host (mounted into the backup container), or a restic "
        "URL (`sftp:…`, `s3:…`, `rest:…`)",
        check=_pattern(
            _RESTIC_REPOSITORY,
            "not a restic repository (an absolute folder, or a sftp:, s3:, rest:, b2:, azure:, gs:, swift: or rclone: URL)",
            "pulumi config set --path backup.repository /srv/backups/jupyterhub",
            optional=True,
        ),
    )
    daily_at: str = setting(
        "03:00",
        "when the daily backup runs (UTC, `HH:MM`)",
        check=_pattern(_HH_MM, "not a time of day", "pulumi config set --path backup.dailyAt 03:00"),
    )
    keep_daily: int = setting(7, "daily snapshots kept (restic forget --keep-daily)", low=0, high=3650)
    keep_weekly: int = setting(4, "weekly snapshots kept", low=0, high=520)
    keep_monthly: int = setting(12, "monthly snapshots kept", low=0, high=1200)


LOG_DRIVERS = ("json-file", "local", "journald")


@dataclass(frozen=True)
class LogsConfig:
    driver: str = setting(
        "json-file",
        "log driver of every container of the deployment, user servers too: `json-file` (plain files `docker logs` "
        "reads), `local` (compressed files), `journald` (the host's journal, which bounds itself)",
        choices=LOG_DRIVERS,
    )
    max_size_mb: int = setting(10, "with json-file or local: a container's log is rotated at this size (MB)", low=1, high=10240)
    max_files: int = setting(3, "with json-file or local: log files kept per container, the current one too", low=1, high=100)

    @property
    def options(self) -> dict[str, str]:
        """The driver's options (`docker run --log-opt`): a size bound for the file drivers."""
        if self.driver == "journald":
            return {}
        return {"max-size": f"{self.max_size_mb}m", "max-file": str(self.max_files)}


@dataclass(frozen=True)
class CullerConfig:
    enabled: bool = setting(True, "stop idle servers (jupyterhub-idle-culler as a hub service)")
    timeout_seconds: int = setting(3600, "idle time before a server is stopped", low=60, high=30 * 24 * 3600)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = setting(
        False,
        "Prometheus metrics: a `metrics` hub service that may only read them (its token is the `metricsToken` "
        "secret output; scrape `<publicUrl>/hub/metrics`), and the proxy's own (see Metrics)",
    )
    proxy_port: int = setting(
        0, "host port for the proxy's own metrics (no authentication) on `metrics.publishIp`; 0: not published", low=0, high=65535
    )
    prometheus: bool = setting(False, "run a Prometheus (Debian's package) that scrapes hub and proxy")
    prometheus_port: int = setting(9090, "host port of that Prometheus, on `metrics.publishIp`", low=1, high=65535)
    retention_days: int = setting(15, "days of samples that Prometheus keeps", low=1, high=3650)
    publish_ip: str = setting(
        "127.0.0.1", "host address the proxy's metrics port and Prometheus are published on", check=_ip_address
    )


TLS_MODES = ("off", "files", "acme")
ACME_DIRECTORIES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# Both reach the terminator's Caddyfile as bare words: no space, brace, quote, backslash or '#'.
_HTTPS_URL = re.compile(r"https://[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&()*+,;=:@/-]*)?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+")
PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def _acme_directory(key: str, value: str) -> None:
    if value not in ACME_DIRECTORIES and not _HTTPS_URL.fullmatch(value):
        raise _fail(
            key, value, "neither a named CA (letsencrypt, letsencrypt-staging) nor an https:// directory URL",
            set_command(key, "letsencrypt-staging"),
        )  # fmt: skip


def _pem_certificates(key: str, value: str) -> None:
    if value and not (PEM_CERTIFICATE.search(value) and not PEM_CERTIFICATE.sub("", value).strip()):
        raise _fail(
            key, value[:40] + "…" if len(value) > 40 else value, "not PEM certificates (-----BEGIN CERTIFICATE----- …)",
            f'pulumi config set --path {key} -- "$(cat root.pem)"',
        )  # fmt: skip


@dataclass(frozen=True)
class TlsConfig:
    mode: str = setting(
        "off",
        "`off` (plain HTTP on `publicPort`: dev, or behind your own TLS proxy), `files` (the certificate in "
        "`tlsCertificate`/`tlsKey`) or `acme` (certificates from an ACME CA such as Let's Encrypt, renewed on their own; "
        "see Put it on the internet). Not `off`: a TLS terminator (Caddy) serves `publicPort` in front of the proxy",
        choices=TLS_MODES,
    )
    http_port: int = setting(
        80,
        "not `off`: the host port of plain HTTP, which redirects to HTTPS and answers the ACME HTTP-01 challenge; `0`: "
        "none (ACME then validates by TLS-ALPN-01 on `publicPort`, which must be reachable as 443)",
        low=0,
        high=65535,
    )
    acme_email: str = setting(
        "",
        "`acme`: the ACME account's contact address (the CA writes there about expiring certificates)",
        check=_pattern(_EMAIL, "not an e-mail address", set_command("tls.acmeEmail", "ops@example.org"), optional=True),
    )
    acme_directory: str = setting(
        "letsencrypt",
        "`acme`: `letsencrypt`, `letsencrypt-staging` (untrusted certificates, generous limits: try it first), or the "
        "https directory URL of another ACME CA (step-ca, your company's)",
        check=_acme_directory,
    )
    acme_ca_root: str = setting(
        "", "`acme`: PEM root certificate(s) of a private ACME CA, trusted for its directory's HTTPS", check=_pem_certificates
    )
    hsts_max_age_seconds: int = setting(
        31_536_000,
        "not `off`: `Strict-Transport-Security` max-age (browsers then refuse plain HTTP and certificate warnings for "
        "that long); `0`: no header",
        low=0,
        high=63_072_000,
    )
    renewal_check_seconds: int = setting(
        600,
        "`acme`: how often the terminator checks its certificates; it renews one when a third of its lifetime is left",
        low=5,
        high=86_400,
    )

    @property
    def acme_directory_url(self) -> str:
        return ACME_DIRECTORIES.get(self.acme_directory, self.acme_directory)


CLUSTER_MODES = ("single", "swarm")
WORKERS_ONLY = "node.role == worker"
HOME_MODES = ("sticky", "shared")


@dataclass(frozen=True)
class ClusterConfig:
    mode: str = setting(
        "single",
        "`single` (one Docker host) or `swarm` (users' servers are Swarm services on many hosts; see Swarm mode)",
        choices=CLUSTER_MODES,
    )
    registry: str = setting(
        "",
        "swarm: `host[:port][/path]` of the registry every node pulls from; the notebook image is pushed there",
        check=_pattern(_REGISTRY, "not a registry address", set_command("cluster.registry", "registry.example.org:5000")),
    )
    registry_username: str = setting("", "swarm: the registry's user for pushes and pre-pulls (its password: `registryPassword`)")
    user_placement: tuple[str, ...] = setting(
        (),
        "swarm: placement constraints of users' servers (`node.role == worker`, `node.labels.jupyter == true`, "
        "`node.hostname != gpu-1`)",
        check=_each(
            _pattern(
                PLACEMENT_CONSTRAINT,
                "not a placement constraint (node.id, node.hostname, node.role, node.platform.os|arch, node.labels.<k> or "
                "engine.labels.<k>, then == or !=, then a value)",
                "pulumi config set --path 'cluster.userPlacement[0]' 'node.role == worker'",
            )
        ),
    )
    managers_run_servers: bool = setting(
        False,
        "swarm: users' servers may run on managers too (beside the hub, proxy, filter and the swarm's Raft store); "
        "else they run on workers only (`node.role == worker` is added to `userPlacement`)",
    )
    homes: str = setting(
        "sticky",
        "swarm: `sticky` (a home is a volume on one node and its user's server returns there) or `shared` (a volume "
        "driver every node can mount, see below)",
        choices=HOME_MODES,
    )
    home_volume_driver: str = setting("local", "swarm, `homes: shared`: the homes' volume driver")
    home_volume_options: Mapping[str, str] = setting(
        {}, "swarm, `homes: shared`: the driver's options; `{username}` is replaced (NFS example below)"
    )

    @property
    def swarm(self) -> bool:
        return self.mode == "swarm"

    @property
    def server_placement(self) -> tuple[str, ...]:
        """Where users' servers may run: `userPlacement`, and on workers only unless managers may run them."""
        if self.managers_run_servers or WORKERS_ONLY in self.user_placement:
            return self.user_placement
        return (*self.user_placement, WORKERS_ONLY)


@dataclass(frozen=True)
class StackConfig:
    name: str = setting(
        "jupyterhub",
        "prefix of every container, volume, network and image of the deployment",
        check=_pattern(
            _IMAGE_NAME_COMPONENT,
            "not usable in image names (lower-case letters and digits, separated by single '.', '_' or '-'; at most 50)",
            "pulumi config set name jupyterhub",
        ),
    )
    public_ip: str = setting("0.0.0.0", "host address the proxy is published on (`127.0.0.1` for dev)", check=_ip_address)
    public_port: int = setting(8000, "host port the proxy is published on", low=1, high=65535)
    public_host: tuple[str, ...] = setting(
        (),
        "the host name users type (or a list: the first is the `publicUrl` output's, all get certificates with "
        "`tls.mode acme`); empty: `localhost` or `publicIp`",
        check=_each(_pattern(_HOST_NAME, "not a host name", "pulumi config set publicHost hub.example.org")),
        one_or_list=True,
    )
    notebook_rollback_image: str = setting(
        "",
        "a previous `notebookImage` output; new servers use it instead of the current build (checked on the host first)",
        check=_pattern(
            _IMAGE_REF,
            "not an image reference",
            "use a name:tag from the stack output notebookImage of an earlier deploy, or remove the key",
            optional=True,
        ),
    )
    docker_api_proxy: bool = setting(
        True, "the hub reaches Docker through the filtering API proxy, not the socket (see Security model)"
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
        "the OAuth client's secret (`github`, `generic-oauth`): `pulumi config set --secret oauthClientSecret …`",
        secret=True,
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
    def publishes_on_loopback(self) -> bool:
        return ipaddress.ip_address(self.public_ip).is_loopback

    @property
    def names(self) -> DeploymentNames:
        return DeploymentNames(self.name, self.spawner.home_volume_template)


def config_key(field_name: str) -> str:
    """The stack config key of a field: its name in camelCase."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class Key:
    """One entry of the registry, as the README's table and the parser see it."""

    key: str
    default: Any
    doc: str
    secret: bool
    low: float | None = None
    high: float | None = None


def registry(section: type = StackConfig, prefix: str = "") -> Iterator[Key]:
    for entry in dataclasses.fields(section):
        key = prefix + config_key(entry.name)
        if dataclasses.is_dataclass(entry.default):
            yield from registry(type(entry.default), key + ".")
        else:
            default = {} if entry.default is dataclasses.MISSING else entry.default
            rule = entry.metadata
            yield Key(key, default, rule["doc"], rule["secret"], rule["low"], rule["high"])


def _read(key: str, value: Any, kind: Any, rule: Mapping[str, Any]) -> Any:
    """A raw value (as Pulumi gives it: text, or JSON types inside objects) as the field's type."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise _fail(key, value, "must be true or false", set_command(key, str(rule["default"]).lower()))
    if kind is int or kind is float:
        low, high = rule["low"], rule["high"]
        try:
            number = kind(str(value))
        except ValueError:
            number = None
        if number is None or not low <= number <= high or isinstance(value, bool):
            kind_of_number = "a whole number" if kind is int else "a number"
            raise _fail(key, value, f"must be {kind_of_number} from {low} to {high}", set_command(key, rule["default"]))
        return number
    if kind is str:
        if not isinstance(value, str):
            raise _fail(key, value, "must be a string", set_command(key, "<text>"))
        return value
    if kind == tuple[str, ...]:
        if rule["one_or_list"] and isinstance(value, str):
            return (value,) if value else ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _fail(key, value, "must be a list of strings", f"pulumi config set --path '{key}[0]' <text>")
        return tuple(value)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(key, value, "must be a map of label to string", f"pulumi config set --path '{key}.<label>' <text>")
    return dict(value)


def _parse_section(section: type, raw: Any, prefix: str, secrets: Mapping[str, pulumi.Output[str] | None]) -> Any:
    if not isinstance(raw, dict):
        raise _fail(prefix.rstrip("."), raw, "must be an object", f"see the README's table of '{prefix}*' keys")
    types = typing.get_type_hints(section)
    values: dict[str, Any] = {}
    for entry in dataclasses.fields(section):
        name = config_key(entry.name)
        key = prefix + name
        rule = {**entry.metadata, "default": entry.default}
        if rule["secret"]:
            values[entry.name] = secrets.get(name)
        elif dataclasses.is_dataclass(entry.default):
            values[entry.name] = _parse_section(type(entry.default), raw.get(name, {}), key + ".", secrets)
        elif name in raw:
            values[entry.name] = _read(key, raw[name], types[entry.name], rule)
            if rule["choices"] and values[entry.name] not in rule["choices"]:
                choices = rule["choices"]
                raise _fail(key, raw[name], f"unknown choice; expected one of {', '.join(choices)}", set_command(key, choices[0]))
            if rule["check"]:
                rule["check"](key, values[entry.name])
    settable = {config_key(entry.name) for entry in dataclasses.fields(section) if not entry.metadata["secret"]}
    for name in sorted(set(raw) - settable):
        known_here = ", ".join(sorted(prefix + key for key in settable))
        raise _fail(prefix + name, raw[name], "unknown setting", f"check its spelling; known here: {known_here}")
    return section(**values)


SECRET_NAMES = tuple(k.key for k in registry() if k.secret)


def parse_config(raw: Mapping[str, Any], secrets: Mapping[str, pulumi.Output[str] | None]) -> StackConfig:
    """Check raw stack config values (keys without the project prefix) and type them."""
    config: StackConfig = _parse_section(StackConfig, dict(raw), "", secrets)
    _check_auth(config)
    _check_tls(config)
    _check_home_volumes(config)
    _check_backup(config)
    _check_metrics(config)
    _check_cluster(config)
    if config.docker_api_proxy and backend_of(config).docker_api_policy is None:
        raise _fail(
            "dockerApiProxy",
            True,
            f"spawner.type {config.spawner.type} mounts host home directories, which the Docker API proxy refuses",
            "pulumi config set dockerApiProxy false (the hub then holds the Docker socket), or use spawner.type docker",
        )
    return config


def _check_cluster(config: StackConfig) -> None:
    cluster = config.cluster
    if not cluster.swarm:
        swarm_only: list[tuple[str, object]] = [("cluster.registry", cluster.registry)]
        swarm_only += [("cluster.userPlacement", list(cluster.user_placement))]
        swarm_only += [("cluster.homes", cluster.homes if cluster.homes != "sticky" else "")]
        swarm_only += [("cluster.managersRunServers", cluster.managers_run_servers)]
        for key, value in swarm_only:
            if value:
                raise _fail(
                    key, value, "used only with cluster.mode swarm", f"pulumi config rm --path {key}, or set cluster.mode swarm"
                )
        return
    if not cluster.registry:
        raise _fail(
            "cluster.registry", "", "required with cluster.mode swarm: every node pulls the notebook image from it",
            set_command("cluster.registry", "registry.example.org:5000"),
        )  # fmt: skip
    if bool(cluster.registry_username) != (config.registry_password is not None):
        key = "registryPassword" if cluster.registry_username else "cluster.registryUsername"
        raise _fail(key, None, "a registry login needs both the user and the password", f"set {key}, or remove the other one")
    if config.spawner.type != "docker":
        raise _fail(
            "spawner.type", config.spawner.type, "cluster.mode swarm runs users' servers as Swarm services with volume homes",
            "pulumi config set --path spawner.type docker",
        )  # fmt: skip
    if config.backup.enabled:
        raise _fail(
            "backup.enabled", True, "backups read the homes on the Docker host, and in swarm mode they live on the workers",
            "pulumi config set --path backup.enabled false, and back up the nodes' volumes (README, Swarm mode)",
        )  # fmt: skip
    if templates := {key: value for key, value in cluster.home_volume_options.items() if "{{" in value}:
        raise _fail(
            "cluster.homeVolumeOptions", templates, "Swarm runs '{{' in a volume option as a template, on every node",
            "write the option without '{{' (only {username} is replaced, by the spawner)",
        )  # fmt: skip
    if cluster.homes == "shared" and cluster.home_volume_driver == "local" and not cluster.home_volume_options:
        raise _fail(
            "cluster.homeVolumeOptions", {}, "with homes shared and the local driver, each node would mount its own empty home",
            "give the local driver its NFS options (README, Swarm mode), or set cluster.homeVolumeDriver",
        )  # fmt: skip


def _check_auth(config: StackConfig) -> None:
    auth, authenticator = config.auth, config.auth.authenticator
    for name in authenticator.required:
        if not getattr(auth, _snake(name)):
            raise _fail(f"auth.{name}", "", f"required for auth.type {auth.type}", set_command(f"auth.{name}", "<value>"))
    github_orgs = auth.allowed_organizations if auth.type == "github" else ()
    if authenticator.needs_allow_rule and not (auth.allow_all or auth.allowed_users or auth.admin_users or github_orgs):
        raise _fail(
            "auth.allowedUsers",
            [],
            "JupyterHub 5+ lets nobody in through OAuth without an allow rule",
            "set auth.allowedUsers (or auth.allowedOrganizations with github), or auth.allowAll true",
        )
    if authenticator.loopback_only and not config.publishes_on_loopback:
        raise _fail(
            "auth.type",
            auth.type,
            f"the dev-only {auth.type} login is refused on a stack published on {config.public_ip}",
            "use auth.type native, or pulumi config set publicIp 127.0.0.1",
        )
    if authenticator.secret and secret_value(config, authenticator.secret) is None:
        raise _fail(
            authenticator.secret,
            None,
            f"required for auth.type {auth.type}",
            f"pulumi config set --secret {authenticator.secret} <secret>",
        )


def secret_value(config: StackConfig, key: str) -> pulumi.Output[str] | None:
    value: pulumi.Output[str] | None = getattr(config, _snake(key))
    return value


def _snake(key: str) -> str:
    return re.sub(r"[A-Z]", lambda letter: "_" + letter.group().lower(), key)


def _check_home_volumes(config: StackConfig) -> None:
    names = config.names
    for volume in (names.hub_data_volume, names.backup_state_volume, names.prometheus_data_volume, names.tls_data_volume):
        if names.is_home_volume(volume):
            raise _fail(
                "spawner.homeVolumeTemplate",
                config.spawner.home_volume_template,
                f"a user could be given the deployment's own volume {volume} as their home",
                "give the template a prefix that is not the start of that name (e.g. jupyterhub-user-{username})",
            )


def _check_backup(config: StackConfig) -> None:
    if not config.backup.enabled:
        return
    if not config.backup.repository:
        raise _fail(
            "backup.repository", "", "required with backup.enabled", set_command("backup.repository", "/srv/backups/jupyterhub")
        )
    if config.backup_password is None:
        raise _fail(
            "backupPassword", None, "required with backup.enabled", "pulumi config set --secret backupPassword <a long password>"
        )


def _check_metrics(config: StackConfig) -> None:
    metrics = config.metrics
    if (metrics.prometheus or metrics.proxy_port) and not metrics.enabled:
        key, value = ("metrics.prometheus", True) if metrics.prometheus else ("metrics.proxyPort", metrics.proxy_port)
        raise _fail(key, value, "needs metrics.enabled", set_command("metrics.enabled", "true"))
    published = [("publicPort", config.public_port), ("tls.httpPort", config.tls.http_port if config.serves_tls else 0)]
    published += [("metrics.proxyPort", metrics.proxy_port)]
    if metrics.prometheus:
        published.append(("metrics.prometheusPort", metrics.prometheus_port))
    taken: dict[int, str] = {}
    for key, port in published:
        if port and port in taken:
            raise _fail(key, port, f"the same host port as {taken[port]}", set_command(key, "<another port>"))
        taken[port] = key


def _check_tls(config: StackConfig) -> None:
    tls = config.tls
    given = [key for key in ("tlsCertificate", "tlsKey") if secret_value(config, key) is not None]
    if tls.mode == "files" and len(given) < 2:
        missing = "tlsKey" if given == ["tlsCertificate"] else "tlsCertificate"
        raise _fail(
            missing, None, "tls.mode files needs both a certificate and its key",
            f'pulumi config set --secret {missing} -- "$(cat <PEM file>)"',
        )  # fmt: skip
    if tls.mode != "files" and given:
        fix = "pulumi config set --path tls.mode files" if tls.mode == "off" else f"pulumi config rm {given[0]}"
        raise _fail(given[0], "[secret]", f"used only with tls.mode files (it is {tls.mode})", fix)
    if tls.mode == "off":
        return
    if tls.http_port == config.public_port:
        raise _fail(
            "tls.httpPort", tls.http_port, "same as publicPort", "choose another port (80 with publicPort 443), or 0 for none"
        )
    if tls.mode == "acme":
        _check_acme(config)


def _check_acme(config: StackConfig) -> None:
    if not config.public_host:
        raise _fail(
            "publicHost", "", "tls.mode acme gets certificates for host names, and none is set",
            "point a DNS record at this host, then pulumi config set publicHost hub.example.org",
        )  # fmt: skip
    for host in config.public_host:
        if _is_ip_address(host) or host == "localhost" or host.endswith(".localhost") or "." not in host:
            raise _fail(
                "publicHost", host, "ACME CAs issue certificates only for fully qualified names, not IP addresses or localhost",
                "use the DNS name users type (pulumi config set publicHost hub.example.org), or tls.mode files",
            )  # fmt: skip
    if not config.tls.acme_email:
        raise _fail(
            "tls.acmeEmail", "", "required with tls.mode acme (the CA's account contact)",
            set_command("tls.acmeEmail", "ops@example.org"),
        )  # fmt: skip


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def settings_section(section: Any) -> dict[str, Any]:
    """A validated section as the hub's settings.json carries it: the stack config's key names and values."""
    return {
        config_key(entry.name): list(value) if isinstance(value, tuple) else value
        for entry in dataclasses.fields(section)
        for value in [getattr(section, entry.name)]
    }


MOVED_KEYS = {"httpRedirectPort": "tls.httpPort"}  # keys of earlier versions, and where they went


def _top_level_sections() -> tuple[str, ...]:
    return tuple(config_key(f.name) for f in dataclasses.fields(StackConfig) if dataclasses.is_dataclass(f.default))


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
    sections = _top_level_sections()
    for entry in dataclasses.fields(StackConfig):
        key = config_key(entry.name)
        text = None if entry.metadata["secret"] else config.get(key)
        if text is None:
            continue
        if entry.metadata["one_or_list"] and text.startswith("["):
            with contextlib.suppress(json.JSONDecodeError):  # not JSON: the value's own check names it
                raw[key] = json.loads(text)  # a YAML list reaches the program as JSON text
                continue
        if key not in sections:
            raw[key] = text
            continue
        try:
            raw[key] = json.loads(text)
        except json.JSONDecodeError as error:
            raise _fail(key, text, f"not a YAML object ({error})", f"see the README's table of '{key}.*' keys") from None
    secrets = {key: config.get_secret(key) for key in SECRET_NAMES}
    return parse_config(raw, secrets)
