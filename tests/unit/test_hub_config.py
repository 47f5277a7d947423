"""hub_config/jupyterhub_config.py maps the deployment's settings onto JupyterHub traitlets."""

from __future__ import annotations

import importlib.util
import runpy
import ssl
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from components.config import parse_config
from components.hub_addons import hub_addons, merged
from components.hub_settings import hub_settings
from components.names import DeploymentNames
from components.user_servers import user_server_images
from testkit.program_runner import REPO_ROOT, run_program
from tests.unit.echo_mocks import ProviderEchoMocks

configure = runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"))["configure"]
NATIVE = "nativeauthenticator_compat.NativeAuthenticator"  # NativeAuthenticator with the JupyterHub 6 shim
PEM_ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
SECRETS = {
    "CONFIGPROXY_AUTH_TOKEN": "proxy-token",
    "OAUTH_CLIENT_SECRET": "oauth-secret",
    "SHARED_PASSWORD": "pw",
    "LDAP_SEARCH_PASSWORD": "ldap-search-secret",
}


def settings_of(
    raw: dict[str, Any], secrets: dict[str, Any] | None = None, endpoints: dict[str, str] | None = None
) -> dict[str, Any]:
    config = parse_config(raw, secrets or {})
    names = DeploymentNames(config.name)
    return hub_settings(config, names, user_server_images(config, "notebook:abc"), merged(hub_addons(config)), endpoints or {})


def hub_config(raw: dict[str, Any], secrets: dict[str, Any] | None = None, endpoints: dict[str, str] | None = None) -> Config:
    settings = settings_of(raw, secrets, endpoints)
    c = Config()
    configure(c, settings, SECRETS)
    return c


def test_the_settings_the_program_uploads_are_the_ones_the_config_reads() -> None:
    run = run_program(ProviderEchoMocks())
    uploads = {u["file"]: u["content"] for u in run.get("docker:index/container:Container", "hub").inputs["uploads"]}
    c = Config()
    configure(c, __import__("json").loads(uploads["/etc/jupyterhub/settings.json"]), SECRETS)
    assert c.DockerSpawner.image == run.exports["notebookImage"]
    assert uploads["/etc/jupyterhub/jupyterhub_config.py"] == (REPO_ROOT / "hub_config" / "jupyterhub_config.py").read_text()


def test_hub_talks_to_the_separate_proxy_and_leaves_servers_running_when_it_stops() -> None:
    c = hub_config({})
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://jupyterhub-proxy:8001"
    assert c.ConfigurableHTTPProxy.auth_token == "proxy-token"
    assert c.JupyterHub.cleanup_servers is False
    assert (c.JupyterHub.hub_ip, c.JupyterHub.hub_connect_ip) == ("0.0.0.0", "jupyterhub-hub")
    assert c.JupyterHub.db_url == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret_file == "/srv/jupyterhub/jupyterhub_cookie_secret"


ACME = {"tls": {"mode": "acme", "acmeEmail": "ops@example.org"}}


@pytest.mark.parametrize(
    ("raw", "public_url"),
    [
        ({**ACME, "publicHost": ["hub.example.org", "jupyter.example.org"], "publicPort": "443"}, "https://hub.example.org/"),
        ({**ACME, "publicHost": "hub.example.org", "publicPort": "8443"}, "https://hub.example.org:8443/"),
    ],
)
def test_behind_tls_the_hub_knows_its_public_https_url(raw: dict[str, Any], public_url: str) -> None:
    """Its login cookies are then Secure, and its redirects name the host users typed."""
    assert hub_config(raw).JupyterHub.public_url == public_url


@pytest.mark.parametrize(
    ("raw", "secrets"),
    [({"publicHost": "hub.example.org"}, {}), ({"tls": {"mode": "files"}}, {"tlsCertificate": "c", "tlsKey": "k"})],
)
def test_without_tls_or_without_a_name_the_hub_takes_the_url_from_each_request(
    raw: dict[str, Any], secrets: dict[str, Any]
) -> None:
    assert "public_url" not in hub_config(raw, secrets).JupyterHub


