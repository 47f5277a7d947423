"""With a certificate and key set as Pulumi secrets, the proxy serves HTTPS and redirects HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests

from testkit.endpoints import free_loopback_port, wait_for
from testkit.harness import CONTAINER
from tests.e2e.deployed import NAMES, Deployed


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_with_the_configured_certificate_and_http_redirect(deployed: Deployed, self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    redirect_port = free_loopback_port()
    secrets = {"tlsCertificate": cert.read_text(), "tlsKey": key.read_text()}
    try:
        applied = deployed.harness.up({"httpRedirectPort": str(redirect_port)}, secrets)
        assert applied.action(CONTAINER, "proxy") == "replace"
        https_url = f"https://127.0.0.1:{deployed.port}"
        wait_for(f"{https_url}/hub/api/", 60, verify=str(cert))
        login = requests.get(f"{https_url}/hub/login", verify=str(cert), timeout=10)
        assert login.status_code == 200 and 'name="password"' in login.text
        with pytest.raises(requests.ConnectionError):  # plain HTTP on the TLS port is refused
            requests.get(f"http://127.0.0.1:{deployed.port}/hub/login", timeout=5)
        redirect = requests.get(f"http://127.0.0.1:{redirect_port}/hub/login", allow_redirects=False, timeout=10)
        assert redirect.status_code == 301
        assert redirect.headers["Location"] == f"https://127.0.0.1:{deployed.port}/hub/login"
        proxy = deployed.client.containers.get(NAMES.proxy_container)
        assert key.read_text() not in proxy.logs().decode(errors="replace")
    finally:
        deployed.apply()  # back to plain HTTP for the scenarios that follow
