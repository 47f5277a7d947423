"""OpenID Connect logins on the shared deployment, against a real provider (the npm package
oidc-provider, a certified implementation) on the deployment's network as `idp`, over HTTPS
from a private test CA given as auth.caRoot: the redirect flow driven by a client and once by
chromium, allowed and refused users, admins and JupyterHub groups from the provider's claim, a
group change seen at the next login, tokens kept for refreshes, logout at the provider, and the
operator's mistakes named at preview or at login. Back to native logins after.

`idp` leads to 127.0.0.1 for this test's own clients (their resolver is patched, chromium gets
a host rule); on the deployment's network it leads to the provider, which the hub asks for
tokens and user info.
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from playwright.sync_api import sync_playwright

from components.config import ConfigError
from testkit import oidc_idp
from testkit.endpoints import wait_for
from testkit.harness import CONTAINER
from testkit.hub_user import REQUEST_TIMEOUT_S, HubUser
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, home_trusting, jupyterlab_loads
from tests.e2e.deployed import ARTIFACTS, NAMES, Deployed

CLIENT_ID = "jupyterhub"
CLIENT_SECRET = f"e2e-client-secret-{uuid.uuid4().hex}"
USERS: dict[str, dict[str, Any]] = {
    "oidc-ann": {"password": "ann-secret-2", "email": "ann@example.org", "groups": ["students"]},
    "oidc-ben": {"password": "ben-secret-2", "email": "ben@example.org", "groups": ["teachers"]},
    "oidc-cat": {"password": "cat-secret-2", "email": "cat@example.org", "groups": ["visitors"]},  # not allowed
}
ACCESS_TOKEN_TTL_S = 10  # short: a server's start after it refreshes the tokens with the refresh token
IDP_CLOCK_TOLERANCE_S = 15  # oidc-provider's default clockTolerance
FORM_ACTION = re.compile(r'<form id="login-form" method="post" action="([^"]+)"')


@pytest.fixture(scope="module")
def idp(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[oidc_idp.OidcIdp]:
    provider = oidc_idp.oidc_idp_on(deployed.client, NAMES.network, "debian:trixie-slim", tmp_path_factory.mktemp("idp"))
    try:
        provider.start(CLIENT_ID, CLIENT_SECRET, [callback_url(deployed)], USERS, access_token_ttl_s=ACCESS_TOKEN_TTL_S)
        yield provider
    finally:
        try:
            deployed.apply()  # the stack file's own login (native) again
        finally:
            provider.stop()


@pytest.fixture(autouse=True)
def idp_resolves_to_loopback_and_is_trusted(monkeypatch: pytest.MonkeyPatch, idp: oidc_idp.OidcIdp) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == idp.alias else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(idp.ca_file))  # the provider's private CA (the hub is plain HTTP)


def callback_url(deployed: Deployed) -> str:
    return f"http://127.0.0.1:{deployed.port}/hub/oauth_callback"


def oidc_config(deployed: Deployed, idp: oidc_idp.OidcIdp, **changes: Any) -> dict[str, str]:
    auth = {
        "type": "oidc",
        "oidcIssuer": idp.issuer,
        "oauthClientId": CLIENT_ID,
        "oauthCallbackUrl": callback_url(deployed),
        "oidcScopes": ["openid", "profile", "email", "groups"],
        "allowedGroups": ["students"],
        "adminGroups": ["teachers"],
        "caRoot": idp.ca_pem,
        **changes,
    }
    return {"auth": json.dumps(auth)}


def up_with_oidc(deployed: Deployed, idp: oidc_idp.OidcIdp, secret: str = CLIENT_SECRET, **changes: Any) -> Any:
    applied = deployed.harness.up(oidc_config(deployed, idp, **changes), {"oauthClientSecret": secret})
    wait_for(f"{deployed.base_url}/hub/api/", 60)
    return applied


class OidcUser(HubUser):
    """A person logging in through the provider's pages, in a browser session of their own."""

    def __init__(self, base_url: str, name: str, idp: oidc_idp.OidcIdp):
        super().__init__(base_url, name, str(USERS[name]["password"]))
        self.idp = idp

    def through_the_provider(self) -> requests.Response:
        """The hub's login button, then the provider's form; the page the flow ends on."""
        form = self.session.get(f"{self.base_url}/hub/oauth_login?next=%2Fhub%2Fhome", timeout=REQUEST_TIMEOUT_S)
        assert form.url.startswith(f"{self.idp.issuer}/interaction/"), f"not at the provider's form: {form.url}"
        action = FORM_ACTION.search(form.text)
        assert action, form.text[:500]
        fields = {"login": self.name, "password": self.password}
        return self.session.post(urljoin(form.url, html.unescape(action.group(1))), data=fields, timeout=REQUEST_TIMEOUT_S)

    def log_in(self) -> None:
        landed = self.through_the_provider()
        assert landed.status_code == 200 and landed.url == f"{self.base_url}/hub/home", (landed.url, landed.text[:500])
        self.token = self._create_token()