def test_docker_spawner_settings() -> None:
    c = hub_config({"spawner": {"memLimit": "512M", "cpuLimit": "0.5", "startTimeoutSeconds": "60"}})
    assert c.JupyterHub.spawner_class == "spawners.PromptDockerSpawner"
    assert c.DockerSpawner.image == "notebook:abc"
    assert c.DockerSpawner.name_template == "jupyter-jupyterhub_{username}"
    assert (c.DockerSpawner.network_name, c.DockerSpawner.use_internal_ip, c.DockerSpawner.remove) == ("jupyterhub", True, True)
    assert (c.DockerSpawner.mem_limit, c.DockerSpawner.cpu_limit, c.DockerSpawner.start_timeout) == ("512M", 0.5, 60)
    assert c.DockerSpawner.volumes == {"jupyterhub-home-{username}": "/home/jovyan"}
    assert (c.DockerSpawner.notebook_dir, c.DockerSpawner.port) == ("/home/jovyan", 8888)
    assert "allowed_images" not in c.DockerSpawner
    assert [(p["mem_limit"], p["cpu_limit"]) for p in c.DockerSpawner.profiles] == [(512 * 1024**2, 0.5)]


def test_user_servers_survive_a_docker_daemon_restart_and_have_a_process_limit() -> None:
    c = hub_config({"spawner": {"pidsLimit": "512"}})
    assert c.DockerSpawner.extra_host_config == {
        "auto_remove": False,
        "restart_policy": {"Name": "unless-stopped"},
        "pids_limit": 512,
        "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
    }
    assert c.DockerSpawner.use_internal_hostname is True


def test_each_profile_reaches_the_spawner_with_its_image_and_limits_resolved() -> None:
    profiles = [
        {"name": "small", "description": "Exercises", "memLimit": "512M", "cpuLimit": "0.5"},
        {"name": "r", "image": "r-notebook:4.4", "groups": ["stats", "staff"], "placement": []},
        {"name": "big", "image": "r-notebook:4.4", "memLimit": "8G", "cpuLimit": "4", "groups": "staff"},
    ]
    c = hub_config({"spawner": {"memLimit": "1G", "cpuLimit": "1", "profiles": profiles}})
    assert c.DockerSpawner.profiles == [
        {"name": "small", "description": "Exercises", "image": "notebook:abc", "mem_limit": 512 * 1024**2, "cpu_limit": 0.5,
         "groups": [], "placement": [], "gpus": 0, "gpu_ids": [], "gpus_shared": False},
        {"name": "r", "description": "", "image": "r-notebook:4.4", "mem_limit": 1024**3, "cpu_limit": 1.0,
         "groups": ["stats", "staff"], "placement": [], "gpus": 0, "gpu_ids": [], "gpus_shared": False},
        {"name": "big", "description": "", "image": "r-notebook:4.4", "mem_limit": 8 * 1024**3, "cpu_limit": 4.0,
         "groups": ["staff"], "placement": [], "gpus": 0, "gpu_ids": [], "gpus_shared": False},
    ]  # fmt: skip
    assert "allowed_images" not in c.DockerSpawner


def test_systemuser_spawner_uses_host_home_directories() -> None:
    c = hub_config({"spawner": {"type": "systemuser"}, "dockerApiProxy": False})
    assert c.JupyterHub.spawner_class == "spawners.PromptSystemUserSpawner"
    assert c.SystemUserSpawner.host_homedir_format_string == "/home/{username}"
    assert "volumes" not in c.DockerSpawner


