"""A TLS server on loopback for the unit tests of what reads served certificates: each name's
own certificate by SNI, the default one without a name, a refusal for any other name."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate_files(folder: Path, name: str, issued: datetime.datetime, expires: datetime.datetime) -> tuple[Path, Path]:
    """A self-signed certificate for name, valid from issued to expires, and its key: PEM files."""
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
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def serving(folder: Path, validity: dict[str, tuple[datetime.datetime, datetime.datetime]], default: str) -> Iterator[int]:
    """Serve each name's certificate (issued, expires) on a loopback port, yielded; `default`'s without SNI."""
    contexts = {}
    for name, (issued, expires) in validity.items():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate_files(folder, name, issued, expires))
        contexts[name] = context

    def by_name(connection: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> int | None:
        if name is None:
            return None
        if name not in contexts:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME  # no certificate for that name
        connection.context = contexts[name]
        return None

    first = contexts[default]
    first.sni_callback = by_name  # type: ignore[assignment]
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
                with first.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
