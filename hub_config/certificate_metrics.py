"""Seconds until each public name's certificate expires, as the TLS terminator serves it: a
collector on the hub's /hub/metrics (with metrics.enabled and tls.mode files or acme).

A thread of its own asks the terminator on the deployment's network for each name's
certificate (a TLS handshake with that name) every REFRESH_S and keeps its end of validity;
a scrape only reads what it kept (JupyterHub serves /hub/metrics on its event loop, which a
slow handshake must not hold). A name with no certificate served has no sample. Alert on
`jupyterhub_tls_certificate_expiry_seconds < 7 * 86400`, or on the series missing.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

METRIC = "jupyterhub_tls_certificate_expiry_seconds"
HANDSHAKE_TIMEOUT_S = 3
REFRESH_S = 60


def expires_at(host: str, port: int, name: str) -> float | None:
    """When the certificate served for name expires (seconds since the epoch); None when none is served."""
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
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp() if der else None
    except (OSError, ValueError):
        return None


class CertificateExpiry(Collector):
    def __init__(self, host: str, port: int, names: Sequence[str]):
        self.host, self.port, self.names = host, port, list(names)
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        found = {name: expires_at(self.host, self.port, name) for name in self.names}
        with self._lock:
            self._expiry = {name: expiry for name, expiry in found.items() if expiry is not None}

    def refresh_in_background(self) -> threading.Thread:
        def run() -> None:
            while True:
                self.refresh()
                time.sleep(REFRESH_S)

        thread = threading.Thread(target=run, name="certificate-expiry", daemon=True)
        thread.start()
        return thread

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = self._family()
        now = time.time()
        with self._lock:
            for name, expiry in sorted(self._expiry.items()):
                gauge.add_metric([name], expiry - now)
        yield gauge

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(METRIC, "Seconds until the certificate served for the name expires", labels=["name"])
