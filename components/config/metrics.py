"""`metrics.*`: Prometheus metrics of the hub and the proxy."""

from __future__ import annotations

from dataclasses import dataclass

from components.config.registry import setting
from components.config.values import ip_address


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = setting(
        False,
        "Prometheus metrics: a `metrics` hub service that may only read them (its token is the `metricsToken` "
        "secret output; scrape `<publicUrl>/hub/metrics`), and the proxy's own (see [Metrics](../how-to/metrics.md))",
    )
    proxy_port: int = setting(
        0, "host port for the proxy's own metrics (no authentication) on `metrics.publishIp`; 0: not published", low=0, high=65535
    )
    prometheus: bool = setting(False, "run a Prometheus (Debian's package) that scrapes hub and proxy")
    prometheus_port: int = setting(9090, "host port of that Prometheus, on `metrics.publishIp`", low=1, high=65535)
    retention_days: int = setting(15, "days of samples that Prometheus keeps", low=1, high=3650)
    publish_ip: str = setting(
        "127.0.0.1", "host address the proxy's metrics port and Prometheus are published on", check=ip_address
    )