def test_native_authenticator_is_the_allow_rule_and_lists_admins() -> None:
    c = hub_config({"auth": {"adminUsers": ["ada"], "openSignup": True}})
    assert c.JupyterHub.authenticator_class == NATIVE
    assert c.Authenticator.admin_users == {"ada"}
    assert c.Authenticator.allow_all is True
    assert c.NativeAuthenticator.open_signup is True


@pytest.mark.parametrize("kind", ["github", "generic-oauth"])
def test_oauth_reads_its_secret_from_the_environment(kind: str) -> None:
    auth = {"type": kind, "oauthClientId": "id", "oauthCallbackUrl": "https://h/hub/oauth_callback", "allowedUsers": ["ada"]}
    auth |= {"oauthAuthorizeUrl": "https://i/a", "oauthTokenUrl": "https://i/t", "oauthUserdataUrl": "https://i/u"}
    c = hub_config({"auth": auth}, {"oauthClientSecret": object()})
    assert c.JupyterHub.authenticator_class == kind
    assert (c.OAuthenticator.client_id, c.OAuthenticator.client_secret) == ("id", "oauth-secret")
    assert c.Authenticator.allowed_users == {"ada"}
    assert c.Authenticator.allow_all is False


def test_idle_culler_runs_as_a_hub_service_with_the_configured_timeout() -> None:
    c = hub_config({"culler": {"timeoutSeconds": "600"}})
    assert c.JupyterHub.services[0]["command"][-1] == "--timeout=600"
    assert c.JupyterHub.load_roles[0]["services"] == ["idle-culler"]
    assert "services" not in hub_config({"culler": {"enabled": False}}).JupyterHub


def plain(config: Config) -> dict[str, Any]:
    return {section: dict(values) for section, values in config.items()}


COMMON = {
    "JupyterHub": {
        "hub_ip": "0.0.0.0",
        "hub_port": 8081,
        "hub_connect_ip": "jupyterhub-hub",
        "db_url": "sqlite:////srv/jupyterhub/jupyterhub.sqlite",
        "cookie_secret_file": "/srv/jupyterhub/jupyterhub_cookie_secret",
        "cleanup_servers": False,
        "last_activity_interval": 5,
        "spawner_class": "spawners.PromptDockerSpawner",
        "active_server_limit": 200,  # spawner.maxServers
        "load_roles": [
            {
                "name": "idle-culler",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        ],
        "services": [{"name": "idle-culler", "command": ["python3", "-m", "jupyterhub_idle_culler", "--timeout=3600"]}],
    },
    "ConfigurableHTTPProxy": {"should_start": False, "api_url": "http://jupyterhub-proxy:8001", "auth_token": "proxy-token"},
    "DockerSpawner": {
        "image": "notebook:abc",
        "name_template": "jupyter-jupyterhub_{username}",
        "port": 8888,
        "network_name": "jupyterhub",
        "use_internal_ip": True,
        "use_internal_hostname": True,
        "extra_host_config": {
            "auto_remove": False,
            "restart_policy": {"Name": "unless-stopped"},
            "pids_limit": 4096,
            "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
        },
        "remove": True,
        "shared_volumes": [],
        "mem_limit": "2G",
        "cpu_limit": 1.0,
        "start_timeout": 120,
        "http_timeout": 120,
        "extra_create_kwargs": {"labels": {"org.jupyterhub-docker.deployment": "jupyterhub"}},
        "notebook_dir": "/home/jovyan",
        "volumes": {"jupyterhub-home-{username}": "/home/jovyan"},
        # No profiles configured: one, the built image with spawner.memLimit and cpuLimit, for everyone.
        "profiles": [
            {
                "name": "default",
                "description": "",
                "image": "notebook:abc",
                "mem_limit": 2 * 1024**3,
                "cpu_limit": 1.0,
                "groups": [],
                "placement": [],
                "gpus": 0,
                "gpu_ids": [],
                "gpus_shared": False,
            }
        ],
    },
}


def test_the_whole_default_hub_config() -> None:
    assert plain(hub_config({})) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": NATIVE},
        "Authenticator": {"admin_users": set(), "allowed_users": set(), "allow_all": True},
        "NativeAuthenticator": {"open_signup": False},
    }


