"""HTTPS on the shared deployment: certificates from a real ACME CA (Pebble, Let's Encrypt's test
CA), renewed with nothing dropped; and a certificate from files. Back to plain HTTP after.

The public name `hub.jupyterhub.test` leads to 127.0.0.1 for this test's own clients (its
resolver is patched, chromium gets a host rule); on the deployment's network it leads to
the terminator, where Pebble validates.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from testkit.certificates import loopback_certificate
from testkit.endpoints import free_loopback_port, wait_until
from testkit.harness import CONTAINER, ApplyError
from testkit.hub_user import HubUser, user_with_a_server, websocket_url
from testkit.pebble import Pebble, pebble_on
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, home_trusting
from tests.e2e.deployed import ARTIFACTS, NAMES, Deployed, measure

HOST = "hub.jupyterhub.test"
REFUSED_HOST = "refused.jupyterhub.test"  # Pebble's policy refuses it
# Caddy renews when a third of a certificate's lifetime is left: 200 s after issuance, long
# enough for each check that asks the CA for nothing (QUIET_*_S), short enough that the renewal
# test waits for one within minutes.
VALIDITY_S = 300
QUIET_UPS_S = 100  # three ups, one of them a hub reload
QUIET_REFUSAL_S = 160  # an up that fails the terminator's 120 s health gate
RENEWAL_CHECK_S = 5
# Where Pebble validates, on the network: HTTP-01 at the terminator's inside HTTP port (the
# redirect's server, tls.httpPort outside); TLS-ALPN-01 at a closed port, so that the first
# issuance proves the HTTP-01 path (Caddy picks a challenge at random and tries the other after
# a failure; the TLS-ALPN-01 path validated in earlier runs of this test).
TERMINATOR_PORTS = (8080, 5001)
PROBE_INTERVAL_S = 0.05


@dataclass
class Https:
    deployed: Deployed
    pebble: Pebble
    http_port: int
    ca_bundle: Path  # the roots the test's clients trust
    roots: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.deployed.port}"

    def trust_current_root(self) -> None:
        self.roots.append(self.pebble.root())
        self.ca_bundle.write_text("".join(self.roots))

    def acme_config(self, **tls: Any) -> dict[str, str]:
        settings = {
            "mode": "acme",
            "acmeEmail": "ops@jupyterhub.test",
            "acmeDirectory": self.pebble.directory_url,
            "acmeCaRoot": self.pebble.listener_ca,
            "httpPort": self.http_port,
            "renewalCheckSeconds": RENEWAL_CHECK_S,
            **tls,
        }
        return {"publicHost": HOST, "tls": json.dumps(settings)}


def served_certificate(port: int, name: str, ca_bundle: Path) -> dict[str, Any]:
    """The certificate the terminator serves for name, verified against the trusted roots."""
    context = ssl.create_default_context(cafile=str(ca_bundle))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
        certificate = tls.getpeercert()
    assert certificate is not None
    return certificate


def renewal_due_at(certificate: dict[str, Any]) -> float:
    not_before = ssl.cert_time_to_seconds(certificate["notBefore"])
    not_after = ssl.cert_time_to_seconds(certificate["notAfter"])
    return not_after - (not_after - not_before) / 3


def certificate_not_renewed_within(https: Https, seconds: float) -> dict[str, Any]:
    """The served certificate, once no renewal is due within seconds (waiting for a due one first):
    a check that the CA was asked for nothing must not straddle a renewal."""
    served = served_certificate(https.deployed.port, HOST, https.ca_bundle)
    if time.time() + seconds >= renewal_due_at(served):

        def renewed() -> dict[str, Any] | None:
            current = served_certificate(https.deployed.port, HOST, https.ca_bundle)
            return current if current["serialNumber"] != served["serialNumber"] else None

        served = wait_until(renewed, VALIDITY_S, 1, "the renewal due before this check")
    assert time.time() + seconds < renewal_due_at(served), f"VALIDITY_S leaves no {seconds}s without a renewal"
    return served


@pytest.fixture(scope="module")
def https(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    client = deployed.client
    workdir = tmp_path_factory.mktemp("pebble")
    pebble = pebble_on(client, NAMES.network, workdir, "debian:trixie-slim")
    for volume in client.volumes.list(filters={"name": NAMES.tls_data_volume}):
        volume.remove(force=True)  # a first issuance, whatever ran before
    state = Https(deployed, pebble, free_loopback_port(), workdir / "trusted-roots.pem")
    try:
        pebble.start(VALIDITY_S, TERMINATOR_PORTS, refused=(REFUSED_HOST,))
        state.trust_current_root()
        yield state
    finally:
        try:
            # Back to plain HTTP for the scenarios that follow, as the site says (tutorials/internet.md): on another
            # port first (the terminator leaves only at the end of that update), then on its own.
            deployed.harness.up({"publicPort": str(free_loopback_port())})
            deployed.apply()
        finally:
            pebble.stop()
            for volume in client.volumes.list(filters={"name": NAMES.tls_data_volume}):
                volume.remove(force=True)


@pytest.fixture
def resolves_to_loopback(monkeypatch: pytest.MonkeyPatch, https: Https) -> None:
    """The test's own HTTP and websocket clients find the public names at 127.0.0.1 and trust Pebble's roots."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in (HOST, REFUSED_HOST) else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(https.ca_bundle))
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", str(https.ca_bundle))


