"""Each bad stack config value is refused with an error naming the key and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, StackConfig, parse_config
from components.config.auth import AuthConfig
from components.config.build import BuildConfig
from components.config.culler import CullerConfig
from components.config.spawner import Profile, SpawnerConfig
from components.config.tls import TlsConfig
from components.config.values import memory_bytes

SECRET = pulumi.Output.secret("s3cret")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
FILES: dict[str, Any] = {"tls": {"mode": "files"}}
FILES_8000: dict[str, Any] = {"publicPort": "8000"}
TLS_FILES = {"tlsCertificate": SECRET, "tlsKey": SECRET}
ACME: dict[str, Any] = {"publicHost": "hub.example.org", "tls": {"mode": "acme", "acmeEmail": "ops@example.org"}}
HTTPS_STACK = {"publicHost": "hub.example.org", "publicPort": "443", "tls": {"mode": "files"}}
GITHUB = {"type": "github", "oauthClientId": "abc", "oauthCallbackUrl": "https://hub.example/hub/oauth_callback"}


def parse(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> StackConfig:
    return parse_config(raw, secrets or {})


def test_defaults_are_a_native_authenticator_hub_on_port_8000() -> None:
    config = parse({})
    assert (config.public_ip, config.public_port, config.auth.type, config.spawner.type) == ("0.0.0.0", 8000, "native", "docker")
    assert config.build.base_image == "debian:trixie-slim"
    assert config.culler.enabled and config.culler.timeout_seconds == 3600


@pytest.mark.parametrize(
    ("raw", "secrets", "key", "fix"),
    [
        ({"publicPort": "70000"}, {}, "publicPort", "pulumi config set publicPort 8000"),
        ({"publicPort": "http"}, {}, "publicPort", "pulumi config set publicPort 8000"),
        ({"publicIp": "localhost:80"}, {}, "publicIp", "pulumi config set publicIp 127.0.0.1"),
        ({"publicHost": "https://hub.example.org"}, {}, "publicHost", "pulumi config set publicHost hub.example.org"),
        ({"name": "my hub"}, {}, "name", "pulumi config set name"),
        ({"name": "MyHub"}, {}, "name", "pulumi config set name"),  # image names are lower case
        ({"name": "hub-"}, {}, "name", "pulumi config set name"),
        ({"name": "hub..dev"}, {}, "name", "pulumi config set name"),
        ({"name": "h" * 51}, {}, "name", "pulumi config set name"),
        ({"auth": {"type": "kerberos"}}, {}, "auth.type", "pulumi config set --path auth.type native"),
        ({"spawner": {"type": "kubernetes"}}, {}, "spawner.type", "pulumi config set --path spawner.type docker"),
        ({"spawner": {"memLimit": "2 GB"}}, {}, "spawner.memLimit", "e.g. 2G"),
        ({"spawner": {"cpuLimit": "lots"}}, {}, "spawner.cpuLimit", "pulumi config set --path spawner.cpuLimit 1.0"),
        ({"spawner": {"cpuLimit": "0"}}, {}, "spawner.cpuLimit", "pulumi config set --path spawner.cpuLimit 1.0"),
        # DockerSpawner's quota int(0.009 * 100000) = 900 is below the engine's 1000; 0 would mean no limit.
        ({"spawner": {"cpuLimit": "0.009"}}, {}, "spawner.cpuLimit", "pulumi config set --path spawner.cpuLimit 1.0"),
        ({"spawner": {"memLimit": "6143K"}}, {}, "spawner.memLimit", "e.g. 2G"),  # the engine's minimum is 6M
        ({"spawner": {"memLimit": "2G\n"}}, {}, "spawner.memLimit", "e.g. 2G"),
        ({"spawner": {"pidsLimit": "63"}}, {}, "spawner.pidsLimit", "pulumi config set --path spawner.pidsLimit 4096"),
        ({"spawner": {"pidsLimit": "1048577"}}, {}, "spawner.pidsLimit", "pulumi config set --path spawner.pidsLimit 4096"),
        ({"auth": {"adminUsers": ["admin\n"]}}, {}, "auth.adminUsers", "correct the name in auth.adminUsers"),
        ({"auth": {"adminUsers": ["Alice Smith"]}}, {}, "auth.adminUsers", "correct the name in auth.adminUsers"),
        (
            {"auth": {"type": "github", "allowAll": True}},
            {"oauthClientSecret": SECRET},
            "auth.oauthClientId",
            "auth.oauthClientId",
        ),
        ({"auth": {**GITHUB, "allowAll": True}}, {}, "oauthClientSecret", "pulumi config set --secret oauthClientSecret"),
        ({"auth": GITHUB}, {"oauthClientSecret": SECRET}, "auth.allowedUsers", "auth.allowAll true"),
        (
            {
                "auth": {
                    **GITHUB,
                    "type": "generic-oauth",
                    "allowedOrganizations": ["org"],
                    "oauthAuthorizeUrl": "https://i/a",
                    "oauthTokenUrl": "https://i/t",
                    "oauthUserdataUrl": "https://i/u",
                }
            },
            {"oauthClientSecret": SECRET},
            "auth.allowedUsers",
            "with github",
        ),
        (
            {"auth": {**GITHUB, "type": "generic-oauth", "allowAll": True}},
            {"oauthClientSecret": SECRET},
            "auth.oauthAuthorizeUrl",
            "pulumi config set --path auth.oauthAuthorizeUrl",
        ),
        ({"auth": {"type": "shared-password"}}, {"sharedPassword": SECRET}, "auth.type", "pulumi config set publicIp 127.0.0.1"),
        (
            {"publicIp": "127.0.0.1", "auth": {"type": "shared-password"}},
            {},
            "sharedPassword",
            "pulumi config set --secret sharedPassword",
        ),
        ({"notebookRollbackImage": "Not An Image"}, {}, "notebookRollbackImage", "stack output notebookImage"),
        ({"build": {"baseImage": "debian trixie"}}, {}, "build.baseImage", "debian:trixie-slim"),
        ({"build": {"extraCaCertsPath": "/no/such/dir"}}, {}, "build.extraCaCertsPath", "or remove the key"),
        ({"build": {"pipIndexUrl": "ftp://mirror"}}, {}, "build.pipIndexUrl", "pulumi config set --path build.pipIndexUrl"),
        ({"culler": {"timeoutSeconds": "5"}}, {}, "culler.timeoutSeconds", "pulumi config set --path culler.timeoutSeconds 3600"),
        ({"culler": {"enabled": "sometimes"}}, {}, "culler.enabled", "true"),
        ({"spawner": "docker"}, {}, "spawner", "docs/reference/config.md"),
        ({"spawner": {"profiles": {"small": {}}}}, {}, "spawner.profiles", "spawner.profiles[0].<field>"),
        ({"spawner": {"profiles": ["small"]}}, {}, "spawner.profiles[0]", "must be an object"),
        ({"spawner": {"profiles": [{"name": "Small"}]}}, {}, "spawner.profiles[0].name", "starting with a letter"),
        ({"spawner": {"profiles": [{"name": "s" * 31}]}}, {}, "spawner.profiles[0].name", "1 to 30"),
        ({"spawner": {"profiles": [{"description": "x"}]}}, {}, "spawner.profiles[0].name", "its own name"),
        ({"spawner": {"profiles": [{"name": "a"}, {"name": "a"}]}}, {}, "spawner.profiles[1].name", "its own name"),
        ({"spawner": {"profiles": [{"name": "a", "memLimit": "5M"}]}}, {}, "spawner.profiles[0].memLimit", "e.g. 2G"),
        ({"spawner": {"profiles": [{"name": "a", "cpuLimit": "0.005"}]}}, {}, "spawner.profiles[0].cpuLimit", "or ≥ 0.01"),
        ({"spawner": {"profiles": [{"name": "a", "cpuLimit": "300"}]}}, {}, "spawner.profiles[0].cpuLimit", "--path"),
        ({"spawner": {"profiles": [{"name": "a", "image": "Lab:1"}]}}, {}, "spawner.profiles[0].image", "name:tag"),
        ({"spawner": {"profiles": [{"name": "a", "groups": ["x\ny"]}]}}, {}, "spawner.profiles[0].groups", "group's name"),
        ({"spawner": {"profiles": [{"name": "a", "gpus": 17}]}}, {}, "spawner.profiles[0].gpus", "--path"),
        ({"spawner": {"profiles": [{"name": "a", "placement": ["gpu"]}]}}, {}, "spawner.profiles[0].placement", "gpu == true"),
        (
            {"spawner": {"profiles": [{"name": "a", "placement": "node.labels.gpu == true"}]}},
            {},
            "spawner.profiles[0].placement",
            "or set cluster.mode swarm",
        ),
        ({"spawner": {"profiles": [{"name": f"p{i}"} for i in range(21)]}}, {}, "spawner.profiles", "merge profiles"),
        ({"spawner": {"extraImages": {"r": "r:1"}}}, {}, "spawner.extraImages", "'spawner.profiles[1].image' r:1"),
        ({"spawner": {"gpuDevices": ["0", "0"]}}, {}, "spawner.gpuDevices", "list each GPU of the host once"),
        ({"spawner": {"gpuDevices": ["gpu0"]}}, {}, "spawner.gpuDevices", "use its index (0) or UUID"),
        ({"spawner": {"gpuDevices": [str(i) for i in range(17)]}}, {}, "spawner.gpuDevices", "list each GPU of the host once"),
        (
            {"spawner": {"profiles": [{"name": "a", "gpus": 1}]}},
            {},
            "spawner.profiles[0].gpus",
            "spawner.gpuDevices (nvidia-smi -L)",
        ),
        (
            {"spawner": {"gpuDevices": ["0"], "profiles": [{"name": "a", "gpus": 2}]}},
            {},
            "spawner.profiles[0].gpus",
            "or ask for fewer",
        ),
        (
            {"spawner": {"gpuDevices": ["0"], "profiles": [{"name": "a", "gpuIds": ["1"]}]}},
            {},
            "spawner.profiles[0].gpuIds",
            "or correct the ids",
        ),
        (
            {"spawner": {"gpuDevices": ["0"], "profiles": [{"name": "a", "gpus": 1, "gpuIds": ["0"]}]}},
            {},
            "spawner.profiles[0].gpuIds",
            "pulumi config rm --path spawner.profiles[0].gpus",
        ),
        ({"spawner": {"profiles": [{"name": "a", "gpuIds": "GPU 1"}]}}, {}, "spawner.profiles[0].gpuIds", "UUID (GPU-"),
        ({"spawner": {"sharedVolumes": [{"name": "Course"}]}}, {}, "spawner.sharedVolumes[0].name", "starting with a letter"),
        ({"spawner": {"sharedVolumes": [{"mode": "ro"}]}}, {}, "spawner.sharedVolumes[0].name", "its own name"),
        ({"spawner": {"sharedVolumes": [{"name": "a"}, {"name": "a"}]}}, {}, "spawner.sharedVolumes[1].name", "its own name"),
        ({"spawner": {"sharedVolumes": [{"name": "a", "mode": "wo"}]}}, {}, "spawner.sharedVolumes[0].mode", "ro"),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/etc"}]}},
            {},
            "spawner.sharedVolumes[0].mountPath",
            "/srv/data",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/home/jovyan"}]}},
            {},
            "spawner.sharedVolumes[0].mountPath",
            "/srv",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/srv/../etc"}]}},
            {},
            "spawner.sharedVolumes[0].mountPath",
            "/srv",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/srv/a/"}]}},
            {},
            "spawner.sharedVolumes[0].mountPath",
            "/srv",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/srv/a b"}]}},
            {},
            "spawner.sharedVolumes[0].mountPath",
            "/srv",
        ),
        ({"spawner": {"sharedVolumes": [{"name": "a", "groups": ["x\ny"]}]}}, {}, "spawner.sharedVolumes[0].groups", "group"),
        (
            {"spawner": {"sharedVolumes": [{"name": "a", "mountPath": "/srv/a"}, {"name": "b", "mountPath": "/srv/a/b"}]}},
            {},
            "spawner.sharedVolumes[1].mountPath",
            "none inside another",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "data", "mountPath": "/srv/x"}, {"name": "x", "mountPath": "/srv"}]}},
            {},
            "spawner.sharedVolumes[1].mountPath",
            "/srv/data",
        ),
        (
            {"spawner": {"sharedVolumes": [{"name": "a"}, {"name": "b", "mountPath": "/home/jovyan/a"}]}},
            {},
            "spawner.sharedVolumes[1].mountPath",
            "none inside another",
        ),
        ({"spawner": {"sharedVolumes": [{"name": f"v{i}"} for i in range(21)]}}, {}, "spawner.sharedVolumes", "fewer volumes"),
        (
            {"name": "jh", "spawner": {"homeVolumeTemplate": "jh-{username}", "sharedVolumes": [{"name": "course"}]}},
            {},
            "spawner.homeVolumeTemplate",
            "jupyterhub-user-{username}",
        ),
        ({"spawner": {"memlimit": "4G"}}, {}, "spawner.memlimit", "check its spelling; known here: "),
        ({"spawner": {"type": "systemuser"}}, {}, "dockerApiProxy", "pulumi config set dockerApiProxy false"),
        ({"dockerApiProxy": "maybe"}, {}, "dockerApiProxy", "pulumi config set dockerApiProxy true"),
        (FILES, {"tlsCertificate": SECRET}, "tlsKey", "pulumi config set --secret tlsKey"),
        (FILES, {"tlsKey": SECRET}, "tlsCertificate", "pulumi config set --secret tlsCertificate"),
        (FILES, {}, "tlsCertificate", "pulumi config set --secret tlsCertificate"),
        ({}, {"tlsCertificate": SECRET, "tlsKey": SECRET}, "tlsCertificate", "pulumi config set --path tls.mode files"),
        (ACME, {"tlsKey": SECRET}, "tlsKey", "pulumi config rm tlsKey"),
        ({"tls": {"mode": "on"}}, {}, "tls.mode", "pulumi config set --path tls.mode off"),
        ({**FILES_8000, "tls": {"mode": "files", "httpPort": "8000"}}, TLS_FILES, "tls.httpPort", "choose another port"),
        ({"tls": {"mode": "acme", "acmeEmail": "ops@example.org"}}, {}, "publicHost", "pulumi config set publicHost hub"),
        ({**ACME, "publicHost": "203.0.113.7"}, {}, "publicHost", "use the DNS name users type"),
        ({**ACME, "publicHost": ["hub.example.org", "localhost"]}, {}, "publicHost", "or tls.mode files"),
        ({**ACME, "publicHost": "hub.localhost"}, {}, "publicHost", "use the DNS name users type"),
        ({**ACME, "publicHost": "192.0.2.10"}, {}, "publicHost", "use the DNS name users type"),
        ({**ACME, "publicHost": "hub"}, {}, "publicHost", "use the DNS name users type"),
        ({**ACME, "publicHost": ["hub.example.org", "Hub_2"]}, {}, "publicHost", "pulumi config set publicHost hub.example.org"),
        ({"publicHost": "hub.example.org", "tls": {"mode": "acme"}}, {}, "tls.acmeEmail", "--path tls.acmeEmail ops@"),
        ({**ACME, "tls": {**ACME["tls"], "acmeEmail": "ops"}}, {}, "tls.acmeEmail", "--path tls.acmeEmail"),
        ({**ACME, "tls": {**ACME["tls"], "acmeDirectory": "letsencrypt-test"}}, {}, "tls.acmeDirectory", "letsencrypt-staging"),
        ({**ACME, "tls": {**ACME["tls"], "acmeDirectory": "http://ca/dir"}}, {}, "tls.acmeDirectory", "letsencrypt-staging"),
        ({**ACME, "tls": {**ACME["tls"], "acmeEmail": '"ops@example.org'}}, {}, "tls.acmeEmail", "--path tls.acmeEmail"),
        ({**ACME, "tls": {**ACME["tls"], "acmeEmail": "#ops@example.org"}}, {}, "tls.acmeEmail", "--path tls.acmeEmail"),
        ({**ACME, "tls": {**ACME["tls"], "acmeDirectory": "https://ca/dir\\"}}, {}, "tls.acmeDirectory", "letsencrypt-staging"),
        ({**ACME, "tls": {**ACME["tls"], "acmeDirectory": "https://ca/d#x"}}, {}, "tls.acmeDirectory", "letsencrypt-staging"),
        ({**ACME, "tls": {**ACME["tls"], "acmeDirectory": "https://ca/{env.X}"}}, {}, "tls.acmeDirectory", "letsencrypt-staging"),
        ({**ACME, "tls": {**ACME["tls"], "acmeCaRoot": "root.pem"}}, {}, "tls.acmeCaRoot", '"$(cat root.pem)"'),
        ({**ACME, "tls": {**ACME["tls"], "acmeCaRoot": PEM + "junk"}}, {}, "tls.acmeCaRoot", '"$(cat root.pem)"'),
        ({**ACME, "tls": {**ACME["tls"], "renewalCheckSeconds": "1"}}, {}, "tls.renewalCheckSeconds", "600"),
    ],
)
def test_bad_value_is_refused_naming_key_and_fix(raw: dict, secrets: dict, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(raw, secrets)
    assert f"config '{key}'" in str(error.value)
    assert fix in str(error.value)


def test_shared_password_login_is_allowed_on_loopback() -> None:
    config = parse({"publicIp": "127.0.0.1", "auth": {"type": "shared-password"}}, {"sharedPassword": SECRET})
    assert config.auth.type == "shared-password"


def test_oauth_with_an_allow_rule_is_accepted() -> None:
    config = parse({"auth": {**GITHUB, "allowedOrganizations": ["my-org"]}}, {"oauthClientSecret": SECRET})
    assert config.auth.allowed_organizations == ("my-org",)


SUB_KEYS = [
    "type",
    "adminUsers",
    "allowAll",
    "oauthClientId",
    "oauthCallbackUrl",
    "memLimit",
    "cpuLimit",
    "profiles",
    "startTimeoutSeconds",
    "enabled",
    "timeoutSeconds",
    "baseImage",
    "pipIndexUrl",
    "extraCaCertsPath",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(SUB_KEYS) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    ["name", "publicIp", "publicPort", "publicHost", "notebookRollbackImage", "build", "auth", "spawner", "culler", "other"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, json_values, max_size=5))
def test_any_input_is_accepted_or_refused_naming_a_key_it_gave(raw: dict) -> None:
    try:
        config = parse(raw)
    except ConfigError as error:
        named = re.match(r"config '([^']+)'", str(error))
        assert named, error
        # Cross-checks name the setting to change, which may be a secret or a default it conflicts with.
        assert named.group(1).split(".")[0] in {*raw, "dockerApiProxy", "oauthClientSecret", "sharedPassword"}, error
    else:
        assert "other" not in raw and config.name == raw.get("name", "jupyterhub")


def test_the_smallest_limits_the_engine_accepts_are_accepted_and_become_bytes() -> None:
    spawner = parse({"spawner": {"memLimit": "6M", "cpuLimit": "0.01"}}, {}).spawner
    assert (memory_bytes(spawner.mem_limit), spawner.cpu_limit) == (6 * 1024**2, 0.01)
    sizes = ("7000000", "8192K", "2G", "1T")
    assert [memory_bytes(parse({"spawner": {"memLimit": m}}, {}).spawner.mem_limit) for m in sizes] == [
        7_000_000,
        8 * 1024**2,
        2 * 1024**3,
        1024**4,
    ]


def test_names_in_dockers_reference_grammar_are_accepted() -> None:
    for name in ("jupyterhub", "hub-dev", "hub.dev", "hub_dev", "hub__dev", "hub--dev", "h" * 50, "2026"):
        assert parse({"name": name}, {}).name == name


def test_every_default_is_pinned() -> None:
    """The defaults the prod stack relies on: sign-ups need approval, the filter guards the socket, the culler runs."""
    config = parse({})
    assert config == StackConfig()
    assert (config.name, config.public_ip, config.public_port, config.public_host) == ("jupyterhub", "0.0.0.0", 8000, ())
    assert (config.notebook_rollback_image, config.docker_api_proxy) == ("", True)
    assert config.tls == TlsConfig(
        mode="off",
        http_port=80,
        acme_email="",
        acme_directory="letsencrypt",
        acme_ca_root="",
        hsts_max_age_seconds=31_536_000,
        renewal_check_seconds=600,
    )
    assert config.tls.acme_directory_url == "https://acme-v02.api.letsencrypt.org/directory"
    assert config.auth == AuthConfig(
        type="native",
        admin_users=(),
        allowed_users=(),
        allow_all=False,
        open_signup=False,
        oauth_client_id="",
        oauth_callback_url="",
        oauth_authorize_url="",
        oauth_token_url="",
        oauth_userdata_url="",
        oauth_username_claim="preferred_username",
        allowed_organizations=(),
    )
    assert config.spawner == SpawnerConfig(
        type="docker", mem_limit="2G", cpu_limit=1.0, pids_limit=4096, start_timeout_seconds=120, profiles=()
    )
    assert config.culler == CullerConfig(enabled=True, timeout_seconds=3600)
    assert config.build == BuildConfig(
        base_image="debian:trixie-slim",
        extra_ca_certs_path="",
        pip_index_url="https://pypi.org/simple",
        npm_registry="https://registry.npmjs.org/",
    )
    assert (config.oauth_client_secret, config.shared_password, config.tls_certificate, config.tls_key) == (None,) * 4
    assert not config.serves_tls and not config.publishes_on_loopback


def test_every_setting_reaches_its_field(tmp_path: Path) -> None:
    raw = {
        "name": "hub-dev",
        "publicIp": "127.0.0.1",
        "publicPort": "8443",
        "publicHost": "hub.example.org",
        "notebookRollbackImage": "hub-dev-notebook:abc",
        "dockerApiProxy": "false",
        "build": {
            "baseImage": "registry.example/debian:trixie",
            "extraCaCertsPath": str(tmp_path),
            "pipIndexUrl": "https://mirror.example/simple",
            "npmRegistry": "http://npm.example/",
        },
        "auth": {
            "type": "generic-oauth",
            "adminUsers": ["ada"],
            "allowedUsers": ["bob", "eve"],
            "allowAll": "True",
            "openSignup": True,
            "oauthClientId": "id",
            "oauthCallbackUrl": "https://hub.example.org:8443/hub/oauth_callback",
            "oauthAuthorizeUrl": "https://idp/authorize",
            "oauthTokenUrl": "https://idp/token",
            "oauthUserdataUrl": "https://idp/userinfo",
            "oauthUsernameClaim": "sub",
            "allowedOrganizations": ["org"],
        },
        "spawner": {
            "type": "systemuser",
            "memLimit": "512M",
            "cpuLimit": "0.5",
            "pidsLimit": "256",
            "startTimeoutSeconds": "60",
            "homeVolumeTemplate": "jupyterhub-user-{username}",
            "maxServers": "40",
            "profiles": [{"name": "r", "image": "r-notebook:4.4", "groups": "stats"}, {"name": "big", "cpuLimit": "2"}],
        },
        "culler": {"enabled": "false", "timeoutSeconds": "600"},
        "tls": {
            "mode": "files",
            "httpPort": "8080",
            "acmeEmail": "ops@example.org",
            "acmeDirectory": "https://ca.example.org/acme/directory",
            "acmeCaRoot": PEM,
            "hstsMaxAgeSeconds": "0",
            "renewalCheckSeconds": "60",
        },
    }
    secrets = {"oauthClientSecret": SECRET, "tlsCertificate": SECRET, "tlsKey": SECRET}
    config = parse(raw, secrets)
    assert config == StackConfig(
        name="hub-dev",
        public_ip="127.0.0.1",
        public_port=8443,
        public_host=("hub.example.org",),
        build=BuildConfig(
            "registry.example/debian:trixie", str(tmp_path), "https://mirror.example/simple", "http://npm.example/"
        ),
        auth=AuthConfig(
            type="generic-oauth",
            admin_users=("ada",),
            allowed_users=("bob", "eve"),
            allow_all=True,
            open_signup=True,
            oauth_client_id="id",
            oauth_callback_url="https://hub.example.org:8443/hub/oauth_callback",
            oauth_authorize_url="https://idp/authorize",
            oauth_token_url="https://idp/token",
            oauth_userdata_url="https://idp/userinfo",
            oauth_username_claim="sub",
            allowed_organizations=("org",),
        ),
        spawner=SpawnerConfig(
            "systemuser",
            "512M",
            0.5,
            256,
            60,
            "jupyterhub-user-{username}",
            40,
            (Profile("r", "", "r-notebook:4.4", "", 0.0, ("stats",)), Profile("big", "", "", "", 2.0, ())),
        ),
        culler=CullerConfig(enabled=False, timeout_seconds=600),
        notebook_rollback_image="hub-dev-notebook:abc",
        docker_api_proxy=False,
        tls=TlsConfig("files", 8080, "ops@example.org", "https://ca.example.org/acme/directory", PEM, 0, 60),
        oauth_client_secret=SECRET,
        tls_certificate=SECRET,
        tls_key=SECRET,
    )
    assert config.serves_tls and config.publishes_on_loopback


def spawner(**values: Any) -> dict[str, Any]:
    return {"spawner": {key: str(value) for key, value in values.items()}}


RANGES = [
    # (raw config with the value, key it must name): just inside passes, just outside is refused.
    ("publicPort", lambda v: {"publicPort": str(v)}, [1, 65535], [0, 65536, -1]),
    ("tls.httpPort", lambda v: {"tls": {"mode": "files", "httpPort": str(v)}, "publicPort": "443"}, [0, 1, 65535], [-1, 65536]),
    ("tls.hstsMaxAgeSeconds", lambda v: {"tls": {"hstsMaxAgeSeconds": str(v)}}, [0, 63_072_000], [-1, 63_072_001]),
    ("tls.renewalCheckSeconds", lambda v: {"tls": {"renewalCheckSeconds": str(v)}}, [5, 86_400], [4, 86_401]),
    ("spawner.pidsLimit", lambda v: spawner(pidsLimit=v), [64, 1_048_576], [63, 1_048_577]),
    ("spawner.startTimeoutSeconds", lambda v: spawner(startTimeoutSeconds=v), [5, 3600], [4, 3601]),
    ("spawner.cpuLimit", lambda v: spawner(cpuLimit=v), [0.01, 256, 255.5], [0.0099, 256.001, 0, -1]),
    ("culler.timeoutSeconds", lambda v: {"culler": {"timeoutSeconds": str(v)}}, [60, 2_592_000], [59, 2_592_001]),
    (
        "spawner.memLimit",
        lambda v: spawner(memLimit=v),
        ["6M", "6144K", "6291456", "1T", "10G"],
        ["0G", "0", "6291455", "6143K", "05M", "1P", "2g", "G", " 2G", "2G "],
    ),
]


@pytest.mark.parametrize(("key", "make", "inside", "outside"), RANGES, ids=[r[0] for r in RANGES])
def test_ranges_hold_exactly_at_their_limits(key: str, make: Any, inside: list, outside: list) -> None:
    for value in inside:
        raw = make(value)
        parse(raw, TLS_FILES if raw.get("tls", {}).get("mode") == "files" else {})
    for value in outside:
        with pytest.raises(ConfigError, match=f"^config '{re.escape(key)}' = "):
            raw = make(value)
            parse(raw, TLS_FILES if raw.get("tls", {}).get("mode") == "files" else {})


@pytest.mark.parametrize("name", ["a", "0", "ada", "a.b_c-d", "ada99", "x" * 64, "9lives"])
def test_user_names_that_make_valid_container_names_are_accepted(name: str) -> None:
    assert parse({"auth": {"adminUsers": [name], "allowedUsers": [name]}}).auth.admin_users == (name,)


@pytest.mark.parametrize("name", ["", "Ada", "aDa", "a b", "a/b", ".ada", "-ada", "_ada", "x" * 65, "ada\n", "é", "a:b", "a@b"])
@pytest.mark.parametrize("key", ["adminUsers", "allowedUsers"])
def test_user_names_outside_the_container_name_rule_are_refused(key: str, name: str) -> None:
    with pytest.raises(ConfigError, match=f"^config 'auth.{key}' = {re.escape(repr(name))}: not a valid user name"):
        parse({"auth": {key: ["ok", name]}})


@pytest.mark.parametrize("key", ["adminUsers", "allowedUsers", "allowedOrganizations"])
@pytest.mark.parametrize("value", ["admin", ["ada", 1], {"ada": "x"}, None, [None]])
def test_list_settings_take_only_lists_of_strings(key: str, value: Any) -> None:
    with pytest.raises(
        ConfigError,
        match=f"^config 'auth.{key}' = .*: must be a list of strings. Fix: pulumi config set --path 'auth.{key}\\[0\\]'",
    ):
        parse({"auth": {key: value}})


@pytest.mark.parametrize("value", ["json-file", ["x"], {"r": 4}, {"r": None}, {"r": ["x"]}])
def test_map_settings_take_only_maps_of_strings(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^config 'cluster.homeVolumeOptions' = .*: must be a map of label to string"):
        parse({"cluster": {"homeVolumeOptions": value}})


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"name": 5}, "name"),
        ({"publicIp": 127}, "publicIp"),
        ({"auth": {"type": True}}, "auth.type"),
        ({"build": {"baseImage": ["debian"]}}, "build.baseImage"),
        ({"publicPort": True}, "publicPort"),
        ({"spawner": {"pidsLimit": False}}, "spawner.pidsLimit"),
        ({"spawner": {"cpuLimit": True}}, "spawner.cpuLimit"),
        ({"spawner": {"pidsLimit": "64.5"}}, "spawner.pidsLimit"),
        ({"culler": {"enabled": "yes"}}, "culler.enabled"),
        ({"culler": {"enabled": 1}}, "culler.enabled"),
        ({"auth": "native"}, "auth"),
        ({"build": ["x"]}, "build"),
        ({"culler": None}, "culler"),
    ],
)
def test_values_of_the_wrong_type_are_refused(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^config '{re.escape(key)}' = "):
        parse(raw)


@pytest.mark.parametrize(("given", "expected"), [(True, True), (False, False), ("true", True), ("FALSE", False), ("True", True)])
def test_flags_take_booleans_and_their_spellings(given: Any, expected: bool) -> None:
    config = parse({"dockerApiProxy": given, "auth": {"allowAll": given, "openSignup": given}, "culler": {"enabled": given}})
    assert (config.docker_api_proxy, config.auth.allow_all, config.auth.open_signup, config.culler.enabled) == (expected,) * 4


def test_the_error_names_key_value_problem_and_fix_in_one_line() -> None:
    with pytest.raises(ConfigError) as error:
        parse({"publicPort": "0"})
    assert (
        str(error.value)
        == "config 'publicPort' = '0': must be a whole number from 1 to 65535. Fix: pulumi config set publicPort 8000"
    )
    with pytest.raises(ConfigError) as error:
        parse({"spawner": {"cpuLimit": "300"}})
    assert str(error.value) == (
        "config 'spawner.cpuLimit' = '300': must be a number from 0.01 to 256.0. "
        "Fix: pulumi config set --path spawner.cpuLimit 1.0"
    )
    with pytest.raises(ConfigError) as error:
        parse({"auth": {"typ": "native", "type": "native"}})
    assert str(error.value) == (
        "config 'auth.typ' = 'native': unknown setting. Fix: check its spelling; known here: auth.adminGroups, "
        "auth.adminUsers, auth.allowAll, auth.allowedGroups, auth.allowedOrganizations, auth.allowedUsers, auth.caRoot, "
        "auth.groupsClaim, auth.ldapBindDnTemplate, auth.ldapPlainText, auth.ldapSearchBase, auth.ldapSearchUser, auth.ldapUrl, "
        "auth.ldapUserAttribute, auth.oauthAuthorizeUrl, auth.oauthCallbackUrl, auth.oauthClientId, auth.oauthTokenUrl, "
        "auth.oauthUserdataUrl, auth.oauthUsernameClaim, auth.oidcIssuer, auth.oidcScopes, auth.openSignup, auth.type"
    )


@pytest.mark.parametrize("section", ["build", "auth", "spawner", "culler"])
def test_an_unknown_key_is_refused_in_every_section(section: str) -> None:
    with pytest.raises(ConfigError, match=f"^config '{section}.bogus' = 1: unknown setting"):
        parse({section: {"bogus": 1}})


@pytest.mark.parametrize("kind", ["github", "generic-oauth", "oidc"])
def test_oauth_needs_a_client_id(kind: str) -> None:
    auth = {"oauthCallbackUrl": "https://h/hub/oauth_callback", "allowAll": True, "oidcIssuer": "https://id.example.org"}
    with pytest.raises(ConfigError, match=f"^config 'auth.oauthClientId' = '': required for auth.type {kind}"):
        parse({"auth": {"type": kind, **auth}}, {"oauthClientSecret": SECRET})


def test_the_callback_url_is_made_from_the_public_url() -> None:
    github = {"type": "github", "oauthClientId": "id", "allowAll": True}
    secrets = {"oauthClientSecret": SECRET}
    assert parse({"auth": github, "publicIp": "127.0.0.1", "publicPort": "8123"}, secrets).oauth_callback_url == (
        "http://localhost:8123/hub/oauth_callback"
    )
    behind_tls = {"publicHost": "hub.example.org", "publicPort": "443", "tls": {"mode": "files"}}
    tls_secrets = {**secrets, "tlsCertificate": "cert", "tlsKey": "key"}
    assert parse({"auth": github, **behind_tls}, tls_secrets).oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
    with pytest.raises(
        ConfigError, match=r"^config 'auth.oauthCallbackUrl' = '': cannot be made from publicIp 0\.0\.0\.0 .*publicHost"
    ):
        parse({"auth": github, "publicIp": "0.0.0.0"}, secrets)


@pytest.mark.parametrize(
    ("stack", "url", "problem"),
    [
        ({"publicHost": "hub.example.org"}, "https://other.example.org/hub/oauth_callback", "not on publicHost"),
        ({"publicHost": "hub.example.org"}, "https://hub.example.org/cb", "at /hub/oauth_callback"),
        ({"publicHost": "hub.example.org"}, "https://hub.example.org/hub/oauth_callback?x=1", "at /hub/oauth_callback"),
        ({"publicHost": "hub.example.org"}, "ftp://hub.example.org/hub/oauth_callback", "at /hub/oauth_callback"),
        (HTTPS_STACK, "http://hub.example.org/hub/oauth_callback", "HTTPS address"),
        (HTTPS_STACK, "https://hub.example.org:8443/hub/oauth_callback", "HTTPS address"),
    ],
)
def test_a_callback_url_that_is_not_this_hub_is_refused_with_the_right_one(stack: dict, url: str, problem: str) -> None:
    auth = {"type": "github", "oauthClientId": "id", "allowAll": True, "oauthCallbackUrl": url}
    secrets = (
        {"oauthClientSecret": SECRET, "tlsCertificate": "c", "tlsKey": "k"}
        if stack is HTTPS_STACK
        else {"oauthClientSecret": SECRET}
    )
    with pytest.raises(ConfigError) as error:
        parse({"auth": auth, **stack}, secrets)
    assert str(error.value).startswith(f"config 'auth.oauthCallbackUrl' = '{url}': ")
    assert problem in str(error.value)
    right = (
        "https://hub.example.org/hub/oauth_callback" if stack is HTTPS_STACK else "http://hub.example.org:8000/hub/oauth_callback"
    )
    assert str(error.value).endswith(f"Fix: pulumi config set --path auth.oauthCallbackUrl {right}")


def test_behind_the_operators_own_tls_proxy_the_callback_may_be_https_on_another_port() -> None:
    auth = {
        "type": "github",
        "oauthClientId": "id",
        "allowAll": True,
        "oauthCallbackUrl": "https://hub.example.org/hub/oauth_callback",
    }
    config = parse({"auth": auth, "publicHost": "hub.example.org"}, {"oauthClientSecret": SECRET})
    assert config.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"


@pytest.mark.parametrize("missing", ["oauthAuthorizeUrl", "oauthTokenUrl", "oauthUserdataUrl"])
def test_generic_oauth_needs_its_three_urls(missing: str) -> None:
    urls = {"oauthAuthorizeUrl": "https://i/a", "oauthTokenUrl": "https://i/t", "oauthUserdataUrl": "https://i/u"}
    del urls[missing]
    with pytest.raises(ConfigError, match=f"^config 'auth.{missing}' = '': required for auth.type generic-oauth"):
        parse({"auth": {**GITHUB, "type": "generic-oauth", "allowAll": True, **urls}}, {"oauthClientSecret": SECRET})


@pytest.mark.parametrize(
    "rule", [{"allowAll": True}, {"allowedUsers": ["ada"]}, {"adminUsers": ["ada"]}, {"allowedOrganizations": ["org"]}]
)
def test_any_one_allow_rule_lets_github_in(rule: dict) -> None:
    assert parse({"auth": {**GITHUB, **rule}}, {"oauthClientSecret": SECRET}).auth.type == "github"


def test_github_needs_no_generic_oauth_urls_and_native_needs_no_oauth_settings() -> None:
    assert parse({"auth": {**GITHUB, "allowAll": True}}, {"oauthClientSecret": SECRET}).auth.oauth_token_url == ""
    assert parse({"auth": {"type": "native"}}).auth.oauth_client_id == ""


@pytest.mark.parametrize("public_ip", ["127.0.0.1", "127.5.5.5", "::1"])
def test_shared_password_is_allowed_on_every_loopback_address(public_ip: str) -> None:
    assert parse({"publicIp": public_ip, "auth": {"type": "shared-password"}}, {"sharedPassword": SECRET}).publishes_on_loopback


@pytest.mark.parametrize("public_ip", ["0.0.0.0", "10.0.0.1", "::"])
def test_shared_password_is_refused_off_loopback(public_ip: str) -> None:
    with pytest.raises(ConfigError, match=r"^config 'auth.type' = 'shared-password': the dev-only"):
        parse({"publicIp": public_ip, "auth": {"type": "shared-password"}}, {"sharedPassword": SECRET})


@pytest.mark.parametrize("host", ["hub", "hub.example.org", "a-b.c", "x" * 63 + ".org", "0hub.example"])
def test_host_names_are_accepted(host: str) -> None:
    assert parse({"publicHost": host}).public_host == (host,)


def test_public_host_is_one_name_or_a_list_of_names_and_the_first_is_the_public_url() -> None:
    both = parse({**ACME, "publicHost": ["hub.example.org", "jupyter.example.org"], "publicPort": "443"})
    assert both.public_host == ("hub.example.org", "jupyter.example.org")
    assert both.public_url == "https://hub.example.org/"
    assert parse({"publicHost": ""}).public_host == ()
    assert parse({"publicIp": "127.0.0.1"}).public_url == "http://localhost:8000/"
    assert parse({"publicPort": "80"}).public_url == "http://0.0.0.0/"
    with pytest.raises(ConfigError, match=r"^config 'publicHost' = \[1\]: must be a list of strings"):
        parse({"publicHost": [1]})


@pytest.mark.parametrize("directory", ["letsencrypt", "letsencrypt-staging", "https://ca.internal:9000/acme/acme/directory"])
def test_acme_directories_are_named_cas_or_https_urls(directory: str) -> None:
    config = parse({**ACME, "tls": {**ACME["tls"], "acmeDirectory": directory}})
    expected = {
        "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
        "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    }.get(directory, directory)
    assert config.tls.acme_directory_url == expected


@pytest.mark.parametrize(
    "host", ["-hub", "hub-", "Hub.example", "hub..org", "x" * 64 + ".org", "hub.example.org/", "hub:443", "hub example"]
)
def test_host_names_outside_the_rule_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"^config 'publicHost' = .*: not a host name"):
        parse({"publicHost": host})


@pytest.mark.parametrize("ref", ["notebook:1", "a", "registry.example:5000/team/lab:4.4", "lab@sha256:abc", "0lab"])
def test_image_references_are_accepted(ref: str) -> None:
    config = parse(
        {"notebookRollbackImage": ref, "spawner": {"profiles": [{"name": "x", "image": ref}]}, "build": {"baseImage": ref}}
    )
    assert (config.notebook_rollback_image, config.spawner.profiles[0].image, config.build.base_image) == (ref, ref, ref)


@pytest.mark.parametrize("ref", ["Lab:1", "lab 1", "-lab", ":1", "lab:1\n", ""])
def test_image_references_outside_the_grammar_are_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match=r"^config 'build.baseImage' = .*: not an image reference"):
        parse({"build": {"baseImage": ref}})
    if ref:  # a profile's image and the rollback image are optional: empty means the built one
        with pytest.raises(ConfigError, match=r"^config 'spawner.profiles\[0\].image' = .*: not an image reference"):
            parse({"spawner": {"profiles": [{"name": "x", "image": ref}]}})
        with pytest.raises(ConfigError, match=r"^config 'notebookRollbackImage' = .*: not an image reference"):
            parse({"notebookRollbackImage": ref})


@pytest.mark.parametrize("url", ["ftp://mirror", "mirror.example", "https://", "https://mirror example", ""])
@pytest.mark.parametrize("key", ["pipIndexUrl", "npmRegistry"])
def test_mirror_urls_must_be_http(key: str, url: str) -> None:
    with pytest.raises(ConfigError, match=f"^config 'build.{key}' = .*: not an http\\(s\\) URL"):
        parse({"build": {key: url}})


def test_a_ca_certificate_file_is_accepted(tmp_path: Path) -> None:
    pem = tmp_path / "corp.crt"
    pem.write_text("x")
    assert parse({"build": {"extraCaCertsPath": str(pem)}}).build.extra_ca_certs_path == str(pem)


def test_tls_with_files_and_with_acme_is_accepted() -> None:
    config = parse({"publicPort": "443", "tls": {"mode": "files"}}, TLS_FILES)
    assert (config.public_port, config.tls.http_port, config.serves_tls) == (443, 80, True)
    config = parse({**ACME, "publicPort": "443", "tls": {**ACME["tls"], "httpPort": "0", "acmeCaRoot": PEM + PEM}})
    assert (config.tls.mode, config.tls.http_port, config.tls.acme_ca_root, config.serves_tls) == ("acme", 0, PEM + PEM, True)
    assert parse({**ACME, "publicHost": "hub.jupyterhub.test"}).public_host == ("hub.jupyterhub.test",)


@pytest.mark.parametrize("spawner_type", ["docker", "systemuser"])
def test_the_api_filter_can_be_turned_off_for_either_spawner(spawner_type: str) -> None:
    assert parse({"dockerApiProxy": False, "spawner": {"type": spawner_type}}).spawner.type == spawner_type


# Valid settings, generated: each must arrive in its field unchanged.
usernames = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
valid_spawner = st.fixed_dictionaries(
    {
        "memLimit": st.sampled_from(["6M", "512M", "2G", "1T", "7000000"]),
        "cpuLimit": st.decimals(min_value="0.01", max_value="256", places=2).map(str),
        "pidsLimit": st.integers(64, 1_048_576),
        "startTimeoutSeconds": st.integers(5, 3600),
    }
)


@settings(max_examples=100, deadline=None)
@given(
    port=st.integers(1, 65535),
    admins=st.lists(usernames, max_size=3),
    open_signup=st.booleans(),
    spawner_values=valid_spawner,
    culler_timeout=st.integers(60, 2_592_000),
)
def test_generated_valid_settings_arrive_unchanged(
    port: int, admins: list[str], open_signup: bool, spawner_values: dict, culler_timeout: int
) -> None:
    raw = {
        "publicPort": str(port),
        "auth": {"adminUsers": admins, "openSignup": open_signup},
        "spawner": {key: str(value) for key, value in spawner_values.items()},
        "culler": {"timeoutSeconds": str(culler_timeout)},
    }
    config = parse(raw)
    assert (config.public_port, config.auth.admin_users, config.auth.open_signup) == (port, tuple(admins), open_signup)
    spawner_config = config.spawner
    assert (spawner_config.mem_limit, spawner_config.cpu_limit) == (spawner_values["memLimit"], float(spawner_values["cpuLimit"]))
    assert (spawner_config.pids_limit, spawner_config.start_timeout_seconds) == (
        spawner_values["pidsLimit"],
        spawner_values["startTimeoutSeconds"],
    )
    assert config.culler.timeout_seconds == culler_timeout


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(
        ["publicPort", "tls.httpPort", "spawner.pidsLimit", "spawner.startTimeoutSeconds", "culler.timeoutSeconds"]
    ),
    value=st.integers(-(10**7), 10**7) | st.text(max_size=6),
)
def test_a_generated_out_of_range_value_is_refused_naming_its_key(key: str, value: int | str) -> None:
    low, high = {
        "publicPort": (1, 65535),
        "tls.httpPort": (0, 65535),
        "spawner.pidsLimit": (64, 1_048_576),
        "spawner.startTimeoutSeconds": (5, 3600),
        "culler.timeoutSeconds": (60, 2_592_000),
    }[key]
    try:
        number = int(str(value))
    except ValueError:
        number = None
    assume(number is None or not low <= number <= high)
    section, _, leaf = key.rpartition(".")
    raw: dict[str, Any] = {section: {leaf: str(value)}} if section else {key: str(value)}
    with pytest.raises(ConfigError, match=f"^config '{re.escape(key)}' = .*: must be a whole number from {low} to {high}"):
        parse(raw)


def test_generic_oauth_needs_its_client_secret() -> None:
    auth = {**GITHUB, "type": "generic-oauth", "allowAll": True}
    auth |= {"oauthAuthorizeUrl": "https://i/a", "oauthTokenUrl": "https://i/t", "oauthUserdataUrl": "https://i/u"}
    with pytest.raises(ConfigError) as error:
        parse({"auth": auth})
    assert str(error.value) == (
        "config 'oauthClientSecret' = None: required for auth.type generic-oauth. "
        "Fix: pulumi config set --secret oauthClientSecret <secret>"
    )


def test_optional_settings_may_be_empty() -> None:
    config = parse({"publicHost": "", "notebookRollbackImage": "", "build": {"extraCaCertsPath": ""}})
    assert (config.public_host, config.notebook_rollback_image, config.build.extra_ca_certs_path) == ((), "", "")


def test_the_name_and_url_errors_say_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as error:
        parse({"name": "Hub"})
    assert str(error.value) == (
        "config 'name' = 'Hub': not usable in image names (lower-case letters and digits, separated by single '.', '_' or '-'; "
        "at most 50). Fix: pulumi config set name jupyterhub"
    )
    with pytest.raises(ConfigError) as error:
        parse({"build": {"npmRegistry": "registry"}})
    assert str(error.value) == (
        "config 'build.npmRegistry' = 'registry': not an http(s) URL. Fix: pulumi config set --path build.npmRegistry <url>"
    )


@pytest.mark.parametrize("template", ["jupyterhub-user-{username}", "{username}-home", "x{username}", ""])
def test_a_home_volume_template_with_a_fixed_part_is_taken(template: str) -> None:
    assert parse({"spawner": {"homeVolumeTemplate": template}}).spawner.home_volume_template == template


@pytest.mark.parametrize(
    "template", ["{username}", "-{username}", "a/{username}", "{username}{username}", "home-{user}", "h {username}"]
)
def test_a_home_volume_template_that_is_no_volume_name_or_has_no_fixed_part_is_refused(template: str) -> None:
    with pytest.raises(ConfigError, match=r"'spawner.homeVolumeTemplate' .*: not a volume name with \{username\} once"):
        parse({"spawner": {"homeVolumeTemplate": template}})


def test_a_home_volume_template_that_can_name_the_hubs_volume_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"a user could be given the deployment's own volume hub-hub-data as their home"):
        parse({"name": "hub", "spawner": {"homeVolumeTemplate": "hub-{username}"}})
    assert parse({"name": "hub", "spawner": {"homeVolumeTemplate": "hub-user-{username}"}}).name == "hub"


@pytest.mark.parametrize(("template", "volume"), [("x-b{username}", "x-backup-state"), ("x-pro{username}", "x-prometheus-data")])
def test_a_home_volume_template_that_can_name_another_volume_of_the_deployment_is_refused(template: str, volume: str) -> None:
    with pytest.raises(ConfigError, match=f"a user could be given the deployment's own volume {volume} as their home"):
        parse({"name": "x", "spawner": {"homeVolumeTemplate": template}})


OIDC = {"type": "oidc", "oidcIssuer": "https://login.example.org/realms/uni", "oauthClientId": "hub", "allowedGroups": ["s"]}
LDAP = {"type": "ldap", "ldapUrl": "ldaps://ad.example.org", "ldapBindDnTemplate": ["uid={username},dc=x"], "allowAll": True}


def test_institution_logins_are_accepted() -> None:
    oidc = parse({"publicIp": "127.0.0.1", "auth": OIDC}, {"oauthClientSecret": SECRET})
    assert (oidc.auth.oidc_issuer, oidc.auth.allowed_groups) == ("https://login.example.org/realms/uni", ("s",))
    ldap = parse({"auth": {**LDAP, "ldapBindDnTemplate": [], "ldapSearchBase": "ou=p,dc=x", "ldapSearchUser": "cn=r,dc=x"}},
                 {"ldapSearchPassword": SECRET})  # fmt: skip
    assert ldap.ldap_search_password is SECRET
    assert parse({"auth": {**LDAP, "ldapUrl": "ldap://ldap.example.org", "ldapPlainText": True}}).auth.ldap_plain_text


@pytest.mark.parametrize(
    ("auth", "secrets", "key", "problem", "fix"),
    [
        ({**OIDC, "oidcIssuer": ""}, {"oauthClientSecret": SECRET}, "auth.oidcIssuer", "required for auth.type oidc", "<value>"),
        ({**OIDC, "oidcIssuer": "http://login.example.org"}, {"oauthClientSecret": SECRET}, "auth.oidcIssuer",
         "not an https:// issuer URL", "pulumi config set --path auth.oidcIssuer https://"),
        (OIDC, {}, "oauthClientSecret", "required for auth.type oidc", "pulumi config set --secret oauthClientSecret"),
        ({**OIDC, "allowedGroups": []}, {"oauthClientSecret": SECRET}, "auth.allowedUsers", "without an allow rule",
         "set auth.allowedGroups"),
        ({**OIDC, "caRoot": "root.pem"}, {"oauthClientSecret": SECRET}, "auth.caRoot", "not PEM", '"$(cat root.pem)"'),
        ({"type": "native", "allowedGroups": ["s"]}, {}, "auth.allowedGroups", "used only with auth.type oidc or ldap",
         "pulumi config rm --path auth.allowedGroups"),
        ({"type": "github", "oauthClientId": "i", "allowAll": True, "groupsClaim": "roles"}, {"oauthClientSecret": SECRET},
         "auth.groupsClaim", "used only with auth.type oidc", "pulumi config rm --path auth.groupsClaim"),
        ({"type": "native", "ldapUrl": "ldaps://x.org"}, {}, "auth.ldapUrl", "used only with auth.type ldap", "config rm"),
        ({**LDAP, "ldapUrl": ""}, {}, "auth.ldapUrl", "required for auth.type ldap", "<value>"),
        ({**LDAP, "ldapUrl": "ad.example.org"}, {}, "auth.ldapUrl", "not an ldap:// or ldaps:// URL", "ldaps://"),
        ({**LDAP, "ldapPlainText": True}, {}, "auth.ldapPlainText", "contradicts an ldaps:// URL", "config rm"),
        ({**LDAP, "ldapBindDnTemplate": []}, {}, "auth.ldapBindDnTemplate", "exactly one way", "uid={username}"),
        ({**LDAP, "ldapSearchBase": "ou=p,dc=x"}, {}, "auth.ldapBindDnTemplate", "exactly one way", "uid={username}"),
        ({**LDAP, "ldapBindDnTemplate": ["uid=ada,dc=x"]}, {}, "auth.ldapBindDnTemplate", "needs {username}", "uid={username}"),
        ({**LDAP, "ldapBindDnTemplate": [], "ldapSearchBase": "ou=p,dc=x", "ldapSearchUser": "cn=r,dc=x"}, {},
         "ldapSearchPassword", "required with auth.ldapSearchUser", "pulumi config set --secret ldapSearchPassword"),
        ({**LDAP, "ldapBindDnTemplate": [], "ldapSearchBase": "ou=p,dc=x"}, {"ldapSearchPassword": SECRET},
         "auth.ldapSearchUser", "not whose it is", "cn=reader"),
        ({"type": "native"}, {"ldapSearchPassword": SECRET}, "ldapSearchPassword", "used only with auth.type ldap", "config rm"),
        ({**LDAP, "allowAll": False}, {}, "auth.allowedUsers", "without an allow rule", "set auth.allowedGroups"),
    ],
)  # fmt: skip
def test_a_bad_institution_login_is_refused_naming_key_and_fix(
    auth: dict, secrets: dict, key: str, problem: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse({"publicIp": "127.0.0.1", "auth": auth}, secrets)
    message = str(error.value)
    assert message.startswith(f"config '{key}' = ")
    assert problem in message
    assert fix in message.split(" Fix: ", 1)[1]


@pytest.mark.parametrize(
    ("key", "value", "types"),
    [
        ("oidcIssuer", "https://id.example.org", "oidc"),
        ("groupsClaim", "roles", "oidc"),
        ("oidcScopes", ["openid"], "oidc"),
        ("allowedGroups", ["s"], "oidc or ldap"),
        ("adminGroups", ["t"], "oidc or ldap"),
        ("caRoot", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "oidc or ldap"),
        ("ldapUrl", "ldaps://ad.example.org", "ldap"),
        ("ldapPlainText", True, "ldap"),
        ("ldapBindDnTemplate", ["uid={username},dc=x"], "ldap"),
        ("ldapSearchBase", "dc=x", "ldap"),
        ("ldapUserAttribute", "sAMAccountName", "ldap"),
        ("ldapSearchUser", "cn=r,dc=x", "ldap"),
    ],
)
def test_a_key_of_another_login_type_is_refused(key: str, value: Any, types: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse({"auth": {"type": "native", key: value}})
    assert str(error.value).startswith(f"config 'auth.{key}' = ")
    assert f"used only with auth.type {types}. Fix: pulumi config rm --path auth.{key}" in str(error.value)
