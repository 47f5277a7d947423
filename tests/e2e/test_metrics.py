"""Metrics on the shared deployment (metrics.enabled, metrics.prometheus, both ports on
loopback): the hub's through the proxy with the metrics service's token, the proxy's
own on its published port, and Prometheus scraping both."""

from __future__ import annotations

import re
import time

import requests

from components.names import PROMETHEUS_PORT, PROXY_METRICS_PORT
from testkit.hub_user import HubUser
from tests.e2e.deployed import NAMES, Deployed, measure

SCRAPE_WAIT_S = 60  # Prometheus scrapes every 15 s


def samples(text: str, metric: str) -> dict[str, float]:
    """The samples of one metric in Prometheus' text format: labels (as written) -> value."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{metric}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def published_port(deployed: Deployed, container: str, port: int) -> int:
    bindings = deployed.client.containers.get(container).ports[f"{port}/tcp"]
    assert [binding["HostIp"] for binding in bindings] == ["127.0.0.1"], "published on loopback only"
    return int(bindings[0]["HostPort"])


def hub_metrics(deployed: Deployed, token: str) -> str:
    response = requests.get(f"{deployed.base_url}/hub/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response.text


def spawns_recorded(text: str) -> float:
    return sum(
        value for labels, value in samples(text, "jupyterhub_server_spawn_duration_seconds_count").items() if "success" in labels
    )


def test_after_a_spawn_the_hub_metrics_show_the_running_server_and_the_spawn(deployed: Deployed) -> None:
    token = deployed.first_apply.run.exports["metricsToken"]
    before = spawns_recorded(hub_metrics(deployed, token))
    carol = HubUser(deployed.base_url, "metrics-carol", "metrics-carol-password")
    carol.sign_up()
    carol.log_in()
    carol.start_server()
    try:
        text = hub_metrics(deployed, token)
        running = deployed.client.containers.list(filters={"name": NAMES.user_server("")})
        assert samples(text, "jupyterhub_running_servers") == {"": float(len(running))}
        assert len(running) >= 1
        assert spawns_recorded(text) == before + 1
    finally:
        carol.stop_server()
    assert samples(hub_metrics(deployed, token), "jupyterhub_running_servers")[""] == len(running) - 1


def test_the_metrics_token_reads_metrics_and_nothing_else(deployed: Deployed) -> None:
    token = deployed.first_apply.run.exports["metricsToken"]
    assert requests.get(f"{deployed.base_url}/hub/metrics", timeout=10).status_code == 403
    for path in ("/hub/api/users", "/hub/api/proxy", "/hub/api/users/alice"):
        response = requests.get(f"{deployed.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code in (403, 404), (path, response.status_code, response.text[:200])


def test_the_proxy_publishes_its_own_metrics_on_loopback(deployed: Deployed) -> None:
    port = published_port(deployed, NAMES.proxy_container, PROXY_METRICS_PORT)
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert samples(text, "requests_web_count") or samples(text, "requests_web")
    assert samples(text, "api_route_add_count") or samples(text, "api_route_add")


def test_prometheus_reports_every_target_up(deployed: Deployed) -> None:
    port = published_port(deployed, NAMES.prometheus_container, PROMETHEUS_PORT)
    deadline, targets = time.monotonic() + SCRAPE_WAIT_S, []
    for _ in range(SCRAPE_WAIT_S):
        answer = requests.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=10).json()
        targets = answer["data"]["activeTargets"]
        if (targets and all(target["health"] == "up" for target in targets)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {target["labels"]["job"]: target["health"] for target in targets} == {"jupyterhub": "up", "proxy": "up"}, targets
    query = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "jupyterhub_running_servers"}, timeout=10)
    assert query.json()["data"]["result"], "Prometheus holds the hub's samples"
    from_a_page = requests.get(
        f"http://127.0.0.1:{port}/api/v1/query",
        params={"query": "up"},
        headers={"Origin": "http://example.org"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in from_a_page.headers, "a web page of another origin may not read it"
    measure(f"prometheus: {len(targets)} targets up")