def test_the_whole_github_hub_config() -> None:
    auth = {"type": "github", "oauthClientId": "id", "oauthCallbackUrl": "https://h/hub/oauth_callback"}
    c = hub_config({"auth": {**auth, "adminUsers": ["ada"], "allowedOrganizations": ["org"]}}, {"oauthClientSecret": object()})
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": "github"},
        "Authenticator": {"admin_users": {"ada"}, "allowed_users": set(), "allow_all": False},
        "OAuthenticator": {
            "client_id": "id",
            "client_secret": "oauth-secret",
            "oauth_callback_url": "https://h/hub/oauth_callback",
        },
        "GitHubOAuthenticator": {"allowed_organizations": {"org"}},
    }


def test_the_whole_generic_oauth_hub_config() -> None:
    auth = {"type": "generic-oauth", "oauthClientId": "id", "oauthCallbackUrl": "https://h/hub/oauth_callback", "allowAll": True}
    auth |= {"oauthAuthorizeUrl": "https://i/a", "oauthTokenUrl": "https://i/t", "oauthUserdataUrl": "https://i/u"}
    c = hub_config({"auth": {**auth, "oauthUsernameClaim": "sub"}}, {"oauthClientSecret": object()})
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": "generic-oauth"},
        "Authenticator": {"admin_users": set(), "allowed_users": set(), "allow_all": True},
        "OAuthenticator": {
            "client_id": "id",
            "client_secret": "oauth-secret",
            "oauth_callback_url": "https://h/hub/oauth_callback",
        },
        "GenericOAuthenticator": {
            "authorize_url": "https://i/a",
            "token_url": "https://i/t",
            "userdata_url": "https://i/u",
            "username_claim": "sub",
        },
    }


OIDC_ENDPOINTS = {
    "authorization_endpoint": "https://id.example.org/auth",
    "token_endpoint": "https://id.example.org/token",
    "userinfo_endpoint": "https://id.example.org/me",
    "end_session_endpoint": "https://id.example.org/session/end",
}


def test_the_whole_oidc_hub_config() -> None:
    auth = {"type": "oidc", "oidcIssuer": "https://id.example.org", "oauthClientId": "hub", "adminUsers": ["ada"]}
    auth |= {"allowedGroups": ["students", "teachers"], "adminGroups": ["teachers"], "groupsClaim": "roles"}
    auth |= {"oidcScopes": ["openid", "profile", "groups"], "caRoot": PEM_ROOT}
    stack = {"publicHost": "hub.example.org", "publicIp": "0.0.0.0", "auth": auth}
    c = hub_config(stack, {"oauthClientSecret": object()}, OIDC_ENDPOINTS)
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": "identity_login.OidcAuthenticator"},
        "Authenticator": {
            "admin_users": {"ada"},
            "allowed_users": set(),
            "allow_all": False,
            "enable_auth_state": True,
            "refresh_pre_spawn": True,
        },
        "OAuthenticator": {
            "client_id": "hub",
            "client_secret": "oauth-secret",
            "oauth_callback_url": "http://hub.example.org:8000/hub/oauth_callback",
            "login_service": "your institution's account",
            "logout_redirect_url": "https://id.example.org/session/end?client_id=hub",
            "http_request_kwargs": {"ca_certs": "/tmp/identity-provider-ca.pem"},
        },
        "GenericOAuthenticator": {
            "authorize_url": "https://id.example.org/auth",
            "token_url": "https://id.example.org/token",
            "userdata_url": "https://id.example.org/me",
            "username_claim": "preferred_username",
            "scope": ["openid", "profile", "groups"],
            "enable_pkce": True,
            "manage_groups": True,
            "auth_state_groups_key": "oauth_user.roles",
            "allowed_groups": {"students", "teachers"},
            "admin_groups": {"teachers"},
        },
    }


