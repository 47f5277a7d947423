"""Each bad stack config value is refused with an error naming the key and the fix."""

from __future__ import annotations

import contextlib
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import ConfigError, StackConfig, parse_config

SECRET = pulumi.Output.secret("s3cret")
GITHUB = {"type": "github", "oauthClientId": "abc", "oauthCallbackUrl": "https://hub.example/hub/oauth_callback"}


def parse(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> StackConfig:
    return parse_config(raw, secrets or {})


def test_defaults_are_a_native_authenticator_hub_on_port_8000() -> None:
    config = parse({})
    assert (config.public_ip, config.public_port, config.auth.type, config.spawner.type) == ("0.0.0.0", 8000, "native", "docker")
    assert config.build.base_image == "debian:trixie-slim"
    assert config.culler.enabled and config.culler.timeout_s == 3600


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
        ({"auth": {"type": "ldap"}}, {}, "auth.type", "pulumi config set auth.type native"),
        ({"spawner": {"type": "kubernetes"}}, {}, "spawner.type", "pulumi config set spawner.type docker"),
        ({"spawner": {"memLimit": "2 GB"}}, {}, "spawner.memLimit", "e.g. 2G"),
        ({"spawner": {"cpuLimit": "lots"}}, {}, "spawner.cpuLimit", "pulumi config set spawner.cpuLimit 1.0"),
        ({"spawner": {"cpuLimit": "0"}}, {}, "spawner.cpuLimit", "pulumi config set spawner.cpuLimit 1.0"),
        # DockerSpawner's quota int(0.009 * 100000) = 900 is below the engine's 1000; 0 would mean no limit.
        ({"spawner": {"cpuLimit": "0.009"}}, {}, "spawner.cpuLimit", "pulumi config set spawner.cpuLimit 1.0"),
        ({"spawner": {"memLimit": "6143K"}}, {}, "spawner.memLimit", "e.g. 2G"),  # the engine's minimum is 6M
        ({"spawner": {"memLimit": "2G\n"}}, {}, "spawner.memLimit", "e.g. 2G"),
        ({"spawner": {"pidsLimit": "63"}}, {}, "spawner.pidsLimit", "pulumi config set spawner.pidsLimit 4096"),
        ({"spawner": {"pidsLimit": "1048577"}}, {}, "spawner.pidsLimit", "pulumi config set spawner.pidsLimit 4096"),
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
        ({"culler": {"timeoutSeconds": "5"}}, {}, "culler.timeoutSeconds", "pulumi config set culler.timeoutSeconds 3600"),
        ({"culler": {"enabled": "sometimes"}}, {}, "culler.enabled", "true"),
        ({"spawner": "docker"}, {}, "spawner", "README"),
        ({"spawner": {"extraImages": ["a"]}}, {}, "spawner.extraImages", "--path"),
        ({"spawner": {"extraImages": {"default": "lab:1"}}}, {}, "spawner.extraImages.default", "another label"),
        ({"spawner": {"memlimit": "4G"}}, {}, "spawner.memlimit", "check its spelling; known here: "),
        ({"spawner": {"type": "systemuser"}}, {}, "dockerApiProxy", "pulumi config set dockerApiProxy false"),
        ({"dockerApiProxy": "maybe"}, {}, "dockerApiProxy", "pulumi config set dockerApiProxy true"),
        ({}, {"tlsCertificate": SECRET}, "tlsKey", "pulumi config set --secret tlsKey"),
        ({}, {"tlsKey": SECRET}, "tlsCertificate", "pulumi config set --secret tlsCertificate"),
        ({"httpRedirectPort": "80"}, {}, "httpRedirectPort", "set tlsCertificate and tlsKey"),
        ({"httpRedirectPort": "8000"}, {"tlsCertificate": SECRET, "tlsKey": SECRET}, "httpRedirectPort", "choose another port"),
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
    "extraImages",
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
def test_no_input_crashes_the_loader_with_anything_but_a_config_error(raw: dict) -> None:
    with contextlib.suppress(ConfigError):
        parse(raw)


def test_the_smallest_limits_the_engine_accepts_are_accepted_and_become_bytes() -> None:
    spawner = parse({"spawner": {"memLimit": "6M", "cpuLimit": "0.01"}}, {}).spawner
    assert (spawner.mem_limit_bytes, spawner.cpu_limit) == (6 * 1024**2, 0.01)
    assert [parse({"spawner": {"memLimit": m}}, {}).spawner.mem_limit_bytes for m in ("7000000", "8192K", "2G", "1T")] == [
        7_000_000,
        8 * 1024**2,
        2 * 1024**3,
        1024**4,
    ]


def test_names_in_dockers_reference_grammar_are_accepted() -> None:
    for name in ("jupyterhub", "hub-dev", "hub.dev", "hub_dev", "hub__dev", "hub--dev", "h" * 50, "2026"):
        assert parse({"name": name}, {}).name == name
