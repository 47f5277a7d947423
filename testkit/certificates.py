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


def private_ca(folder: Path, prefix: str, dns_names: list[str]) -> str:
    """A one-day CA and a server certificate it signs for dns_names and 127.0.0.1, as an institution's
    private CA would make them: `<prefix>-ca.crt`, `<prefix>.crt` and `<prefix>.key` in folder; the CA's PEM.
    The CA has the key usage extension Python 3.13 requires (ssl's VERIFY_X509_STRICT)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN=jupyterhub-docker test {prefix} CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", f"{prefix}-ca.key", "-out", f"{prefix}-ca.crt")  # fmt: skip
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={dns_names[0]}",
        "-keyout",
        f"{prefix}.key",
        "-out",
        f"{prefix}.csr",
    )
    alt_names = ",".join([*(f"DNS:{name}" for name in dns_names), "IP:127.0.0.1"])
    (folder / f"{prefix}.ext").write_text(
        f"subjectAltName={alt_names}\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", f"{prefix}.csr", "-CA", f"{prefix}-ca.crt", "-CAkey", f"{prefix}-ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", f"{prefix}.ext", "-out", f"{prefix}.crt")  # fmt: skip
    return (folder / f"{prefix}-ca.crt").read_text()
