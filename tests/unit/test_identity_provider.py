"""The preview's OpenID Connect discovery (components/oidc_discovery.py) against a loopback HTTPS server."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components import oidc_discovery
from tests.unit.tls_server import certificate_files


@pytest.fixture
def issuer_server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """An HTTPS server on localhost answering the discovery document in `answer` (status, body); its URL and CA."""
    now = datetime.datetime.now(datetime.UTC)
    cert, key = certificate_files(tmp_path, "localhost", now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1))
    answer: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer.get(self.path, (404, b"{}"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/realms/uni", cert.read_text(), answer
    finally:
        server.shutdown()
        server.server_close()


def document(asked: str, **changes: Any) -> bytes:
    issuer, base = asked, asked.removesuffix("/realms/uni")
    endpoints = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/me",
        "end_session_endpoint": f"{base}/logout",
    }
    return json.dumps({**endpoints, **changes}).encode()


WELL_KNOWN = "/realms/uni/.well-known/openid-configuration"


def test_the_endpoints_come_from_the_issuers_discovery_document(issuer_server: tuple[str, str, dict]) -> None:
    issuer, ca, answer = issuer_server
    answer[WELL_KNOWN] = (200, document(issuer))
    base = issuer.removesuffix("/realms/uni")
    assert oidc_discovery.discover(issuer, ca) == {
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/me",
        "end_session_endpoint": f"{base}/logout",
    }
    answer[WELL_KNOWN] = (200, document(issuer, end_session_endpoint=None))
    assert oidc_discovery.discover(issuer, ca)["end_session_endpoint"] == ""


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (404, b"{}", "answered HTTP 404: not an OpenID Connect issuer"),
        (200, b"<html>", "did not answer JSON"),
        (200, b"[]", "did not answer a JSON object"),
        (200, "SAME_ISSUER_OTHER", "the provider calls itself 'https://other.example.org'"),
        (200, "HTTP_TOKEN", "its token_endpoint is 'http://localhost/token', not an https:// URL"),
        (200, "NO_USERINFO", "its userinfo_endpoint is None"),
    ],
)
def test_an_issuer_that_cannot_be_used_is_refused_with_the_reason(
    issuer_server: tuple[str, str, dict], status: int, body: Any, reason: str
) -> None:
    issuer, ca, answer = issuer_server
    bodies = {
        "SAME_ISSUER_OTHER": document(issuer, issuer="https://other.example.org"),
        "HTTP_TOKEN": document(issuer, token_endpoint="http://localhost/token"),
        "NO_USERINFO": document(issuer, userinfo_endpoint=None),
    }
    answer[WELL_KNOWN] = (status, bodies.get(body, body))
    with pytest.raises(oidc_discovery.UnusableError, match=reason):
        oidc_discovery.discover(issuer, ca)


def test_an_untrusted_certificate_or_no_server_is_refused(issuer_server: tuple[str, str, dict]) -> None:
    issuer, _, answer = issuer_server
    answer[WELL_KNOWN] = (200, document(issuer))
    with pytest.raises(oidc_discovery.UnusableError, match=r"cannot be reached: .*CERTIFICATE_VERIFY_FAILED"):
        oidc_discovery.discover(issuer, "")
    with pytest.raises(oidc_discovery.UnusableError, match="cannot be reached"):
        oidc_discovery.discover("https://localhost:1/realms/uni", "")


def test_run_on_its_own_it_prints_the_endpoints_or_exits_2(
    issuer_server: tuple[str, str, dict], monkeypatch: Any, capsys: Any
) -> None:
    issuer, ca, answer = issuer_server
    answer[WELL_KNOWN] = (200, document(issuer))
    monkeypatch.setenv(oidc_discovery.CA_ROOT_ENV, ca)
    assert oidc_discovery.main([issuer]) == 0
    assert json.loads(capsys.readouterr().out)["token_endpoint"].endswith("/token")
    monkeypatch.setenv(oidc_discovery.CA_ROOT_ENV, "")
    assert oidc_discovery.main([issuer]) == 2
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
