"""`tls.*`: HTTPS on publicPort."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.registry import fail, set_command, setting
from components.config.values import pattern, pem_certificates

TLS_MODES = ("off", "files", "acme")
ACME_DIRECTORIES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# Both reach the terminator's Caddyfile as bare words: no space, brace, quote, backslash or '#'.
_HTTPS_URL = re.compile(r"https://[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&()*+,;=:@/-]*)?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+")


def _acme_directory(key: str, value: str) -> None:
    if value not in ACME_DIRECTORIES and not _HTTPS_URL.fullmatch(value):
        raise fail(
            key, value, "neither a named CA (letsencrypt, letsencrypt-staging) nor an https:// directory URL",
            set_command(key, "letsencrypt-staging"),
        )  # fmt: skip


@dataclass(frozen=True)
class TlsConfig:
    mode: str = setting(
        "off",
        "`off` (plain HTTP on `publicPort`: dev, or behind your own TLS proxy), `files` (the certificate in "
        "`tlsCertificate`/`tlsKey`) or `acme` (certificates from an ACME CA such as Let's Encrypt, renewed on their own; "
        "see [Put it on the internet](../tutorials/internet.md)). Not `off`: a TLS terminator (Caddy) serves "
        "`publicPort` in front of the proxy",
        choices=TLS_MODES,
    )
    http_port: int = setting(
        80,
        "not `off`: the host port of plain HTTP, which redirects to HTTPS and answers the ACME HTTP-01 challenge; `0`: "
        "none (ACME then validates by TLS-ALPN-01 on `publicPort`, which must be reachable as 443)",
        low=0,
        high=65535,
    )
    acme_email: str = setting(
        "",
        "`acme`: the ACME account's contact address (the CA writes there about expiring certificates)",
        check=pattern(_EMAIL, "not an e-mail address", set_command("tls.acmeEmail", "ops@example.org"), optional=True),
    )
    acme_directory: str = setting(
        "letsencrypt",
        "`acme`: `letsencrypt`, `letsencrypt-staging` (untrusted certificates, generous limits: try it first), or the "
        "https directory URL of another ACME CA (step-ca, your company's)",
        check=_acme_directory,
    )
    acme_ca_root: str = setting(
        "", "`acme`: PEM root certificate(s) of a private ACME CA, trusted for its directory's HTTPS", check=pem_certificates
    )
    hsts_max_age_seconds: int = setting(
        31_536_000,
        "not `off`: `Strict-Transport-Security` max-age (browsers then refuse plain HTTP and certificate warnings for "
        "that long); `0`: no header",
        low=0,
        high=63_072_000,
    )
    renewal_check_seconds: int = setting(
        600,
        "`acme`: how often the terminator checks its certificates; it renews one when a third of its lifetime is left",
        low=5,
        high=86_400,
    )

    @property
    def acme_directory_url(self) -> str:
        return ACME_DIRECTORIES.get(self.acme_directory, self.acme_directory)
