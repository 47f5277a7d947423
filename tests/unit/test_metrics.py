"""metrics.*: a hub service that may only read metrics, the proxy's metrics, an optional Prometheus."""

from __future__ import annotations

import json
from typing import Any

import pytest
from traitlets.config import Config

from components.config import ConfigError, parse_config
from testkit.harness import CONTAINER, IMAGE, NETWORK, VOLUME
from testkit.program_runner import REPO_ROOT, ProgramRun, run_program
from tests.unit.echo_mocks import FAKE_TOKEN, ProviderEchoMocks
from tests.unit.test_hub_config import SECRETS, configure, settings_of
from tests.unit.test_program import hub_settings


def with_metrics(**metrics: Any) -> ProgramRun:
    return run_program(ProviderEchoMocks(), config={"metrics": json.dumps({"enabled": True, **metrics})})


def test_off_by_default_nothing_is_added(run_dev: ProgramRun) -> None:
    assert "metrics" not in hub_settings(run_dev)["services"]
    assert not any("metrics" in argument for argument in run_dev.get(CONTAINER, "proxy").inputs["command"])
    assert "metricsToken" not in run_dev.exports and "hubMetricsUrl" not in run_dev.exports
    assert not [r for r in run_dev.registrations.values() if "prometheus" in r.name]


def test_the_metrics_service_may_read_metrics_and_nothing_else() -> None:
    run = with_metrics()
    settings = hub_settings(run)
    assert settings["services"]["metrics"] == {"name": "metrics", "apiTokenEnv": "METRICS_SERVICE_TOKEN"}
    assert settings["roles"]["metrics"] == {"name": "metrics", "scopes": ["read:metrics"], "services": ["metrics"]}
    hub = run.get(CONTAINER, "hub")
    assert f"METRICS_SERVICE_TOKEN={FAKE_TOKEN}" in hub.inputs["envs"] and "envs" in hub.secret_inputs
    assert FAKE_TOKEN not in json.dumps(settings)


def test_the_token_is_a_generated_secret_output() -> None:
    run = with_metrics()
    assert run.exports["metricsToken"] == FAKE_TOKEN
    assert "metricsToken" in run.secret_exports
    token = run.get("random:index/randomPassword:RandomPassword", "metrics-token")
    assert token.inputs == {"length": 48, "special": False}


def test_the_hub_config_gives_the_service_its_token_from_the_environment() -> None:
    settings = settings_of({"metrics": {"enabled": True}})
    c = Config()
    configure(c, settings, {**SECRETS, "METRICS_SERVICE_TOKEN": "from-env"})
    assert {"name": "metrics", "api_token": "from-env"} in c.JupyterHub.services
    assert {"name": "metrics", "scopes": ["read:metrics"], "services": ["metrics"]} in c.JupyterHub.load_roles


def test_the_hub_config_and_the_program_name_the_token_variable_key_alike() -> None:
    from components.hub_addons import SERVICE_TOKEN_ENV_KEY

    assert f'SERVICE_TOKEN_ENV_KEY = "{SERVICE_TOKEN_ENV_KEY}"' in (REPO_ROOT / "hub_config" / "jupyterhub_config.py").read_text()


def test_the_proxy_serves_its_metrics_on_the_networks_and_publishes_them_only_when_asked() -> None:
    proxy = with_metrics().get(CONTAINER, "proxy")
    assert {"--metrics-ip=", "--metrics-port=8002"} <= set(proxy.inputs["command"])
    assert [port["internal"] for port in proxy.inputs["ports"]] == [8000]
    published = with_metrics(proxyPort=9101, publishIp="127.0.0.2").get(CONTAINER, "proxy").inputs["ports"]
    assert {"internal": 8002, "external": 9101, "ip": "127.0.0.2"} in published


def test_prometheus_scrapes_hub_and_proxy_on_a_network_users_servers_are_not_on() -> None:
    run = with_metrics(prometheus=True, retentionDays=30)
    prometheus = run.get(CONTAINER, "prometheus")
    assert prometheus.inputs["networksAdvanced"] == [{"name": "jupyterhub-dev-metrics"}]
    assert run.get(NETWORK, "metrics-network").inputs["name"] == "jupyterhub-dev-metrics"
    for name in ("hub", "proxy"):
        networks = [n["name"] for n in run.get(CONTAINER, name).inputs["networksAdvanced"]]
        assert "jupyterhub-dev-metrics" in networks and "jupyterhub-dev" in networks
    assert hub_settings(run)["spawner"]["traitlets"]["DockerSpawner"]["network_name"] == "jupyterhub-dev"
    assert prometheus.inputs["ports"] == [{"internal": 9090, "external": 9090, "ip": "127.0.0.1"}]
    assert "--storage.tsdb.retention.time=30d" in prometheus.inputs["command"]
    uploads = {u["file"]: u["content"] for u in prometheus.inputs["uploads"]}
    assert "uploads" in prometheus.secret_inputs and uploads["/etc/prometheus/hub-token"] == FAKE_TOKEN
    scrape = json.loads(uploads["/etc/prometheus/prometheus.yml"])["scrape_configs"]
    assert scrape == [
        {
            "job_name": "jupyterhub",
            "metrics_path": "/hub/metrics",
            "authorization": {"credentials_file": "/etc/prometheus/hub-token"},
            "static_configs": [{"targets": ["jupyterhub-dev-hub:8081"]}],
        },
        {"job_name": "proxy", "static_configs": [{"targets": ["jupyterhub-dev-proxy:8002"]}]},
    ]
    assert run.get(VOLUME, "prometheus-data").inputs["name"] == "jupyterhub-dev-prometheus-data"
    assert run.get(VOLUME, "prometheus-data").retain_on_delete
    assert run.exports["prometheusImage"] == run.get(IMAGE, "prometheus-image").inputs["imageName"]
    assert run.exports["prometheusUrl"] == "http://127.0.0.1:9090/"
    assert "--web.cors.origin=" in prometheus.inputs["command"]  # no page from another origin reads its API


def test_the_outputs_say_where_to_scrape() -> None:
    run = with_metrics(proxyPort=9101)
    assert run.exports["hubMetricsUrl"] == "http://localhost:8000/hub/metrics"
    assert run.exports["proxyMetricsUrl"] == "http://127.0.0.1:9101/metrics"
    assert "prometheusUrl" not in run.exports


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (
            {"prometheus": True},
            r"'metrics.prometheus' = True: needs metrics.enabled. Fix: pulumi config set --path metrics.enabled true",
        ),
        ({"proxyPort": 9101}, r"'metrics.proxyPort' = 9101: needs metrics.enabled"),
        ({"enabled": True, "proxyPort": 8000}, r"'metrics.proxyPort' = 8000: the same host port as publicPort"),
        (
            {"enabled": True, "prometheus": True, "prometheusPort": 9101, "proxyPort": 9101},
            r"'metrics.prometheusPort' = 9101: the same host port as metrics.proxyPort",
        ),
        ({"enabled": True, "publishIp": "localhost"}, r"'metrics.publishIp' = 'localhost'"),
        ({"enabled": True, "retentionDays": 0}, r"'metrics.retentionDays' = 0"),
    ],
)
def test_bad_metrics_settings_name_the_setting_and_the_fix(metrics: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"metrics": metrics}, {})
