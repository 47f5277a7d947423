"""A self-signed certificate for 127.0.0.1, for `tls.mode files` in the e2e tests and the benchmark."""

from __future__ import annotations

import subprocess
from pathlib import Path


def loopback_certificate(folder: Path) -> tuple[Path, Path]:
    """PEM files of a one-day certificate for IP 127.0.0.1 and its key, made by openssl in folder."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
