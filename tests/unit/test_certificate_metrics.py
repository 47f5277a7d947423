"""hub_config/certificate_metrics.py: each public name's certificate expiry on /hub/metrics."""

from __future__ import annotations

import datetime
import runpy
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from components.config import parse_config
from components.hub_addons import hub_addons, merged
from components.hub_settings import hub_settings
from components.names import DeploymentNames
from components.user_servers import user_server_images
from testkit.endpoints import wait_until
from testkit.program_runner import REPO_ROOT
from tests.unit.hub_modules import hub_module
from tests.unit.tls_server import serving

certificate_metrics = hub_module("certificate_metrics")
register_certificate_metrics = runpy.run_path(str(REPO_ROOT / "hub_config" / "jupyterhub_config.py"))[
    "register_certificate_metrics"
]
DAY_S = 86_400


@pytest.fixture
def terminator(tmp_path: Path) -> Iterator[int]:
    """A TLS server on loopback serving a 30-day certificate for hub.example.org, and a 3-day one for old.example.org."""
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(minutes=1)
    validity = {
        "hub.example.org": (start, now + datetime.timedelta(days=30)),
        "old.example.org": (start, now + datetime.timedelta(days=3)),
    }
    with serving(tmp_path, validity, "hub.example.org") as port:
        yield port


def samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.labels["name"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == certificate_metrics.METRIC
    }


def test_each_name_gets_the_seconds_left_of_the_certificate_served_for_it(terminator: int) -> None:
    registry = CollectorRegistry()
    collector = certificate_metrics.CertificateExpiry("127.0.0.1", terminator, ["hub.example.org", "old.example.org"])
    registry.register(collector)
    collector.refresh()
    left = samples(registry)
    assert 30 * DAY_S - 120 < left["hub.example.org"] <= 30 * DAY_S
    assert 3 * DAY_S - 120 < left["old.example.org"] <= 3 * DAY_S
    assert b'jupyterhub_tls_certificate_expiry_seconds{name="hub.example.org"}' in generate_latest(registry)


def test_a_scrape_never_waits_on_the_terminator_and_no_certificate_is_no_sample(
    terminator: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JupyterHub answers /hub/metrics on its event loop: registering and collecting read only
    what the collector's own thread found."""
    asked: list[str] = []
    real = certificate_metrics.expires_at

    def recorded(host: str, port: int, name: str) -> float | None:
        asked.append(name)
        return real(host, port, name)

    monkeypatch.setattr(certificate_metrics, "expires_at", recorded)
    registry = CollectorRegistry(auto_describe=True)
    collector = certificate_metrics.CertificateExpiry("127.0.0.1", terminator, ["hub.example.org", "gone.example.org"])
    registry.register(collector)
    assert samples(registry) == {} and asked == []
    collector.refresh()
    assert asked == ["hub.example.org", "gone.example.org"]
    assert list(samples(registry)) == ["hub.example.org"]  # gone.example.org: the server names no certificate for it
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = int(unused.getsockname()[1])
    assert certificate_metrics.expires_at("127.0.0.1", closed_port, "hub.example.org") is None


def settings_of(raw: dict[str, Any], secrets: dict[str, Any] | None = None) -> dict[str, Any]:
    config = parse_config(raw, secrets or {})
    return hub_settings(
        config, DeploymentNames(config.name), user_server_images(config, "notebook:1"), merged(hub_addons(config)), {}
    )


ACME = {"publicHost": ["hub.example.org", "jupyter.example.org"], "tls": {"mode": "acme", "acmeEmail": "ops@example.org"}}


def test_the_hub_asks_the_terminator_only_with_metrics_and_tls(terminator: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "certificate_metrics", certificate_metrics)  # as the hub image's path has it
    metrics = {"metrics": {"enabled": True}}
    assert settings_of({**ACME, **metrics})["certificateMetrics"] == {
        "host": "jupyterhub-tls",
        "port": 8443,
        "names": ["hub.example.org", "jupyter.example.org"],
    }
    files = settings_of({**metrics, "tls": {"mode": "files"}}, {"tlsCertificate": "c", "tlsKey": "k"})
    assert files["certificateMetrics"]["names"] == [""]  # the certificate served without a name
    assert settings_of(ACME)["certificateMetrics"] is None
    assert settings_of(metrics)["certificateMetrics"] is None
    registry = CollectorRegistry()
    register_certificate_metrics({"certificateMetrics": None}, registry)
    assert samples(registry) == {}
    register_certificate_metrics(
        {"certificateMetrics": {"host": "127.0.0.1", "port": terminator, "names": ["hub.example.org"]}}, registry
    )
    assert wait_until(lambda: list(samples(registry)), 10, 0.05, "the background refresh") == ["hub.example.org"]


def test_a_terminator_that_accepts_and_never_answers_costs_one_handshake_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certificate_metrics, "HANDSHAKE_TIMEOUT_S", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (the backlog), never speaks TLS
        result: list[float | None] = []
        asking = threading.Thread(
            target=lambda: result.append(certificate_metrics.expires_at("127.0.0.1", silent.getsockname()[1], "hub.example.org")),
            daemon=True,
        )
        asking.start()
        asking.join(timeout=10)
    assert result == [None]


def test_the_metric_says_what_it_is(terminator: int) -> None:
    registry = CollectorRegistry()
    collector = certificate_metrics.CertificateExpiry("127.0.0.1", terminator, ["hub.example.org"])
    registry.register(collector)
    collector.refresh()
    text = generate_latest(registry).decode()
    assert "# HELP jupyterhub_tls_certificate_expiry_seconds Seconds until the certificate served for the name expires" in text
    assert "# TYPE jupyterhub_tls_certificate_expiry_seconds gauge" in text