def test_an_oidc_provider_without_logout_keeps_jupyterhubs_own_logout_page() -> None:
    auth = {"type": "oidc", "oidcIssuer": "https://id.example.org", "oauthClientId": "hub", "allowAll": True}
    endpoints = {**OIDC_ENDPOINTS, "end_session_endpoint": ""}
    c = hub_config({"publicIp": "127.0.0.1", "auth": auth}, {"oauthClientSecret": object()}, endpoints)
    assert "logout_redirect_url" not in plain(c)["OAuthenticator"]
    assert "http_request_kwargs" not in plain(c)["OAuthenticator"]


LDAP_GROUPS = {"allowedGroups": ["cn=students,ou=groups,dc=x"], "adminGroups": ["cn=teachers,ou=groups,dc=x"]}


def test_the_whole_ldap_hub_config_with_a_search_bind() -> None:
    auth = {"type": "ldap", "ldapUrl": "ldap://ldap.example.org", "ldapSearchBase": "ou=people,dc=x", **LDAP_GROUPS}
    auth |= {"ldapUserAttribute": "sAMAccountName", "ldapSearchUser": "cn=reader,dc=x"}
    c = hub_config({"auth": auth}, {"ldapSearchPassword": object()})
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": "identity_login.LdapAuthenticator"},
        "Authenticator": {"admin_users": set(), "allowed_users": set(), "allow_all": False, "manage_groups": True},
        "LDAPAuthenticator": {
            "server_address": "ldap.example.org",
            "server_port": 389,
            "tls_strategy": "before_bind",
            "tls_kwargs": {"ca_certs_file": "/etc/ssl/certs/ca-certificates.crt", "validate": ssl.CERT_REQUIRED},
            "lookup_dn": True,
            "user_search_base": "ou=people,dc=x",
            "user_attribute": "sAMAccountName",
            "lookup_dn_user_dn_attribute": "sAMAccountName",
            "lookup_dn_search_user": "cn=reader,dc=x",
            "lookup_dn_search_password": "ldap-search-secret",
            "allowed_groups": ["cn=students,ou=groups,dc=x", "cn=teachers,ou=groups,dc=x"],
        },
        "LdapAuthenticator": {"admin_group_dns": {"cn=teachers,ou=groups,dc=x"}},
    }


@pytest.mark.parametrize(
    ("url", "plain_text", "port", "strategy"),
    [
        ("ldaps://ad.example.org", False, 636, "on_connect"),
        ("ldaps://ad.example.org:3269", False, 3269, "on_connect"),
        ("ldap://ldap.example.org:10389", False, 10389, "before_bind"),
        ("ldap://ldap.example.org", True, 389, "insecure"),
    ],
)
def test_ldap_tls_follows_the_url_and_always_verifies_the_certificate(
    url: str, plain_text: bool, port: int, strategy: str
) -> None:
    auth = {"type": "ldap", "ldapUrl": url, "ldapPlainText": plain_text, "ldapBindDnTemplate": ["uid={username},dc=x"]}
    c = hub_config({"auth": {**auth, **LDAP_GROUPS, "caRoot": PEM_ROOT}})
    ldap = plain(c)["LDAPAuthenticator"]
    assert (ldap["server_port"], ldap["tls_strategy"]) == (port, strategy)
    assert ldap["tls_kwargs"] == {"ca_certs_file": "/tmp/identity-provider-ca.pem", "validate": ssl.CERT_REQUIRED}
    assert ldap["bind_dn_template"] == ["uid={username},dc=x"]
    assert "lookup_dn" not in ldap


