"""Deploy the dev stack from nothing; only the proxy's public port is reachable."""

from __future__ import annotations

import socket

import requests

from tests.e2e.deployed import E2E_NAME, Deployed
from tests.e2e.harness import CONTAINER


def test_login_page_answers_through_the_proxy(deployed: Deployed) -> None:
    response = requests.get(f"{deployed.base_url}/hub/login", timeout=10)
    assert response.status_code == 200
    assert 'name="password"' in response.text and "Sign up" in response.text


def test_first_apply_created_everything(deployed: Deployed) -> None:
    assert {c.action for c in deployed.first_apply.changes} == {"create"}
    assert deployed.first_apply.action(CONTAINER, "proxy") == "create"


def test_only_the_proxy_public_port_is_published_on_loopback(deployed: Deployed) -> None:
    proxy = deployed.client.containers.get(f"{E2E_NAME}-proxy")
    hub = deployed.client.containers.get(f"{E2E_NAME}-hub")
    bindings = {port: spec for port, spec in proxy.attrs["HostConfig"]["PortBindings"].items() if spec}
    assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(deployed.port)}]}
    assert not (hub.attrs["HostConfig"]["PortBindings"] or {})
    assert not any(spec for spec in hub.attrs["NetworkSettings"]["Ports"].values())


def test_proxy_api_and_hub_ports_do_not_answer_on_the_host(deployed: Deployed) -> None:
    for port in (8001, 8081):
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something answers on 127.0.0.1:{port}"


def test_hub_and_proxy_share_only_the_project_network(deployed: Deployed) -> None:
    for name in ("proxy", "hub"):
        container = deployed.client.containers.get(f"{E2E_NAME}-{name}")
        assert list(container.attrs["NetworkSettings"]["Networks"]) == [E2E_NAME]
