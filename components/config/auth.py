"""`auth.*`: who may log in, and how."""

from __future__ import annotations

from dataclasses import dataclass

from components.config.registry import setting
from components.config.values import each, user_name


@dataclass(frozen=True)
class Authenticator:
    """What each auth.type needs from the stack config, and the secret it gives the hub."""

    required: tuple[str, ...] = ()  # fields of AuthConfig that must be set
    secret: str = ""  # the field of StackConfig holding the secret, passed to the hub as secret_env
    secret_env: str = ""
    needs_allow_rule: bool = False  # OAuth lets nobody in without one (JupyterHub >= 5)
    loopback_only: bool = False


OAUTH = ("oauth_client_id", "oauth_callback_url")
AUTHENTICATORS = {
    "native": Authenticator(),
    "github": Authenticator(OAUTH, "oauth_client_secret", "OAUTH_CLIENT_SECRET", needs_allow_rule=True),
    "generic-oauth": Authenticator(
        (*OAUTH, "oauth_authorize_url", "oauth_token_url", "oauth_userdata_url"),
        "oauth_client_secret",
        "OAUTH_CLIENT_SECRET",
        needs_allow_rule=True,
    ),
    "shared-password": Authenticator(secret="shared_password", secret_env="SHARED_PASSWORD", loopback_only=True),
}


@dataclass(frozen=True)
class AuthConfig:
    type: str = setting(
        "native",
        "`native`, `github`, `generic-oauth`, or `shared-password` (dev only, loopback only)",
        choices=tuple(AUTHENTICATORS),
    )
    admin_users: tuple[str, ...] = setting(
        (), "JupyterHub admins (with `native`, these may sign up without approval)", check=each(user_name)
    )
    open_signup: bool = setting(False, "`native`: new sign-ups may log in without an admin's approval")
    allowed_users: tuple[str, ...] = setting(
        (), "OAuth allow rule: these users (one allow rule is required for OAuth)", check=each(user_name)
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
