"""`auth.*`: who may log in, and how."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.registry import set_command, setting
from components.config.values import each, pattern, pem_certificates, user_name


@dataclass(frozen=True)
class Authenticator:
    """What each auth.type needs from the stack config, and the secret it gives the hub."""

    required: tuple[str, ...] = ()  # fields of AuthConfig that must be set
    secret: str = ""  # the field of StackConfig holding the secret, passed to the hub as secret_env
    secret_env: str = ""
    needs_allow_rule: bool = False  # OAuth and LDAP let nobody in without one (JupyterHub >= 5)
    loopback_only: bool = False
    oauth: bool = False  # logs in through the provider's pages and comes back to oauthCallbackUrl
    secret_required: bool = True


OAUTH = ("oauth_client_id",)
_ISSUER = re.compile(r"https://[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%-]+)*/?")
_LDAP_URL = re.compile(r"ldaps?://[a-z0-9.-]+(?::[0-9]{1,5})?")
AUTHENTICATORS = {
    "native": Authenticator(),
    "github": Authenticator(OAUTH, "oauth_client_secret", "OAUTH_CLIENT_SECRET", needs_allow_rule=True, oauth=True),
    "generic-oauth": Authenticator(
        (*OAUTH, "oauth_authorize_url", "oauth_token_url", "oauth_userdata_url"),
        "oauth_client_secret",
        "OAUTH_CLIENT_SECRET",
        needs_allow_rule=True,
        oauth=True,
    ),
    "oidc": Authenticator(("oidc_issuer", "oauth_client_id"), "oauth_client_secret", "OAUTH_CLIENT_SECRET", True, oauth=True),
    # The search account's password: only for a search bind with an account (checks.py).
    "ldap": Authenticator(("ldap_url",), "ldap_search_password", "LDAP_SEARCH_PASSWORD", True, secret_required=False),
    "shared-password": Authenticator(secret="shared_password", secret_env="SHARED_PASSWORD", loopback_only=True),
}


@dataclass(frozen=True)
class AuthConfig:
    type: str = setting(
        "native",
        "`native`, `oidc` (OpenID Connect: Keycloak, Entra ID, Google, GitLab…), `ldap` (LDAP or Active Directory), "
        "`github`, `generic-oauth`, or `shared-password` (dev only, loopback only); see "
        "[Log in with your institution's accounts](../how-to/institution-login.md)",
        choices=tuple(AUTHENTICATORS),
    )
    admin_users: tuple[str, ...] = setting(
        (), "JupyterHub admins (with `native`, these may sign up without approval)", check=each(user_name)
    )
    open_signup: bool = setting(False, "`native`: new sign-ups may log in without an admin's approval")
    allowed_users: tuple[str, ...] = setting(
        (), "allow rule: these users (OAuth, OIDC and LDAP need one allow rule)", check=each(user_name)
    )
    allowed_groups: tuple[str, ...] = setting(
        (), "allow rule: members of these groups (`oidc`: names in `auth.groupsClaim`; `ldap`: group DNs)"
    )
    admin_groups: tuple[str, ...] = setting(
        (), "members of these groups are JupyterHub admins; others lose admin at their next login (`oidc`, `ldap`)"
    )
    allowed_organizations: tuple[str, ...] = setting((), "`github` allow rule: members of these organizations")
    allow_all: bool = setting(False, "allow rule: everyone the identity provider lets log in")
    oidc_issuer: str = setting(
        "",
        "`oidc`: the provider's issuer URL (https); its endpoints are read from `<issuer>/.well-known/openid-configuration` "
        "at preview",
        check=pattern(_ISSUER, "not an https:// issuer URL", set_command("auth.oidcIssuer", "https://login.example.org/realms/x"),
                      optional=True),
    )  # fmt: skip
    oauth_client_id: str = setting("", "required for `oidc`, `github` and `generic-oauth`")
    oauth_callback_url: str = setting(
        "",
        "`oidc`, `github`, `generic-oauth`: the URL to register at the provider; default `<public URL>hub/oauth_callback` "
        "(from `publicHost`, `tls.mode` and `publicPort`)",
    )
    oauth_authorize_url: str = setting("", "`generic-oauth`: the provider's authorize endpoint")
    oauth_token_url: str = setting("", "`generic-oauth`: the provider's token endpoint")
    oauth_userdata_url: str = setting("", "`generic-oauth`: the provider's user-info endpoint")
    oauth_username_claim: str = setting(
        "preferred_username", "`oidc`, `generic-oauth`: the user-info claim that is the JupyterHub user name"
    )
    oidc_scopes: tuple[str, ...] = setting(
        ("openid", "profile", "email"), "`oidc`: the scopes asked for (add the one that carries the groups claim, if any)"
    )
    groups_claim: str = setting(
        "groups", "`oidc`: the user-info claim listing the user's groups: JupyterHub's groups follow it at every login"
    )
    ca_root: str = setting(
        "", "`oidc`, `ldap`: PEM root certificate(s) of a private CA that signed the provider's certificate",
        check=pem_certificates,
    )  # fmt: skip
    ldap_url: str = setting(
        "",
        "`ldap`: `ldaps://ad.example.org` (TLS from the start) or `ldap://ldap.example.org` (STARTTLS); port 636 or 389 "
        "unless given",
        check=pattern(_LDAP_URL, "not an ldap:// or ldaps:// URL", set_command("auth.ldapUrl", "ldaps://ldap.example.org"),
                      optional=True),
    )  # fmt: skip
    ldap_plain_text: bool = setting(
        False, "`ldap` with `ldap://`: no STARTTLS, passwords cross the network unencrypted (a network you trust only)"
    )
    ldap_bind_dn_template: tuple[str, ...] = setting(
        (), "`ldap` direct bind: the user's DN with `{username}`, e.g. `uid={username},ou=people,dc=example,dc=org`"
    )
    ldap_search_base: str = setting("", "`ldap` search bind: where users are looked up, e.g. `ou=people,dc=example,dc=org`")
    ldap_user_attribute: str = setting("uid", "`ldap` search bind: the attribute that is the login name (AD: `sAMAccountName`)")
    ldap_search_user: str = setting("", "`ldap` search bind: the DN that searches (its password: `ldapSearchPassword`)")

    @property
    def authenticator(self) -> Authenticator:
        return AUTHENTICATORS[self.type]


# Set to anything but their default with another auth.type, these are refused (a forgotten key misleads).
TYPE_SPECIFIC_KEYS = {
    "oidc_issuer": ("oidc",),
    "groups_claim": ("oidc",),
    "oidc_scopes": ("oidc",),
    "allowed_groups": ("oidc", "ldap"),
    "admin_groups": ("oidc", "ldap"),
    "ca_root": ("oidc", "ldap"),
    "ldap_url": ("ldap",),
    "ldap_plain_text": ("ldap",),
    "ldap_bind_dn_template": ("ldap",),
    "ldap_search_base": ("ldap",),
    "ldap_user_attribute": ("ldap",),
    "ldap_search_user": ("ldap",),
}
