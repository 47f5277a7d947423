"""Does an LDAP server answer, with TLS as configured and a certificate we trust?

Standard library only, and runnable on its own: the preflight runs this file inside the
running hub (`python3 -I -c <this file> <url> tls|plain`), and calls `check` here when no
hub runs yet. It binds as nobody: it sends LDAP's StartTLS (`ldap://`) or opens TLS at
once (`ldaps://`), then asks "who am I?" and wants an LDAP answer. Exit 2 and the reason
on stderr when the server cannot be used.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from urllib.parse import urlsplit

CA_ROOT_ENV = "LDAP_CA_ROOT"  # PEM of a private CA to trust, '' for the system's
TIMEOUT_S = 8
_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24]


class UnusableError(Exception):
    """The server cannot be used; the text says why."""


def _extended_request(message_id: int, oid: str) -> bytes:
    name = b"\x80" + bytes([len(oid)]) + oid.encode()
    operation = b"\x77" + bytes([len(name)]) + name
    body = b"\x02\x01" + bytes([message_id]) + operation
    return b"\x30" + bytes([len(body)]) + body


START_TLS = _extended_request(1, "1.3.6.1.4.1.1466.20037")
WHO_AM_I = _extended_request(2, "1.3.6.1.4.1.4203.1.11.3")


def _answer(connection: socket.socket) -> bytes:
    """One LDAPMessage holding an extended response; its bytes."""
    data = connection.recv(4096)
    if len(data) < 7 or data[0] != 0x30 or _EXTENDED_RESPONSE not in data[2:8]:
        raise UnusableError(f"it does not answer LDAP (got {data[:16]!r})")
    return data


def check(url: str, tls: bool, ca_root: str) -> str:
    parts = urlsplit(url)
    host, secure = parts.hostname or "", parts.scheme == "ldaps"
    port = parts.port or (636 if secure else 389)
    context = ssl.create_default_context(cadata=ca_root or None)
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as raw:
            connection = raw
            if not secure and tls:
                raw.sendall(START_TLS)
                started = _answer(raw)
                # resultCode (ENUMERATED) success: 0x0a 0x01 0x00 right after the response's length
                if b"\x0a\x01\x00" not in started[:16]:
                    raise UnusableError("it refuses StartTLS (set up TLS on the server, or use an ldaps:// URL)")
            if secure or tls:
                connection = context.wrap_socket(raw, server_hostname=host)
            connection.sendall(WHO_AM_I)
            _answer(connection)
    except ssl.SSLCertVerificationError as error:
        raise UnusableError(f"its certificate is not trusted: {error.verify_message} (auth.caRoot for a private CA)") from error
    except (OSError, ssl.SSLError) as error:
        raise UnusableError(f"{host}:{port} cannot be reached: {error}") from error
    return "ok"


def main(argv: list[str]) -> int:
    try:
        check(argv[0], argv[1] == "tls", os.environ.get(CA_ROOT_ENV, ""))
    except UnusableError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