def test_the_first_up_gets_a_certificate_and_users_work_over_https(https: Https, resolves_to_loopback: None) -> None:
    deployed = https.deployed
    started = time.monotonic()
    applied = deployed.harness.up(https.acme_config())
    measure(f"tls acme: first up with a new terminator, certificate issued by Pebble: {time.monotonic() - started:.1f}s")
    assert applied.action(CONTAINER, "tls") == "create" and applied.action(CONTAINER, "proxy") == "replace"
    assert https.pebble.issued() == 1
    terminator_log = deployed.client.containers.get(NAMES.tls_container).logs().decode(errors="replace")
    assert '"challenge":"http-01"' in terminator_log  # the key authorization served on the redirect's port
    certificate = served_certificate(deployed.port, HOST, https.ca_bundle)  # verified against Pebble's root
    assert ("DNS", HOST) in certificate["subjectAltName"]

    redirect = requests.get(
        f"http://127.0.0.1:{https.http_port}/hub/login?next=%2Fx", headers={"Host": HOST}, allow_redirects=False, timeout=10
    )
    assert (redirect.status_code, redirect.headers["Location"]) == (308, f"https://{HOST}:{deployed.port}/hub/login?next=%2Fx")
    plain_on_https = requests.get(f"http://127.0.0.1:{deployed.port}/hub/login", timeout=5)
    assert plain_on_https.status_code == 400 and "JupyterHub" not in plain_on_https.text  # the terminator's refusal

    forged = "203.0.113.9"  # a client's claim to be someone else; the hub must log its real address
    login_page = requests.get(f"{https.base_url}/hub/login", headers={"X-Real-Ip": forged, "X-Forwarded-For": forged}, timeout=10)
    assert login_page.status_code == 200
    assert login_page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert login_page.headers["X-Content-Type-Options"] == "nosniff"
    hub_log = deployed.client.containers.get(NAMES.hub_container).logs().decode(errors="replace")
    assert "GET /hub/login" in hub_log and forged not in hub_log
    dora = HubUser(https.base_url, "dora", "dora-e2e-password")
    dora.sign_up()
    dora.log_in()
    session_cookies = [cookie for cookie in dora.session.cookies if cookie.name.startswith("jupyterhub-")]
    assert session_cookies and all(cookie.secure for cookie in session_cookies), session_cookies
    spawn_s = dora.start_server()
    measure(f"tls acme: a spawn over HTTPS answered in {spawn_s:.2f}s")
    assert dora.run_code("1+1") == "2"


