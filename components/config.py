"""Stack configuration: read once, checked once, typed.

Every key lives in `Pulumi.<stack>.yaml` under the project's namespace and is
documented in the README. A bad value raises `ConfigError`, naming the key, the
value and the fix, before any resource is declared.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

AUTHENTICATORS = ("native", "github", "generic-oauth", "shared-password")
OAUTH_AUTHENTICATORS = ("github", "generic-oauth")
SPAWNERS = ("docker", "systemuser")
# In the spawner's image picker, the image built from build.notebook.
BUILT_IMAGE_LABEL = "default"

# JupyterHub's own rule for user names is loose; this is the subset that is also
# a valid Docker container / volume name fragment (jupyter-<name>).
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# `name` prefixes image names (<name>-hub:<tag>), so it must be a valid repository path
# component in Docker's reference grammar: lower case, separators between alphanumerics.
_IMAGE_NAME_COMPONENT = re.compile(r"(?=.{1,50}$)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_MEMORY = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_MEMORY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}  # JupyterHub's ByteSpecification
MIN_MEMORY_BYTES = 6 * 1024**2  # the engine refuses smaller limits
MIN_CPU_LIMIT = 0.01  # DockerSpawner's quota int(limit * 100000) must be at least the engine's 1000
_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class ConfigError(ValueError):
    """A stack config value is missing or wrong; the message says how to fix it."""


@dataclass(frozen=True)
class AuthConfig:
    type: str = "native"
    admin_users: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allow_all: bool = False
    open_signup: bool = False
    oauth_client_id: str = ""
    oauth_callback_url: str = ""
    oauth_authorize_url: str = ""
    oauth_token_url: str = ""
    oauth_userdata_url: str = ""
    oauth_username_claim: str = "preferred_username"
    allowed_organizations: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpawnerConfig:
    type: str = "docker"
    mem_limit: str = "2G"
    cpu_limit: float = 1.0
    pids_limit: int = 4096  # processes and threads; bounds a fork bomb to its own container
    start_timeout_s: int = 120
    extra_images: Mapping[str, str] = field(default_factory=dict)

    @property
    def mem_limit_bytes(self) -> int:
        return int(self.mem_limit.rstrip("KMGT")) * _MEMORY_UNITS[self.mem_limit.lstrip("0123456789")]


@dataclass(frozen=True)
class CullerConfig:
    enabled: bool = True
    timeout_s: int = 3600


@dataclass(frozen=True)
class BuildConfig:
    base_image: str = "debian:trixie-slim"
    extra_ca_certs_path: str = ""
    pip_index_url: str = "https://pypi.org/simple"
    npm_registry: str = "https://registry.npmjs.org/"


@dataclass(frozen=True)
class StackConfig:
    name: str = "jupyterhub"
    public_ip: str = "0.0.0.0"
    public_port: int = 8000
    public_host: str = ""  # the name users type, for the publicUrl output
    build: BuildConfig = field(default_factory=BuildConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    spawner: SpawnerConfig = field(default_factory=SpawnerConfig)
    culler: CullerConfig = field(default_factory=CullerConfig)
    notebook_rollback_image: str = ""
    http_redirect_port: int = 0  # 0: no plain-HTTP listener when TLS is on
    docker_api_proxy: bool = True
    oauth_client_secret: pulumi.Output[str] | None = None
    shared_password: pulumi.Output[str] | None = None
    tls_certificate: pulumi.Output[str] | None = None
    tls_key: pulumi.Output[str] | None = None

    @property
    def serves_tls(self) -> bool:
        return self.tls_certificate is not None

    @property
    def publishes_on_loopback(self) -> bool:
        return ipaddress.ip_address(self.public_ip).is_loopback


def _fail(key: str, value: object, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"config '{key}' = {value!r}: {problem}. Fix: {fix}")


class _Reader:
    """Typed getters over a raw key -> value mapping (values as Pulumi gives them)."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.read_keys: set[str] = set()
        self.sections: list[_Reader] = []

    def _get(self, key: str, default: Any) -> Any:
        self.read_keys.add(key)
        return self.raw.get(key, default)

    def refuse_unknown(self) -> None:
        """A misspelt key would otherwise be ignored and its default used without a word."""
        for section in (self, *self.sections):
            for key in sorted(set(section.raw) - section.read_keys):
                known = ", ".join(sorted(section.read_keys))
                raise _fail(key, section.raw[key], "unknown setting", f"check its spelling; known here: {known}")

    def text(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise _fail(key, value, "must be a string", f"pulumi config set {key} <text>")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        try:
            number = int(str(value))
        except ValueError:
            number = None
        if number is None or not low <= number <= high or isinstance(value, bool):
            raise _fail(key, value, f"must be a whole number from {low} to {high}", f"pulumi config set {key} {default}")
        return number

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default)
        try:
            number = float(str(value))
        except ValueError:
            number = None
        if number is None or not low < number <= high or isinstance(value, bool):
            raise _fail(key, value, f"must be a number above {low} and at most {high}", f"pulumi config set {key} {default}")
        return number

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise _fail(key, value, "must be true or false", f"pulumi config set {key} {str(default).lower()}")

    def text_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _fail(key, value, "must be a list of strings", f"pulumi config set --path '{key}[0]' <text>")
        return tuple(value)

    def text_map(self, key: str) -> dict[str, str]:
        value = self._get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _fail(key, value, "must be a map of label to string", f"pulumi config set --path '{key}.<label>' <text>")
        return {str(k): v for k, v in value.items()}

    def section(self, key: str) -> _Reader:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise _fail(key, value, "must be an object", f"see the README's table of '{key}.*' keys")
        section = _Reader({f"{key}.{k}": v for k, v in value.items()})
        self.sections.append(section)
        return section


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(key, value, f"unknown choice; expected one of {', '.join(choices)}", f"pulumi config set {key} {choices[0]}")


