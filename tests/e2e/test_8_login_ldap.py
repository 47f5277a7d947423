"""LDAP logins on the shared deployment, against a real OpenLDAP (Debian's slapd) on the deployment's
network (alias `ldap`, STARTTLS with a test CA given as auth.caRoot, a search bind): allowed and
refused users, admins and JupyterHub groups from the directory, a group change seen at the next
login, and the operator's mistakes named at preview or at login. Back to native logins after.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import sync_playwright

from components.config import ConfigError
from testkit import ldap_server
from testkit.endpoints import wait_for
from testkit.harness import CONTAINER
from testkit.hub_user import REQUEST_TIMEOUT_S, XSRF_FIELD, HubUser
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, fill_login_form, jupyterlab_loads
from tests.e2e.deployed import NAMES, Deployed

PASSWORDS = {"ldap-ann": "ann-secret-1", "ldap-ben": "ben-secret-1", "ldap-cat": "cat-secret-1"}
GROUPS = {"students": ["ldap-ann"], "teachers": ["ldap-ben"]}  # ldap-cat is in none


@pytest.fixture(scope="module")
def directory(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ldap_server.LdapServer]:
    server = ldap_server.ldap_server_on(deployed.client, NAMES.network, "debian:trixie-slim", tmp_path_factory.mktemp("ldap"))
    try:
        server.start(PASSWORDS, GROUPS)
        yield server
    finally:
        try:
            deployed.apply()  # the stack file's own login (native) again
        finally:
            server.stop()


def ldap_auth(directory: ldap_server.LdapServer, **changes: Any) -> dict[str, str]:
    auth = {
        "type": "ldap",
        "ldapUrl": f"ldap://{directory.host}",
        "ldapSearchBase": directory.user_search_base,
        "ldapSearchUser": directory.reader_dn,
        "allowedGroups": [directory.group_dn("students")],
        "adminGroups": [directory.group_dn("teachers")],
        "caRoot": directory.ca_pem,
        **changes,
    }
    return {"auth": json.dumps(auth)}


def login_form(base_url: str, name: str, password: str) -> requests.Response:
    """A person typing into JupyterHub's login form; the page it answers."""
    session = requests.Session()
    page = session.get(f"{base_url}/hub/login", timeout=REQUEST_TIMEOUT_S)
    xsrf = XSRF_FIELD.search(page.text)
    assert xsrf, page.text[:500]
    fields = {"username": name, "password": password, "_xsrf": xsrf.group(1)}
    return session.post(f"{base_url}/hub/login?next=%2Fhub%2Fhome", data=fields, timeout=REQUEST_TIMEOUT_S)


def logged_in(base_url: str, name: str) -> HubUser:
    user = HubUser(base_url, name, PASSWORDS[name])
    user.log_in()
    return user


def up_with_ldap(deployed: Deployed, directory: ldap_server.LdapServer, password: str, **changes: Any) -> Any:
    applied = deployed.harness.up(ldap_auth(directory, **changes), {"ldapSearchPassword": password})
    wait_for(f"{deployed.base_url}/hub/api/", 60)
    return applied


def test_ldap_members_log_in_with_the_directorys_groups_and_admins(deployed: Deployed, directory: ldap_server.LdapServer) -> None:
    applied = up_with_ldap(deployed, directory, directory.reader_password)
    assert applied.action(CONTAINER, "hub") == "replace"

    ann = logged_in(deployed.base_url, "ldap-ann")
    ann.start_server()
    assert ann.run_code("1+1") == "2"
    ben = logged_in(deployed.base_url, "ldap-ben")
    models = ben.users("ldap-ann", "ldap-ben")
    assert (models["ldap-ann"]["admin"], models["ldap-ann"]["groups"]) == (False, ["students"])
    assert (models["ldap-ben"]["admin"], models["ldap-ben"]["groups"]) == (True, ["teachers"])

    refused = login_form(deployed.base_url, "ldap-cat", PASSWORDS["ldap-cat"])  # in no allowed group
    assert refused.status_code == 403 and "Invalid username or password" in refused.text
    wrong = login_form(deployed.base_url, "ldap-ann", "not-her-password")
    assert wrong.status_code == 403 and "Invalid username or password" in wrong.text

    # The directory changes: ann becomes a teacher, cat a student. Each sees it at the next login.
    directory.set_groups({"students": ["ldap-cat"], "teachers": ["ldap-ben", "ldap-ann"]})
    logged_in(deployed.base_url, "ldap-ann")
    logged_in(deployed.base_url, "ldap-cat")
    models = ben.users("ldap-ann", "ldap-cat")
    assert (models["ldap-ann"]["admin"], models["ldap-ann"]["groups"]) == (True, ["teachers"])
    assert (models["ldap-cat"]["admin"], models["ldap-cat"]["groups"]) == (False, ["students"])
    assert ben.groups("ldap-") == {"students": ["ldap-cat"], "teachers": ["ldap-ann", "ldap-ben"]}


def test_chromium_logs_in_with_a_directory_password_to_jupyterlab(deployed: Deployed, directory: ldap_server.LdapServer) -> None:
    assert Path(CHROMIUM).exists(), "chromium: the test command installs it"
    ann = logged_in(deployed.base_url, "ldap-ann")
    if not ann.model()["servers"]:
        ann.start_server()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            fill_login_form(page, deployed.base_url, ann.name, ann.password)
            with page.expect_navigation(timeout=30_000):
                page.click("input[type=submit], button[type=submit]")
            jupyterlab_loads(page, deployed.base_url, ann.name, "ldap-jupyterlab.png")
        finally:
            browser.close()
    ann.stop_server()


def test_a_wrong_search_password_is_named_at_login(deployed: Deployed, directory: ldap_server.LdapServer) -> None:
    up_with_ldap(deployed, directory, "not-the-readers-password")
    answer = login_form(deployed.base_url, "ldap-ben", PASSWORDS["ldap-ben"])
    assert answer.status_code == 500
    assert "auth.ldapSearchUser" in answer.text and "ldapSearchPassword" in answer.text
    hub_log = deployed.client.containers.get(NAMES.hub_container).logs(tail=100).decode(errors="replace")
    assert "ldapSearchPassword" in hub_log


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ldapUrl": "ldap://no-such-ldap-server"}, "cannot be reached"),
        ({"ldapUrl": "ldaps://ldap", "caRoot": ""}, "its certificate is not trusted"),
    ],
)
def test_an_ldap_server_the_hub_cannot_use_stops_the_preview(
    deployed: Deployed, directory: ldap_server.LdapServer, changes: dict[str, str], reason: str
) -> None:
    hub_before = deployed.client.containers.get(NAMES.hub_container).id
    with pytest.raises(ConfigError) as error:
        up_with_ldap(deployed, directory, directory.reader_password, **changes)
    message = str(error.value)
    assert message.startswith(f"config 'auth.ldapUrl' = '{changes['ldapUrl']}': ")
    assert reason in message and "(asked from the hub's network)" in message
    assert deployed.client.containers.get(NAMES.hub_container).id == hub_before