def test_the_whole_shared_password_hub_config() -> None:
    c = hub_config({"publicIp": "127.0.0.1", "auth": {"type": "shared-password"}}, {"sharedPassword": object()})
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**COMMON["JupyterHub"], "authenticator_class": "shared-password"},
        "Authenticator": {"admin_users": set(), "allowed_users": set(), "allow_all": True},
        "SharedPasswordAuthenticator": {"user_password": "pw"},
    }


def test_the_whole_systemuser_spawner_config_without_culler() -> None:
    c = hub_config({"spawner": {"type": "systemuser"}, "dockerApiProxy": False, "culler": {"enabled": False}})
    docker_spawner = {k: v for k, v in COMMON["DockerSpawner"].items() if k not in ("notebook_dir", "volumes")}
    jupyterhub = {k: v for k, v in COMMON["JupyterHub"].items() if k not in ("services", "load_roles")}
    assert plain(c) == {
        **COMMON,
        "JupyterHub": {**jupyterhub, "authenticator_class": NATIVE, "spawner_class": "spawners.PromptSystemUserSpawner"},
        "Authenticator": {"admin_users": set(), "allowed_users": set(), "allow_all": True},
        "NativeAuthenticator": {"open_signup": False},
        "DockerSpawner": docker_spawner,
        "SystemUserSpawner": {
            "host_homedir_format_string": "/home/{username}",
            "image_homedir_format_string": "/home/{username}",
        },
    }


def test_a_rollback_image_is_what_profiles_without_their_own_image_get() -> None:
    c = hub_config({"notebookRollbackImage": "old:1", "spawner": {"profiles": [{"name": "a"}, {"name": "b", "image": "b:1"}]}})
    assert [p["image"] for p in c.DockerSpawner.profiles] == ["old:1", "b:1"]


def test_the_hub_finds_its_settings_where_the_program_uploads_them() -> None:
    from components.names import HUB_SETTINGS_ENV, HUB_SETTINGS_PATH

    run = run_program(ProviderEchoMocks())
    hub = run.get("docker:index/container:Container", "hub").inputs
    assert runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"))["SETTINGS_ENV"] == HUB_SETTINGS_ENV
    assert f"{HUB_SETTINGS_ENV}={HUB_SETTINGS_PATH}" in hub["envs"]
    assert HUB_SETTINGS_PATH in [upload["file"] for upload in hub["uploads"]]