def _check_usernames(key: str, names: tuple[str, ...]) -> None:
    for name in names:
        if not _USERNAME.fullmatch(name):
            raise _fail(
                key,
                name,
                "not a valid user name (lower-case letters, digits, '.', '_', '-'; starts with a letter or digit)",
                f"correct the name in {key}",
            )


def _parse_build(read: _Reader) -> BuildConfig:
    defaults = BuildConfig()
    build = BuildConfig(
        base_image=read.text("build.baseImage", defaults.base_image),
        extra_ca_certs_path=read.text("build.extraCaCertsPath", defaults.extra_ca_certs_path),
        pip_index_url=read.text("build.pipIndexUrl", defaults.pip_index_url),
        npm_registry=read.text("build.npmRegistry", defaults.npm_registry),
    )
    if not _IMAGE_REF.fullmatch(build.base_image):
        raise _fail(
            "build.baseImage",
            build.base_image,
            "not an image reference",
            "pulumi config set --path build.baseImage debian:trixie-slim",
        )
    if build.extra_ca_certs_path and not Path(build.extra_ca_certs_path).exists():
        raise _fail(
            "build.extraCaCertsPath",
            build.extra_ca_certs_path,
            "no such file or directory",
            "point it at a PEM file or a directory of *.crt files, or remove the key",
        )
    for key, url in (("build.pipIndexUrl", build.pip_index_url), ("build.npmRegistry", build.npm_registry)):
        if not re.fullmatch(r"https?://\S+", url):
            raise _fail(key, url, "not an http(s) URL", f"pulumi config set --path {key} <url>")
    return build


def _parse_auth(read: _Reader) -> AuthConfig:
    defaults = AuthConfig()
    auth = AuthConfig(
        type=read.text("auth.type", defaults.type),
        admin_users=read.text_list("auth.adminUsers"),
        allowed_users=read.text_list("auth.allowedUsers"),
        allow_all=read.flag("auth.allowAll", defaults.allow_all),
        open_signup=read.flag("auth.openSignup", defaults.open_signup),
        oauth_client_id=read.text("auth.oauthClientId", defaults.oauth_client_id),
        oauth_callback_url=read.text("auth.oauthCallbackUrl", defaults.oauth_callback_url),
        oauth_authorize_url=read.text("auth.oauthAuthorizeUrl", defaults.oauth_authorize_url),
        oauth_token_url=read.text("auth.oauthTokenUrl", defaults.oauth_token_url),
        oauth_userdata_url=read.text("auth.oauthUserdataUrl", defaults.oauth_userdata_url),
        oauth_username_claim=read.text("auth.oauthUsernameClaim", defaults.oauth_username_claim),
        allowed_organizations=read.text_list("auth.allowedOrganizations"),
    )
    _check_choice("auth.type", auth.type, AUTHENTICATORS)
    _check_usernames("auth.adminUsers", auth.admin_users)
    _check_usernames("auth.allowedUsers", auth.allowed_users)
    if auth.type in OAUTH_AUTHENTICATORS:
        if not auth.oauth_client_id:
            raise _fail(
                "auth.oauthClientId",
                "",
                f"required for auth.type {auth.type}",
                "pulumi config set --path auth.oauthClientId <client id>",
            )
        if not auth.oauth_callback_url:
            raise _fail(
                "auth.oauthCallbackUrl",
                "",
                f"required for auth.type {auth.type}",
                "pulumi config set --path auth.oauthCallbackUrl https://<host>/hub/oauth_callback",
            )
        github_orgs = auth.allowed_organizations if auth.type == "github" else ()
        if not (auth.allow_all or auth.allowed_users or auth.admin_users or github_orgs):
            raise _fail(
                "auth.allowedUsers",
                [],
                "JupyterHub 5+ lets nobody in through OAuth without an allow rule",
                "set auth.allowedUsers (or auth.allowedOrganizations with github), or auth.allowAll true",
            )
    if auth.type == "generic-oauth":
        for key, url in (
            ("auth.oauthAuthorizeUrl", auth.oauth_authorize_url),
            ("auth.oauthTokenUrl", auth.oauth_token_url),
            ("auth.oauthUserdataUrl", auth.oauth_userdata_url),
        ):
            if not url:
                raise _fail(key, "", "required for auth.type generic-oauth", f"pulumi config set --path {key} <url>")
    return auth


