"""build.tls/tls-health, the terminator's health check: unhealthy when a name has no certificate,
or less than min(7 days, a tenth of its lifetime) left (run here against a loopback TLS server)."""

from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testkit.program_runner import REPO_ROOT

SCRIPT = REPO_ROOT / "build.tls" / "tls-health"
DAY = datetime.timedelta(days=1)
SECOND = datetime.timedelta(seconds=1)
# name -> (since issued, until expiry) of each name's certificate on the test server
CERTIFICATES = {
    "fresh.example.org": (DAY, 89 * DAY),  # Let's Encrypt's 90 days, just issued
    "due.example.org": (60 * DAY, 30 * DAY),  # renewal due: still healthy
    "late.example.org": (84 * DAY, 6 * DAY),  # under 7 days: renewals failed for weeks
    "short.example.org": (600 * SECOND, 300 * SECOND),  # 15 minutes: a tenth is 90 s, 300 s left
    "ending.example.org": (870 * SECOND, 30 * SECOND),  # 15 minutes, 30 s left
}


def pem_files(folder: Path, name: str, issued: datetime.datetime, expires: datetime.datetime) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued)
        .not_valid_after(expires)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Serves each name's certificate by SNI; nothing for other names; fresh.example.org without a name."""
    folder = tmp_path_factory.mktemp("certificates")
    contexts = {}
    now = datetime.datetime.now(datetime.UTC)
    for name, (since, until) in CERTIFICATES.items():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*pem_files(folder, name, now - since, now + until))
        contexts[name] = context
    default = contexts["fresh.example.org"]

    def by_name(connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        if name is None:
            return None
        if name not in contexts:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = contexts[name]
        return None

    default.sni_callback = by_name  # type: ignore[assignment]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with default.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


def health(port: int, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT), "hub-tls", str(port), *names], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", ["fresh.example.org", "due.example.org", "short.example.org"])
def test_enough_time_left_is_healthy(server: int, name: str) -> None:
    result = health(server, name)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith(f"{name}: ") and result.stdout.rstrip().endswith(" s left")


@pytest.mark.parametrize("name", ["late.example.org", "ending.example.org"])
def test_too_little_time_left_is_unhealthy(server: int, name: str) -> None:
    result = health(server, name)
    assert result.returncode == 1
    assert f"{name}: the certificate expires in " in result.stdout and "has not been renewed" in result.stdout


def test_a_name_without_a_certificate_is_unhealthy_and_says_where_to_look(server: int) -> None:
    result = health(server, "fresh.example.org", "missing.example.org")
    assert result.returncode == 1
    assert "fresh.example.org: " in result.stdout
    assert "missing.example.org: no certificate served; the CA's answer: docker logs hub-tls 2>&1 | grep error" in result.stdout


def test_without_names_the_certificate_served_without_a_name_is_checked(server: int) -> None:
    result = health(server)
    assert result.returncode == 0 and result.stdout.startswith("(any name): ")
