"""Seconds until each public name's certificate expires, as the TLS terminator serves it: a
collector on the hub's /hub/metrics (with metrics.enabled and tls.mode files or acme).

Each scrape asks the terminator on the deployment's network for each name's certificate (a
TLS handshake with that name) and reads its end of validity; a name with no certificate
served has no sample. Alert on `jupyterhub_tls_certificate_expiry_seconds < 7 * 86400`, or
on the series missing.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Iterator, Sequence

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

METRIC = "jupyterhub_tls_certificate_expiry_seconds"
HANDSHAKE_TIMEOUT_S = 3


def seconds_left(host: str, port: int, name: str) -> float | None:
    """Seconds until the certificate served for name expires; None when none is served."""
    context = ssl.create_default_context()
    # The end of validity is what is read here, of whatever the terminator serves, trusted or not.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=name or None) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    if der is None:
        return None
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return (expires - datetime.datetime.now(datetime.UTC)).total_seconds()


class CertificateExpiry(Collector):
    def __init__(self, host: str, port: int, names: Sequence[str]):
        self.host, self.port, self.names = host, port, list(names)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """What it yields, without asking the terminator (registering must not wait for it)."""
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = self._family()
        for name in self.names:
            left = seconds_left(self.host, self.port, name)
            if left is not None:
                gauge.add_metric([name], left)
        yield gauge

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(METRIC, "Seconds until the certificate served for the name expires", labels=["name"])
