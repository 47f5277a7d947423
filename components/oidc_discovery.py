"""Read an OpenID Connect provider's discovery document, and check it names the issuer asked for.

Standard library only, and runnable on its own: the preflight runs this file inside the
running hub (`python3 -I -c <this file> <issuer>`), so the provider is asked from the
network the hub will log users in from, and runs `discover` here when no hub runs yet.
Prints the endpoints as JSON, or the reason on stderr with exit code 2.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any

CA_ROOT_ENV = "OIDC_CA_ROOT"  # PEM of a private CA to trust, '' for the system's
TIMEOUT_S = 8
MAX_BYTES = 1_000_000
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")


class UnusableError(Exception):
    """The issuer cannot be used; the text says why."""


def discover(issuer: str, ca_root: str) -> dict[str, str]:
    """The provider's endpoints: those OAuthenticator needs, and end_session_endpoint ('' when it has none)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    context = ssl.create_default_context(cadata=ca_root or None)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as answer:
            document: Any = json.loads(answer.read(MAX_BYTES))
    except urllib.error.HTTPError as error:
        raise UnusableError(f"{url} answered HTTP {error.code}: not an OpenID Connect issuer") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UnusableError(f"{url} cannot be reached: {reason}") from error
    except ValueError as error:
        raise UnusableError(f"{url} did not answer JSON") from error
    if not isinstance(document, dict):
        raise UnusableError(f"{url} did not answer a JSON object")
    # OpenID Connect Discovery 1.0, 4.3: the issuer in the document must be the one asked for, exactly.
    if document.get("issuer") != issuer:
        raise UnusableError(f"the provider calls itself {document.get('issuer')!r}, not {issuer!r}")
    endpoints = {name: document.get(name) for name in (*ENDPOINTS, "end_session_endpoint")}
    for name in ENDPOINTS:
        value = endpoints[name]
        if not (isinstance(value, str) and value.startswith("https://")):
            raise UnusableError(f"its {name} is {value!r}, not an https:// URL")
    if not isinstance(endpoints["end_session_endpoint"], str):
        endpoints["end_session_endpoint"] = ""
    return {name: str(value) for name, value in endpoints.items()}


def main(argv: list[str]) -> int:
    try:
        print(json.dumps(discover(argv[0], os.environ.get(CA_ROOT_ENV, ""))))
    except UnusableError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
