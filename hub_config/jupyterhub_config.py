# JupyterHub configuration for the hub container.
#
# Settings come from one place: the settings file the Pulumi program writes from
# stack config (its path is in $JUPYTERHUB_DOCKER_SETTINGS), with the stack config's
# own key names. Secrets come from environment variables only, so that an edit here
# or in the settings shows as a readable diff in `pulumi preview` instead of a
# masked secret. Editing this file replaces the hub container (its uploads change);
# the proxy and running notebooks are untouched.
#
# Your own additions go in hub_config/jupyterhub_config.d/*.py: they are loaded after
# this file, in name order, with the same `c`, and never conflict with updates here.
import importlib.util
import json
import os
import secrets
import ssl
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SETTINGS_ENV = "JUPYTERHUB_DOCKER_SETTINGS"
SERVICE_TOKEN_ENV_KEY = "apiTokenEnv"  # components/hub_addons.py's
SHIMMED_AUTHENTICATORS = {
    "native": "nativeauthenticator_compat.NativeAuthenticator",
    "oidc": "identity_login.OidcAuthenticator",
    "ldap": "identity_login.LdapAuthenticator",
}
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
IDENTITY_CA_FILE = "/tmp/identity-provider-ca.pem"  # auth.caRoot, written at start-up
CRYPT_KEY_FILE = "jupyterhub_crypt_key"  # in the hub's data folder, beside the cookie secret