def test_oidc_members_log_in_with_the_providers_groups_and_admins(deployed: Deployed, idp: oidc_idp.OidcIdp) -> None:
    applied = up_with_oidc(deployed, idp)
    assert applied.action(CONTAINER, "hub") == "replace"

    ann = OidcUser(deployed.base_url, "oidc-ann", idp)
    ann.log_in()
    ann.start_server()
    assert ann.run_code("1+1") == "2"
    ben = OidcUser(deployed.base_url, "oidc-ben", idp)
    ben.log_in()
    seen = ben.users("oidc-ann", "oidc-ben")
    assert (seen["oidc-ann"]["admin"], seen["oidc-ann"]["groups"]) == (False, ["students"])
    assert (seen["oidc-ben"]["admin"], seen["oidc-ben"]["groups"]) == (True, ["teachers"])
    # Kept (encrypted) for the refresh before a server starts: the provider's refresh token.
    auth_state = seen["oidc-ann"]["auth_state"]
    assert auth_state["refresh_token"] and auth_state["oauth_user"]["groups"] == ["students"]

    refused = OidcUser(deployed.base_url, "oidc-cat", idp).through_the_provider()
    assert refused.status_code == 403 and refused.url.startswith(callback_url(deployed)), (refused.url, refused.text[:300])

    # The provider changes the groups: ann teaches now, cat studies. Each sees it at the next login.
    idp.set_users({**USERS, "oidc-ann": {**USERS["oidc-ann"], "groups": ["teachers"]},
                   "oidc-cat": {**USERS["oidc-cat"], "groups": ["students"]}})  # fmt: skip
    OidcUser(deployed.base_url, "oidc-ann", idp).log_in()
    OidcUser(deployed.base_url, "oidc-cat", idp).log_in()
    seen = ben.users("oidc-ann", "oidc-cat")
    assert (seen["oidc-ann"]["admin"], seen["oidc-ann"]["groups"]) == (True, ["teachers"])
    assert (seen["oidc-cat"]["admin"], seen["oidc-cat"]["groups"]) == (False, ["students"])
    assert ben.groups("oidc-") == {"students": ["oidc-cat"], "teachers": ["oidc-ann", "oidc-ben"]}
    idp.set_users(USERS)

    # Logging out of the hub ends the provider's session too: the next login asks for the password.
    logout = ben.session.get(f"{deployed.base_url}/hub/logout", timeout=REQUEST_TIMEOUT_S)
    assert logout.url.startswith(f"{idp.issuer}/session/end"), logout.url
    confirm = re.search(r'<form[^>]*action="([^"]+)"', logout.text)
    assert confirm, logout.text[:500]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', logout.text))
    ben.session.post(urljoin(logout.url, html.unescape(confirm.group(1))), data={**fields, "logout": "yes"}, timeout=30)
    again = ben.session.get(f"{deployed.base_url}/hub/oauth_login?next=%2Fhub%2Fhome", timeout=REQUEST_TIMEOUT_S)
    assert again.url.startswith(f"{idp.issuer}/interaction/") and FORM_ACTION.search(again.text), again.url