def _parse_spawner(read: _Reader) -> SpawnerConfig:
    defaults = SpawnerConfig()
    spawner = SpawnerConfig(
        type=read.text("spawner.type", defaults.type),
        mem_limit=read.text("spawner.memLimit", defaults.mem_limit),
        cpu_limit=read.number("spawner.cpuLimit", defaults.cpu_limit, 0.0, 256.0),
        pids_limit=read.integer("spawner.pidsLimit", defaults.pids_limit, 64, 1_048_576),
        start_timeout_s=read.integer("spawner.startTimeoutSeconds", defaults.start_timeout_s, 5, 3600),
        extra_images=read.text_map("spawner.extraImages"),
    )
    _check_choice("spawner.type", spawner.type, SPAWNERS)
    if not _MEMORY.fullmatch(spawner.mem_limit) or spawner.mem_limit_bytes < MIN_MEMORY_BYTES:
        raise _fail(
            "spawner.memLimit",
            spawner.mem_limit,
            "not a memory size of at least 6M",
            "use a number with an optional K, M, G or T suffix, e.g. 2G",
        )
    if spawner.cpu_limit < MIN_CPU_LIMIT:
        raise _fail("spawner.cpuLimit", spawner.cpu_limit, f"below {MIN_CPU_LIMIT} CPU", "pulumi config set spawner.cpuLimit 1.0")
    for label, ref in spawner.extra_images.items():
        if label == BUILT_IMAGE_LABEL:
            raise _fail(
                f"spawner.extraImages.{label}", ref, "the label of the image built from build.notebook", "give it another label"
            )
        if not _IMAGE_REF.fullmatch(ref):
            raise _fail(f"spawner.extraImages.{label}", ref, "not an image reference", "use name:tag of an image on the host")
    return spawner