def test_an_unchanged_up_a_replaced_terminator_and_a_hub_reload_ask_the_ca_for_nothing(
    https: Https, resolves_to_loopback: None
) -> None:
    deployed = https.deployed
    serial = certificate_not_renewed_within(https, QUIET_UPS_S)["serialNumber"]
    issued = https.pebble.issued()
    unchanged = deployed.harness.up(https.acme_config())
    assert unchanged.action(CONTAINER, "tls") == "same"
    replaced = deployed.harness.up(https.acme_config(hstsMaxAgeSeconds=600))
    assert replaced.action(CONTAINER, "tls") == "replace"  # its configuration changed; its volume stayed
    reloaded = deployed.harness.up({**https.acme_config(hstsMaxAgeSeconds=600), "culler": json.dumps({"timeoutSeconds": 1800})})
    assert reloaded.action(CONTAINER, "hub") == "replace" and reloaded.action(CONTAINER, "tls") == "same"
    wait_until(lambda: requests.get(f"{https.base_url}/hub/api/", timeout=5).ok, 60, 0.5, "the hub over HTTPS")
    assert served_certificate(deployed.port, HOST, https.ca_bundle)["serialNumber"] == serial
    assert https.pebble.issued() == issued
    # With metrics.enabled (the shared deployment's), the hub reports the certificate's time left.
    token = deployed.first_apply.run.exports["metricsToken"]
    metrics = requests.get(f"{https.base_url}/hub/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    expiry = re.search(rf'jupyterhub_tls_certificate_expiry_seconds{{name="{re.escape(HOST)}"}} ([0-9.e+]+)', metrics)
    assert expiry and 0 < float(expiry.group(1)) <= VALIDITY_S, metrics[-2000:]
    assert requests.get(f"{https.base_url}/hub/login", timeout=10).headers["Strict-Transport-Security"] == "max-age=600"


@dataclass
class ProbeLoop:
    """A request every 50 ms to a running server, through the terminator, until stopped."""

    url: str
    token: str
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                response = session.get(self.url, headers={"Authorization": f"token {self.token}"}, timeout=5)
                if response.status_code == 200:
                    self.answered += 1
                else:
                    self.failures.append(f"HTTP {response.status_code}")
            except requests.RequestException as error:
                self.failures.append(type(error).__name__)
            time.sleep(PROBE_INTERVAL_S)


def execute(connection: websocket.WebSocket, code: str, timeout_s: float = 30) -> str:
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "dora", "session": msg_id}
    request = {"header": header, "parent_header": {}, "metadata": {}, "content": {"code": code, "silent": False}}
    connection.send(json.dumps({**request, "channel": "shell"}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = connection.recv()
        assert text, "the kernel websocket was closed"
        message = json.loads(text)
        if message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "execute_result":
            return str(message["content"]["data"]["text/plain"])
    raise AssertionError(f"no result for {code!r} within {timeout_s}s")


def test_a_renewal_drops_no_request_and_no_open_websocket(https: Https, resolves_to_loopback: None) -> None:
    deployed = https.deployed
    dora = HubUser(https.base_url, "dora", "dora-e2e-password")
    dora.log_in()
    kernel = dora.api("POST", "/user/dora/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    channels = websocket_url(https.base_url) + f"/user/dora/api/kernels/{kernel.json()['id']}/channels"
    connection = websocket.create_connection(channels, header=[f"Authorization: token {dora.token}"], timeout=30)
    old = served_certificate(deployed.port, HOST, https.ca_bundle)
    issued = https.pebble.issued()
    probes = ProbeLoop(f"{https.base_url}/user/dora/api/status", dora.token)
    loop = threading.Thread(target=probes.run, daemon=True)
    loop.start()
    try:
        assert execute(connection, "n = 0; n") == "0"
        started = time.monotonic()

        def renewed() -> dict[str, Any] | None:
            # A cell on the open websocket each second, as a person works (reading its answers
            # also answers the server's pings, as a browser does).
            assert execute(connection, "n += 1; n") != ""
            served = served_certificate(deployed.port, HOST, https.ca_bundle)
            return served if served["serialNumber"] != old["serialNumber"] else None

        new = wait_until(renewed, VALIDITY_S, 1, "a renewed certificate")
        waited_s = time.monotonic() - started
        measure(f"tls acme: renewed {waited_s:.0f}s into the wait; {probes.answered} requests answered meanwhile")
        time.sleep(2)
        cells = int(execute(connection, "n"))  # the same websocket, opened before the renewal
        assert cells >= waited_s * 0.5
    finally:
        probes.stop.set()
        loop.join(timeout=30)
        connection.close()
    assert probes.failures == [] and probes.answered > 100
    assert new["notAfter"] != old["notAfter"]
    assert https.pebble.issued() == issued + 1


def test_a_ca_that_refuses_fails_the_apply_naming_where_to_look_and_the_valid_certificate_stays(
    https: Https, resolves_to_loopback: None
) -> None:
    deployed = https.deployed
    serial = certificate_not_renewed_within(https, QUIET_REFUSAL_S)["serialNumber"]
    with pytest.raises(ApplyError, match="container failed to be in healthy state"):
        deployed.harness.up({**https.acme_config(), "publicHost": json.dumps([HOST, REFUSED_HOST])})
    terminator = deployed.client.containers.get(NAMES.tls_container)
    log = terminator.logs().decode(errors="replace")
    assert REFUSED_HOST in log and "urn:ietf:params:acme:error:rejectedIdentifier" in log, log[-3000:]
    health = terminator.attrs["State"]["Health"]["Log"][-1]["Output"]
    assert f"{REFUSED_HOST}: no certificate served; the CA's answer: docker logs {NAMES.tls_container} 2>&1" in health
    assert served_certificate(deployed.port, HOST, https.ca_bundle)["serialNumber"] == serial  # still served, still valid
    assert requests.get(f"{https.base_url}/hub/api/", timeout=10).status_code == 200


def test_jupyterlab_loads_in_chromium_over_https_with_no_certificate_error(
    https: Https, resolves_to_loopback: None, tmp_path: Path
) -> None:
    """Chromium trusts Pebble's root through its own certificate store (a fresh profile's NSS database).

    erin's server starts before chromium does: chromium aborts requests in flight when a network
    interface appears on this host (ERR_NETWORK_CHANGED), and a spawn's container brings one up.
    The spawn over HTTPS is the first test's; the browser's spawn page is test_6's."""
    assert shutil.which(CHROMIUM) and shutil.which("certutil"), (
        "chromium and certutil (libnss3-tools): the test command installs them"
    )
    home = home_trusting(tmp_path, https.ca_bundle, "pebble")
    erin = user_with_a_server(https.base_url, "erin")
    host_rule = f"--host-resolver-rules=MAP {HOST} 127.0.0.1"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, host_rule], headless=True, env={"HOME": str(home)}
        )
        failed_requests: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("requestfailed", lambda request: failed_requests.append(f"{request.url}: {request.failure}"))
            page.goto(f"{https.base_url}/hub/login", timeout=30_000)
            page.fill("input[name=username]", erin.name)
            page.fill("input[name=password]", erin.password)
            with page.expect_navigation(timeout=30_000):  # the login, wherever the hub sends erin next
                page.click("input[type=submit], button[type=submit]")
            page.goto(f"{https.base_url}/user/erin/lab", timeout=60_000)
            try:
                page.wait_for_selector(".jp-Launcher", timeout=120_000)
            except PlaywrightError as error:
                page.screenshot(path=str(ARTIFACTS / "3-jupyterlab-https-failed.png"))
                raise AssertionError(f"no launcher at {page.url}; failed requests: {failed_requests[:20]}") from error
            page.screenshot(path=str(ARTIFACTS / "3-jupyterlab-https.png"))
            assert page.url.startswith(f"https://{HOST}:")
            assert "JupyterLab" in page.title()
        finally:
            browser.close()


def test_a_certificate_from_files_is_served_for_any_name_and_http_redirects(https: Https, tmp_path: Path) -> None:
    deployed = https.deployed
    cert, key = loopback_certificate(tmp_path)
    files = {"tls": json.dumps({"mode": "files", "httpPort": https.http_port})}
    applied = deployed.harness.up(files, {"tlsCertificate": cert.read_text(), "tlsKey": key.read_text()})
    assert applied.action(CONTAINER, "tls") == "replace"
    https_url = f"https://127.0.0.1:{deployed.port}"
    login = requests.get(f"{https_url}/hub/login", verify=str(cert), timeout=10)
    assert login.status_code == 200 and 'name="password"' in login.text
    redirect = requests.get(f"http://127.0.0.1:{https.http_port}/hub/login", allow_redirects=False, timeout=10)
    assert (redirect.status_code, redirect.headers["Location"]) == (308, f"{https_url}/hub/login")
    terminator = deployed.client.containers.get(NAMES.tls_container)
    assert key.read_text() not in terminator.logs().decode(errors="replace")
