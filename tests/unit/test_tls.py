"""The TLS terminator's configuration (components/tls.py), generated from stack config, pinned."""

from __future__ import annotations

from typing import Any

from components.config import parse_config
from components.names import DeploymentNames
from components.tls import caddyfile

ACME = {"mode": "acme", "acmeEmail": "ops@example.org"}


def caddyfile_of(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> str:
    config = parse_config(raw, secrets or {})
    return caddyfile(config, DeploymentNames(config.name))


def test_acme_on_443_gets_certificates_for_every_name_and_redirects_plain_http() -> None:
    raw = {"publicHost": ["hub.example.org", "jupyter.example.org"], "publicPort": "443", "tls": ACME}
    assert caddyfile_of(raw) == (
        "{\n"
        "\tadmin off\n"
        "\thttp_port 8080\n"
        "\thttps_port 8443\n"
        "\tservers {\n\t\tprotocols h1 h2\n\t}\n"
        "\tauto_https disable_redirects\n"
        "\temail ops@example.org\n"
        "\tacme_ca https://acme-v02.api.letsencrypt.org/directory\n"
        "\trenew_interval 600s\n"
        "}\n"
        "\n"
        "hub.example.org, jupyter.example.org {\n"
        "\theader {\n"
        '\t\tStrict-Transport-Security "max-age=31536000"\n'
        "\t\tX-Content-Type-Options nosniff\n"
        "\t\t-Server\n"
        "\t}\n"
        "\treverse_proxy jupyterhub-proxy:8000 {\n"
        "\t\theader_up -X-Real-Ip\n"
        "\t\theader_up -X-Scheme\n"
        "\t\theader_up -Forwarded\n"
        "\t}\n"
        "}\n"
        "\n"
        "http://hub.example.org, http://jupyter.example.org {\n"
        "\tredir https://{host}{uri} 308\n"
        "}\n"
    )


def test_a_private_acme_ca_on_another_port_without_plain_http_or_hsts() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    tls = {
        **ACME,
        "acmeDirectory": "https://pebble:14000/dir",
        "acmeCaRoot": pem,
        "httpPort": "0",
        "hstsMaxAgeSeconds": "0",
        "renewalCheckSeconds": "5",
    }
    text = caddyfile_of({"name": "lab", "publicHost": "hub.jupyterhub.test", "publicPort": "18443", "tls": tls})
    assert text == (
        "{\n"
        "\tadmin off\n"
        "\thttp_port 8080\n"
        "\thttps_port 8443\n"
        "\tservers {\n\t\tprotocols h1 h2\n\t}\n"
        "\tauto_https disable_redirects\n"
        "\temail ops@example.org\n"
        "\tacme_ca https://pebble:14000/dir\n"
        "\tacme_ca_root /etc/caddy/acme-ca-root.pem\n"
        "\trenew_interval 5s\n"
        "}\n"
        "\n"
        "hub.jupyterhub.test {\n"
        "\ttls {\n\t\tissuer acme {\n\t\t\tdisable_http_challenge\n\t\t}\n\t}\n"
        "\theader {\n"
        "\t\tX-Content-Type-Options nosniff\n"
        "\t\t-Server\n"
        "\t}\n"
        "\treverse_proxy lab-proxy:8000 {\n"
        "\t\theader_up -X-Real-Ip\n"
        "\t\theader_up -X-Scheme\n"
        "\t\theader_up -Forwarded\n"
        "\t}\n"
        "}\n"
    )


def test_files_serve_the_one_certificate_for_any_name_and_redirect_to_the_public_port() -> None:
    raw = {"publicPort": "8443", "tls": {"mode": "files", "httpPort": "8080", "hstsMaxAgeSeconds": "600"}}
    assert caddyfile_of(raw, {"tlsCertificate": "c", "tlsKey": "k"}) == (
        "{\n"
        "\tadmin off\n"
        "\thttp_port 8080\n"
        "\thttps_port 8443\n"
        "\tservers {\n\t\tprotocols h1 h2\n\t}\n"
        "\tauto_https disable_redirects\n"
        "}\n"
        "\n"
        ":8443 {\n"
        "\ttls /etc/caddy/tls.crt /etc/caddy/tls.key\n"
        "\theader {\n"
        '\t\tStrict-Transport-Security "max-age=600"\n'
        "\t\tX-Content-Type-Options nosniff\n"
        "\t\t-Server\n"
        "\t}\n"
        "\treverse_proxy jupyterhub-proxy:8000 {\n"
        "\t\theader_up -X-Real-Ip\n"
        "\t\theader_up -X-Scheme\n"
        "\t\theader_up -Forwarded\n"
        "\t}\n"
        "}\n"
        "\n"
        "http:// {\n"
        "\tredir https://{host}:8443{uri} 308\n"
        "}\n"
    )
