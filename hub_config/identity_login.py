"""Institution logins: OpenID Connect (`auth.type oidc`) and LDAP (`auth.type ldap`).

Each is the upstream authenticator with what it lacks here. For both, a refusal caused by the
deployment's own credentials (OIDC `invalid_client`: a wrong `oauthClientSecret` or client id;
LDAP: the search account's bind) otherwise shows users "HTTP 401" or "invalid password" and the
hub's log a traceback or nothing; here the page and the log name the stack settings to fix.
"""

from __future__ import annotations

from typing import Any

import ldap3.utils.dn
from ldapauthenticator import LDAPAuthenticator
from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Set, Unicode

CLIENT_REFUSED = (
    "The identity provider refused this hub's client credentials ({error}). The operator should check auth.oauthClientId "
    "and the oauthClientSecret secret of the stack, then pulumi up."
)


class OidcAuthenticator(GenericOAuthenticator):
    async def get_token_info(self, handler: Any, params: dict[str, str]) -> Any:
        try:
            return await super().get_token_info(handler, params)
        except HTTPClientError as error:
            body = error.response.body.decode(errors="replace") if error.response is not None and error.response.body else ""
            if error.code in (400, 401) and "invalid_client" in body:
                message = CLIENT_REFUSED.format(error="invalid_client")
                self.log.error("%s Token endpoint said: %s", message, body[:300])
                raise web.HTTPError(403, message) from error
            raise


SEARCH_BIND_REFUSED = (
    "The LDAP server refused the search account's bind ({user}). The operator should check auth.ldapSearchUser and the "
    "ldapSearchPassword secret of the stack, then pulumi up."
)


class LdapAuthenticator(LDAPAuthenticator):
    """LDAPAuthenticator with admin groups, JupyterHub groups from the directory, and the operator's errors named.

    The allowed groups it is given are auth.allowedGroups and auth.adminGroups; the ones a user is in
    become their JupyterHub groups (each named by its DN's first value: cn=students,ou=groups,… is
    `students`), so groups follow the directory at every login.
    """

    admin_group_dns = Set(Unicode(), config=True, help="Members of these groups (DNs) are JupyterHub admins.")

    def get_connection(self, userdn: str, password: str) -> Any:
        connection = super().get_connection(userdn, password)
        if connection is None and self.lookup_dn and userdn == self.lookup_dn_search_user:
            message = SEARCH_BIND_REFUSED.format(user=userdn)
            self.log.error(message)
            raise web.HTTPError(500, message)
        return connection

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        model = await super().authenticate(handler, data)
        if model is None:
            return None
        group_dns = set(model["auth_state"]["ldap_groups"])
        model["groups"] = sorted(group_name(dn) for dn in group_dns)
        if self.admin_group_dns:
            model["admin"] = bool(group_dns & self.admin_group_dns) or model["name"] in self.admin_users
        return model


def group_name(dn: str) -> str:
    """`students` of `cn=students,ou=groups,dc=example,dc=org`: the first RDN's value."""
    return str(ldap3.utils.dn.parse_dn(dn)[0][1])