def test_loaded_by_jupyterhub_it_configures_from_the_settings_then_the_operators_files(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of({})
    operator_files = tmp_path / "jupyterhub_config.d"
    operator_files.mkdir()
    (operator_files / "20-later.py").write_text(
        "c.JupyterHub.template_vars = {'order': c.JupyterHub.template_vars['order'] + [2]}\n"
    )
    (operator_files / "10-first.py").write_text("c.JupyterHub.template_vars = {'order': [1]}\nc.Spawner.default_url = '/lab'\n")
    (operator_files / "notes.txt").write_text("not python")
    settings["hub"]["configDir"] = str(operator_files)
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(__import__("json").dumps(settings))
    monkeypatch.setenv("JUPYTERHUB_DOCKER_SETTINGS", str(settings_file))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    c = Config()
    runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"), init_globals={"get_config": lambda: c})
    assert plain(c) == {
        **plain(hub_config({})),
        "JupyterHub": {**plain(hub_config({}))["JupyterHub"], "template_vars": {"order": [1, 2]}},
        "Spawner": {"default_url": "/lab"},
    }


def test_settings_carry_the_stack_configs_own_key_names() -> None:
    auth = {"type": "native", "adminUsers": ["ada"], "openSignup": True}
    settings = settings_of({"auth": auth})
    assert settings["auth"] == {
        "type": "native",
        "adminUsers": ["ada"],
        "openSignup": True,
        "allowedUsers": [],
        "allowedOrganizations": [],
        "allowAll": False,
        "oauthClientId": "",
        "oauthCallbackUrl": "",
        "oauthAuthorizeUrl": "",
        "oauthTokenUrl": "",
        "oauthUserdataUrl": "",
        "oauthUsernameClaim": "preferred_username",
        "allowedGroups": [],
        "adminGroups": [],
        "oidcIssuer": "",
        "oidcScopes": ["openid", "profile", "email"],
        "groupsClaim": "groups",
        "caRoot": "",
        "ldapUrl": "",
        "ldapPlainText": False,
        "ldapBindDnTemplate": [],
        "ldapSearchBase": "",
        "ldapUserAttribute": "uid",
        "ldapSearchUser": "",
        "oidcEndpoints": {},
    }
    assert settings["hub"] == {
        "connectIp": "jupyterhub-hub",
        "port": 8081,
        "dataDir": "/srv/jupyterhub",
        "configDir": "/etc/jupyterhub/jupyterhub_config.d",
        "proxyApiUrl": "http://jupyterhub-proxy:8001",
        "routeCheckIntervalSeconds": 5,
        "publicUrl": "",
    }


def test_add_ons_add_services_and_roles_by_name_and_never_overwrite() -> None:
    from components.hub_addons import HubAddOn

    metrics = HubAddOn(
        services={"metrics": {"name": "metrics"}}, roles={"metrics": {"name": "metrics"}}, secret_envs={"METRICS_TOKEN": "t"}
    )
    config = parse_config({}, {})
    together = merged([*hub_addons(config), metrics])
    assert list(together.services) == ["idle-culler", "metrics"] and list(together.roles) == ["idle-culler", "metrics"]
    assert together.secret_envs == {"METRICS_TOKEN": "t"}
    c = Config()
    names = DeploymentNames(config.name)
    configure(c, hub_settings(config, names, user_server_images(config, "notebook:abc"), together, {}), SECRETS)
    assert [service["name"] for service in c.JupyterHub.services] == ["idle-culler", "metrics"]
    assert [role["name"] for role in c.JupyterHub.load_roles] == ["idle-culler", "metrics"]
    for clash in (
        HubAddOn(services={"idle-culler": {}}),
        HubAddOn(roles={"idle-culler": {}}),
        HubAddOn(secret_envs={"METRICS_TOKEN": "u"}),
    ):
        with pytest.raises(ValueError, match="two hub add-ons claim"):
            merged([*hub_addons(config), metrics, clash])


def test_without_add_ons_the_hub_has_no_services_or_roles() -> None:
    assert merged([]) == merged(hub_addons(parse_config({"culler": {"enabled": False}}, {})))
    settings = settings_of({"culler": {"enabled": False}})
    assert (settings["services"], settings["roles"]) == ({}, {})


def test_each_backend_says_whether_the_filter_can_pin_its_servers() -> None:
    from components.user_servers import BACKENDS

    assert set(BACKENDS) == {"docker", "systemuser"}
    assert {name: backend.network_driver for name, backend in BACKENDS.items()} == {"docker": "bridge", "systemuser": "bridge"}
    assert BACKENDS["docker"].docker_api_policy is not None and BACKENDS["systemuser"].docker_api_policy is None
    settings = settings_of({"spawner": {"type": "systemuser"}, "dockerApiProxy": False})["spawner"]
    assert settings["class"] == "spawners.PromptSystemUserSpawner"
    assert set(settings["traitlets"]) == {"DockerSpawner", "SystemUserSpawner", "JupyterHub"}
    assert settings["traitlets"]["JupyterHub"] == {"active_server_limit": 200}


def test_the_user_server_images_are_the_built_one_or_the_rollback_plus_each_profile_image_once() -> None:
    profiles = [{"name": "r", "image": "r:1"}, {"name": "r-big", "image": "r:1"}, {"name": "same", "image": "built:1"}]
    config = parse_config({"spawner": {"profiles": [*profiles, {"name": "plain"}]}}, {})
    images = user_server_images(config, "built:1")
    assert (images.default, dict(images.choices), images.all) == (
        "built:1",
        {"default": "built:1", "image-r": "r:1", "image-same": "built:1"},
        ["built:1", "r:1"],
    )
    rolled_back = user_server_images(parse_config({"notebookRollbackImage": "old:1"}, {}), "built:1")
    assert (rolled_back.default, dict(rolled_back.choices)) == ("old:1", {"default": "old:1"})


def test_an_add_ons_secrets_reach_the_hub_with_the_proxy_token_and_the_authenticators() -> None:
    from components.hub_addons import HubAddOn
    from components.hub_settings import hub_secret_envs

    config = parse_config({"publicIp": "127.0.0.1", "auth": {"type": "shared-password"}}, {"sharedPassword": "pw"})  # type: ignore[dict-item]
    addons = merged([HubAddOn(secret_envs={"METRICS_TOKEN": "m"})])
    assert hub_secret_envs(config, "proxy", addons) == {
        "CONFIGPROXY_AUTH_TOKEN": "proxy",
        "METRICS_TOKEN": "m",
        "SHARED_PASSWORD": "pw",
    }


def load_compat_shim(monkeypatch: pytest.MonkeyPatch, base_handler: type) -> types.ModuleType:
    """hub_config/nativeauthenticator_compat.py imported beside stand-ins for the hub image's packages."""
    for name, attributes in {
        "jupyterhub": {},
        "jupyterhub.handlers": {},
        "jupyterhub.handlers.base": {"BaseHandler": base_handler},
        "nativeauthenticator": {"NativeAuthenticator": type("NativeAuthenticator", (), {})},
    }.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("compat_under_test", REPO_ROOT / "hub_config" / "nativeauthenticator_compat.py")
    assert spec is not None and spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    return shim


def test_on_jupyterhub_6_the_shim_gives_handlers_a_statsd_that_times_logins_doing_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jupyterhub_6_handler = type("BaseHandler", (), {})
    shim = load_compat_shim(monkeypatch, jupyterhub_6_handler)
    statsd = jupyterhub_6_handler.statsd  # type: ignore[attr-defined]
    assert isinstance(statsd, shim.NoStatsd)
    timer = statsd.timer("login.authenticate").start()  # what NativeAuthenticator 1.3.0's LoginHandler.post calls
    assert timer.stop(send=False) is None
    assert shim.NativeAuthenticator.__mro__[1] is sys.modules["nativeauthenticator"].NativeAuthenticator
    assert shim.NativeAuthenticator.__name__ == "NativeAuthenticator"  # c.NativeAuthenticator settings apply


def test_where_jupyterhub_still_has_statsd_the_shim_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    client = object()
    jupyterhub_5_handler = type("BaseHandler", (), {"statsd": client})
    shim = load_compat_shim(monkeypatch, jupyterhub_5_handler)
    assert jupyterhub_5_handler.statsd is client  # type: ignore[attr-defined]
    assert shim.install(jupyterhub_5_handler) is False


def test_with_oidc_the_hub_makes_its_auth_state_key_once_readable_by_it_alone(tmp_path: Path) -> None:
    keep_identity_files = runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"))["keep_identity_files"]
    settings = {"auth": {"type": "oidc", "caRoot": ""}, "hub": {"dataDir": str(tmp_path)}}
    first, again = Config(), Config()
    keep_identity_files(first, settings)
    key_file = tmp_path / "jupyterhub_crypt_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    keys = first.CryptKeeper["keys"]  # item access: a Config's `.keys` is the dict method
    assert len(keys) == 1 and len(keys[0]) == 32
    keep_identity_files(again, settings)  # the next start: the same key, or users' tokens could not be read
    assert again.CryptKeeper["keys"] == keys
    native = Config()
    keep_identity_files(native, {"auth": {"type": "native", "caRoot": ""}, "hub": {"dataDir": str(tmp_path / "none")}})
    assert "CryptKeeper" not in native