def test_a_server_start_refreshes_the_tokens_and_the_groups(deployed: Deployed, idp: oidc_idp.OidcIdp) -> None:
    ben = OidcUser(deployed.base_url, "oidc-ben", idp)
    ben.log_in()
    refreshes_before = idp.logs().count('grant_type="refresh_token"')
    idp.set_users({**USERS, "oidc-ben": {**USERS["oidc-ben"], "groups": ["teachers", "students"]}})
    time.sleep(ACCESS_TOKEN_TTL_S + IDP_CLOCK_TOLERANCE_S + 2)  # the access token the hub keeps has expired
    try:
        ben.start_server()
        assert sorted(ben.model()["groups"]) == ["students", "teachers"]
        refreshes = idp.logs().count('grant_type="refresh_token"')
        if refreshes != refreshes_before + 1:
            hub_log = deployed.client.containers.get(NAMES.hub_container).logs(tail=80).decode(errors="replace")
            (ARTIFACTS / "oidc-refresh.log").write_text(f"{idp.logs()}\n---- hub ----\n{hub_log}")
        assert refreshes == refreshes_before + 1, "no refresh grant: see test-artifacts/oidc-refresh.log"
        ben.stop_server()
    finally:
        idp.set_users(USERS)


def test_chromium_logs_in_through_the_provider_to_jupyterlab(deployed: Deployed, idp: oidc_idp.OidcIdp, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "chromium: the test command installs it"
    home = home_trusting(tmp_path, idp.ca_file, "idp")
    ann = OidcUser(deployed.base_url, "oidc-ann", idp)
    ann.log_in()
    if not ann.model()["servers"]:
        ann.start_server()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {idp.alias} 127.0.0.1"],
            headless=True, env={"HOME": str(home)},
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{deployed.base_url}/hub/login", timeout=30_000)
            with page.expect_navigation(timeout=30_000):
                page.click("a[href*='oauth_login']")
            assert page.url.startswith(f"{idp.issuer}/interaction/")
            page.screenshot(path=str(ARTIFACTS / "oidc-provider-login.png"))
            page.fill("#login", ann.name)
            page.fill("#password", ann.password)
            with page.expect_navigation(url=re.compile(rf"^{re.escape(deployed.base_url)}/"), timeout=60_000):
                page.click("#submit")  # back at the hub, which sends ann on to her running server
            jupyterlab_loads(page, deployed.base_url, ann.name, "oidc-jupyterlab.png")
        finally:
            browser.close()
    ann.stop_server()


def test_a_wrong_client_secret_is_named_at_login(deployed: Deployed, idp: oidc_idp.OidcIdp) -> None:
    up_with_oidc(deployed, idp, secret="not-the-client-secret")
    refused = OidcUser(deployed.base_url, "oidc-ben", idp).through_the_provider()
    assert refused.status_code == 403
    assert "auth.oauthClientId" in refused.text and "oauthClientSecret" in refused.text
    hub_log = deployed.client.containers.get(NAMES.hub_container).logs(tail=100).decode(errors="replace")
    assert "invalid_client" in hub_log and "oauthClientSecret" in hub_log


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"oidcIssuer": "https://no-such-idp"}, "cannot be reached"),
        ({"caRoot": ""}, "CERTIFICATE_VERIFY_FAILED"),
    ],
)
def test_an_issuer_the_hub_cannot_use_stops_the_preview(
    deployed: Deployed, idp: oidc_idp.OidcIdp, changes: dict[str, str], reason: str
) -> None:
    hub_before = deployed.client.containers.get(NAMES.hub_container).id
    with pytest.raises(ConfigError) as error:
        up_with_oidc(deployed, idp, **changes)
    message = str(error.value)
    assert message.startswith(f"config 'auth.oidcIssuer' = '{changes.get('oidcIssuer', idp.issuer)}': ")
    assert reason in message and "(asked from the hub's network)" in message
    assert deployed.client.containers.get(NAMES.hub_container).id == hub_before