def parse_config(raw: Mapping[str, Any], secrets: Mapping[str, pulumi.Output[str] | None]) -> StackConfig:
    """Check raw stack config values (keys without the project prefix) and type them."""
    read = _Reader(raw)
    defaults, culler_defaults = StackConfig(), CullerConfig()
    name = read.text("name", defaults.name)
    if not _IMAGE_NAME_COMPONENT.fullmatch(name):
        raise _fail(
            "name",
            name,
            "not usable in image names (lower-case letters and digits, separated by single '.', '_' or '-'; at most 50)",
            "pulumi config set name jupyterhub",
        )
    public_ip = read.text("publicIp", defaults.public_ip)
    try:
        ipaddress.ip_address(public_ip)
    except ValueError:
        raise _fail("publicIp", public_ip, "not an IP address", "pulumi config set publicIp 127.0.0.1") from None
    public_host = read.text("publicHost", defaults.public_host)
    if public_host and not _HOST_NAME.fullmatch(public_host):
        raise _fail("publicHost", public_host, "not a host name", "pulumi config set publicHost hub.example.org")
    culler = read.section("culler")
    config = StackConfig(
        name=name,
        public_ip=public_ip,
        public_host=public_host,
        public_port=read.integer("publicPort", defaults.public_port, 1, 65535),
        build=_parse_build(read.section("build")),
        auth=_parse_auth(read.section("auth")),
        spawner=_parse_spawner(read.section("spawner")),
        culler=CullerConfig(
            enabled=culler.flag("culler.enabled", culler_defaults.enabled),
            timeout_s=culler.integer("culler.timeoutSeconds", culler_defaults.timeout_s, 60, 30 * 24 * 3600),
        ),
        notebook_rollback_image=read.text("notebookRollbackImage", defaults.notebook_rollback_image),
        http_redirect_port=read.integer("httpRedirectPort", defaults.http_redirect_port, 0, 65535),
        docker_api_proxy=read.flag("dockerApiProxy", defaults.docker_api_proxy),
        oauth_client_secret=secrets.get("oauthClientSecret"),
        shared_password=secrets.get("sharedPassword"),
        tls_certificate=secrets.get("tlsCertificate"),
        tls_key=secrets.get("tlsKey"),
    )
    read.refuse_unknown()
    _check_tls(config)
    if config.docker_api_proxy and config.spawner.type == "systemuser":
        raise _fail(
            "dockerApiProxy",
            True,
            "spawner.type systemuser mounts host home directories, which the Docker API proxy refuses",
            "pulumi config set dockerApiProxy false (the hub then holds the Docker socket), or use spawner.type docker",
        )
    if config.notebook_rollback_image and not _IMAGE_REF.fullmatch(config.notebook_rollback_image):
        raise _fail(
            "notebookRollbackImage",
            config.notebook_rollback_image,
            "not an image reference",
            "use a name:tag from the stack output notebookImage of an earlier deploy, or remove the key",
        )
    if config.auth.type in OAUTH_AUTHENTICATORS and config.oauth_client_secret is None:
        raise _fail(
            "oauthClientSecret",
            None,
            f"required for auth.type {config.auth.type}",
            "pulumi config set --secret oauthClientSecret <secret>",
        )
    if config.auth.type == "shared-password":
        if not config.publishes_on_loopback:
            raise _fail(
                "auth.type",
                "shared-password",
                f"the dev-only shared-password login is refused on a stack published on {public_ip}",
                "use auth.type native, or pulumi config set publicIp 127.0.0.1",
            )
        if config.shared_password is None:
            raise _fail(
                "sharedPassword",
                None,
                "required for auth.type shared-password",
                "pulumi config set --secret sharedPassword <password>",
            )
    return config


def _check_tls(config: StackConfig) -> None:
    if (config.tls_certificate is None) != (config.tls_key is None):
        missing = "tlsKey" if config.tls_key is None else "tlsCertificate"
        raise _fail(
            missing,
            None,
            "TLS needs both a certificate and its key",
            f'pulumi config set --secret {missing} -- "$(cat <PEM file>)", or remove the other one',
        )
    if config.http_redirect_port and not config.serves_tls:
        raise _fail(
            "httpRedirectPort",
            config.http_redirect_port,
            "redirects to HTTPS, which is off",
            "set tlsCertificate and tlsKey, or remove it",
        )
    if config.http_redirect_port == config.public_port:
        raise _fail(
            "httpRedirectPort",
            config.http_redirect_port,
            "same as publicPort",
            "choose another port (e.g. 80 with publicPort 443)",
        )


SECRET_KEYS = ("oauthClientSecret", "sharedPassword", "tlsCertificate", "tlsKey")
OBJECT_KEYS = ("build", "auth", "spawner", "culler")


SCALAR_KEYS = ("name", "publicIp", "publicPort", "publicHost", "notebookRollbackImage", "httpRedirectPort", "dockerApiProxy")


def _refuse_unknown_top_level_keys() -> None:
    """`pulumi config set publcPort 9000` would otherwise deploy on the default port without a word."""
    prefix = f"{pulumi.get_project()}:"
    given = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
    known = set(SCALAR_KEYS + OBJECT_KEYS + SECRET_KEYS)
    for key in sorted(k.removeprefix(prefix) for k in given if k.startswith(prefix)):
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
    for key in SCALAR_KEYS:
        value = config.get(key)
        if value is not None:
            raw[key] = value
    for key in OBJECT_KEYS:
        text = config.get(key)
        if text is not None:
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError as error:
                raise _fail(key, text, f"not a YAML object ({error})", f"see the README's table of '{key}.*' keys") from None
    secrets = {key: config.get_secret(key) for key in SECRET_KEYS}
    return parse_config(raw, secrets)
