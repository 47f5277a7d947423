"""Checks of one value (a `Check` of the registry), and the patterns they share."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from components.config.registry import Check, fail, set_command

IMAGE_REF = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # JupyterHub's rule, narrowed to what Docker names allow
_MEMORY = re.compile(r"[1-9][0-9]*[KMGT]?")
_MEMORY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}  # JupyterHub's ByteSpecification
MIN_MEMORY_BYTES = 6 * 1024**2  # the engine refuses smaller limits
_HTTP_URL = re.compile(r"https?://\S+")
PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def pattern(regex: re.Pattern[str], problem: str, fix: str, *, optional: bool = False) -> Check:
    def check(key: str, value: str) -> None:
        if not (optional and value == "") and not regex.fullmatch(value):
            raise fail(key, value, problem, fix)

    return check


def each(check: Check) -> Check:
    def check_items(key: str, values: tuple[str, ...]) -> None:
        for value in values:
            check(key, value)

    return check_items


def user_name(key: str, name: str) -> None:
    if not _USERNAME.fullmatch(name):
        raise fail(
            key,
            name,
            "not a valid user name (lower-case letters, digits, '.', '_', '-'; starts with a letter or digit)",
            f"correct the name in {key}",
        )


def memory(key: str, value: str) -> None:
    if not _MEMORY.fullmatch(value) or memory_bytes(value) < MIN_MEMORY_BYTES:
        raise fail(key, value, "not a memory size of at least 6M", "use a number with an optional K, M, G or T suffix, e.g. 2G")


def memory_bytes(size: str) -> int:
    return int(size.rstrip("KMGT")) * _MEMORY_UNITS[size.lstrip("0123456789")]


def ip_address(key: str, value: str) -> None:
    if not is_ip_address(value):
        raise fail(key, value, "not an IP address", set_command(key, "127.0.0.1"))


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def existing_path(key: str, value: str) -> None:
    if value and not Path(value).exists():
        raise fail(
            key, value, "no such file or directory", "point it at a PEM file or a directory of *.crt files, or remove the key"
        )


def http_url(key: str, value: str) -> None:
    pattern(_HTTP_URL, "not an http(s) URL", set_command(key, "<url>"))(key, value)


def pem_certificates(key: str, value: str) -> None:
    if value and not (PEM_CERTIFICATE.search(value) and not PEM_CERTIFICATE.sub("", value).strip()):
        raise fail(
            key, value[:40] + "…" if len(value) > 40 else value, "not PEM certificates (-----BEGIN CERTIFICATE----- …)",
            f'pulumi config set --path {key} -- "$(cat root.pem)"',
        )  # fmt: skip