def configure_authenticator(c: Any, auth: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    kind = auth["type"]
    # Each auth.type is an authenticator's entry-point name, but for NativeAuthenticator,
    # which needs the hub image's JupyterHub 6 shim (its docstring says why).
    c.JupyterHub.authenticator_class = SHIMMED_AUTHENTICATORS.get(kind, kind)
    c.Authenticator.admin_users = set(auth["adminUsers"])
    c.Authenticator.allowed_users = set(auth["allowedUsers"])
    c.Authenticator.allow_all = auth["allowAll"]
    if kind == "native":
        # NativeAuthenticator only lets in users it has approved (admins, or
        # everyone with open sign-up), so its approval is the allow rule.
        c.Authenticator.allow_all = True
        c.NativeAuthenticator.open_signup = auth["openSignup"]
    elif kind in ("github", "generic-oauth"):
        c.OAuthenticator.client_id = auth["oauthClientId"]
        c.OAuthenticator.client_secret = environ["OAUTH_CLIENT_SECRET"]
        c.OAuthenticator.oauth_callback_url = auth["oauthCallbackUrl"]
        if kind == "github":
            c.GitHubOAuthenticator.allowed_organizations = set(auth["allowedOrganizations"])
        else:
            c.GenericOAuthenticator.authorize_url = auth["oauthAuthorizeUrl"]
            c.GenericOAuthenticator.token_url = auth["oauthTokenUrl"]
            c.GenericOAuthenticator.userdata_url = auth["oauthUserdataUrl"]
            c.GenericOAuthenticator.username_claim = auth["oauthUsernameClaim"]
    elif kind == "oidc":
        configure_oidc(c, auth, environ)
    elif kind == "ldap":
        configure_ldap(c, auth, environ)
    elif kind == "shared-password":
        c.SharedPasswordAuthenticator.user_password = environ["SHARED_PASSWORD"]
        c.Authenticator.allow_all = True


def configure_oidc(c: Any, auth: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """OpenID Connect: the endpoints the preview discovered; groups, admins and logout from the provider."""
    endpoints = auth["oidcEndpoints"]
    c.OAuthenticator.client_id = auth["oauthClientId"]
    c.OAuthenticator.client_secret = environ["OAUTH_CLIENT_SECRET"]
    c.OAuthenticator.oauth_callback_url = auth["oauthCallbackUrl"]
    c.OAuthenticator.login_service = "your institution's account"
    c.GenericOAuthenticator.authorize_url = endpoints["authorization_endpoint"]
    c.GenericOAuthenticator.token_url = endpoints["token_endpoint"]
    c.GenericOAuthenticator.userdata_url = endpoints["userinfo_endpoint"]
    c.GenericOAuthenticator.username_claim = auth["oauthUsernameClaim"]
    c.GenericOAuthenticator.scope = list(auth["oidcScopes"])
    c.GenericOAuthenticator.enable_pkce = True
    # JupyterHub's groups are the provider's, synced at every login and auth refresh.
    c.GenericOAuthenticator.manage_groups = True
    c.GenericOAuthenticator.auth_state_groups_key = f"oauth_user.{auth['groupsClaim']}"
    c.GenericOAuthenticator.allowed_groups = set(auth["allowedGroups"])
    c.GenericOAuthenticator.admin_groups = set(auth["adminGroups"])
    # Tokens are kept (encrypted) so a server's start refreshes them, and the groups, first.
    c.Authenticator.enable_auth_state = True
    c.Authenticator.refresh_pre_spawn = True
    if endpoints["end_session_endpoint"]:
        query = urllib.parse.urlencode({"client_id": auth["oauthClientId"]})
        c.OAuthenticator.logout_redirect_url = f"{endpoints['end_session_endpoint']}?{query}"
    if auth["caRoot"]:
        c.OAuthenticator.http_request_kwargs = {"ca_certs": IDENTITY_CA_FILE}


def configure_ldap(c: Any, auth: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """LDAP or Active Directory: TLS always verified (ldap3 verifies nothing unless told), groups and admins."""
    url = urllib.parse.urlsplit(auth["ldapUrl"])
    ldaps = url.scheme == "ldaps"
    c.LDAPAuthenticator.server_address = url.hostname
    c.LDAPAuthenticator.server_port = url.port or (636 if ldaps else 389)
    c.LDAPAuthenticator.tls_strategy = "on_connect" if ldaps else "insecure" if auth["ldapPlainText"] else "before_bind"
    ca_file = IDENTITY_CA_FILE if auth["caRoot"] else SYSTEM_CA_FILE
    c.LDAPAuthenticator.tls_kwargs = {"ca_certs_file": ca_file, "validate": ssl.CERT_REQUIRED}
    if auth["ldapBindDnTemplate"]:
        c.LDAPAuthenticator.bind_dn_template = list(auth["ldapBindDnTemplate"])
    else:
        c.LDAPAuthenticator.lookup_dn = True
        c.LDAPAuthenticator.user_search_base = auth["ldapSearchBase"]
        c.LDAPAuthenticator.user_attribute = auth["ldapUserAttribute"]
        c.LDAPAuthenticator.lookup_dn_user_dn_attribute = auth["ldapUserAttribute"]
        if auth["ldapSearchUser"]:
            c.LDAPAuthenticator.lookup_dn_search_user = auth["ldapSearchUser"]
            c.LDAPAuthenticator.lookup_dn_search_password = environ["LDAP_SEARCH_PASSWORD"]
    c.LDAPAuthenticator.allowed_groups = sorted({*auth["allowedGroups"], *auth["adminGroups"]})
    c.LdapAuthenticator.admin_group_dns = set(auth["adminGroups"])
    c.Authenticator.manage_groups = True


def configure(c: Any, settings: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Map the deployment's settings onto JupyterHub's traitlets."""
    hub = settings["hub"]
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = hub["port"]
    c.JupyterHub.hub_connect_ip = hub["connectIp"]
    c.JupyterHub.db_url = f"sqlite:///{hub['dataDir']}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{hub['dataDir']}/jupyterhub_cookie_secret"
    if hub["publicUrl"]:
        c.JupyterHub.public_url = hub["publicUrl"]
    # The proxy runs in its own container and keeps running notebooks reachable
    # while the hub restarts; the hub must not stop users' servers when it stops.
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = hub["proxyApiUrl"]
    c.ConfigurableHTTPProxy.auth_token = environ["CONFIGPROXY_AUTH_TOKEN"]
    c.JupyterHub.cleanup_servers = False
    # A restarted proxy has no routes; re-check them often so they come back fast.
    c.JupyterHub.last_activity_interval = hub["routeCheckIntervalSeconds"]
    configure_authenticator(c, settings["auth"], environ)
    # The user-server backend's spawner, with its traits (the program chose them).
    c.JupyterHub.spawner_class = settings["spawner"]["class"]
    for section, traits in settings["spawner"]["traitlets"].items():
        for trait, value in traits.items():
            setattr(getattr(c, section), trait, value)
    # Add-ons (the idle culler, ...): hub services and their roles, by name.
    if settings["services"]:
        c.JupyterHub.services = [with_api_token(service, environ) for service in settings["services"].values()]
    if settings["roles"]:
        c.JupyterHub.load_roles = list(settings["roles"].values())


def with_api_token(service: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A service entry; one whose token is a secret names its variable under SERVICE_TOKEN_ENV_KEY."""
    entry = {key: value for key, value in service.items() if key != SERVICE_TOKEN_ENV_KEY}
    if SERVICE_TOKEN_ENV_KEY in service:
        entry["api_token"] = environ[service[SERVICE_TOKEN_ENV_KEY]]
    return entry


def hub_process_hooks(c: Any, settings: Mapping[str, Any]) -> None:
    """What needs the hub image's packages and modules (hub_config/Dockerfile puts the project's
    on its path); the preflight's load check runs the config files without them."""
    from jupyterhub import version_info
    from prometheus_client import REGISTRY

    look_names_up_afresh(c, version_info)
    register_certificate_metrics(settings, REGISTRY)
    keep_identity_files(c, settings)


def keep_identity_files(c: Any, settings: Mapping[str, Any]) -> None:
    """The private CA the identity provider's certificate needs, and auth state's encryption key
    (made once, kept on the data volume and in its backups: without it users log in again)."""
    auth = settings["auth"]
    if auth["caRoot"]:
        Path(IDENTITY_CA_FILE).write_text(auth["caRoot"])
    if auth["type"] == "oidc":
        key_file = Path(settings["hub"]["dataDir"]) / CRYPT_KEY_FILE
        if not key_file.exists():
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as written:
                written.write(secrets.token_hex(32))
        c.CryptKeeper.keys = [bytes.fromhex(key_file.read_text().strip())]


def look_names_up_afresh(c: Any, jupyterhub_version: tuple[int, ...]) -> None:
    """JupyterHub 6's own HTTP client resolves without caching (hub_config/fresh_lookups.py)."""
    if jupyterhub_version >= (6,):
        from fresh_lookups import uncached_connector_options

        c.JupyterHubHTTPClient.connector_options = uncached_connector_options()


def register_certificate_metrics(settings: Mapping[str, Any], registry: Any) -> None:
    """With metrics and TLS: each public name's certificate expiry on /hub/metrics."""
    probe = settings["certificateMetrics"]
    if probe:
        from certificate_metrics import CertificateExpiry

        collector = CertificateExpiry(probe["host"], probe["port"], probe["names"])
        collector.refresh_in_background()
        registry.register(collector)


def load_operator_files(c: Any, config_dir: str) -> None:
    """jupyterhub_config.d/*.py, in name order, each with this file's `c`."""
    for path in sorted(Path(config_dir).glob("*.py")):
        exec(compile(path.read_text(), str(path), "exec"), {"c": c, "get_config": lambda: c, "__file__": str(path)})


if "get_config" in globals():  # loaded by JupyterHub, not imported by a test
    with open(os.environ[SETTINGS_ENV]) as settings_file:
        loaded_settings = json.load(settings_file)
    configure(get_config(), loaded_settings, os.environ)  # type: ignore[name-defined]  # noqa: F821
    if importlib.util.find_spec("fresh_lookups") is not None:  # the hub's own process, not the preflight's check
        hub_process_hooks(get_config(), loaded_settings)  # type: ignore[name-defined]  # noqa: F821
    load_operator_files(get_config(), loaded_settings["hub"]["configDir"])  # type: ignore[name-defined]  # noqa: F821
