"""Deploy the dev stack from nothing; only the proxy's public port is reachable; no secret leaks."""

from __future__ import annotations

import json
import socket

import requests

from components.names import PROXY_METRICS_PORT
from testkit.harness import CONTAINER
from testkit.hub_user import HubUser
from tests.e2e.deployed import E2E_NAME, NAMES, Deployed


def test_login_page_answers_through_the_proxy(deployed: Deployed) -> None:
    response = requests.get(f"{deployed.base_url}/hub/login", timeout=10)
    assert response.status_code == 200
    assert 'name="password"' in response.text and "Sign up" in response.text


def test_first_apply_created_everything(deployed: Deployed) -> None:
    assert {c.action for c in deployed.first_apply.changes} == {"create"}
    assert deployed.first_apply.action(CONTAINER, "proxy") == "create"


def test_only_the_proxy_public_port_is_published_on_loopback(deployed: Deployed) -> None:
    proxy = deployed.client.containers.get(NAMES.proxy_container)
    bindings = {port: spec for port, spec in proxy.attrs["HostConfig"]["PortBindings"].items() if spec}
    metrics = bindings.pop(f"{PROXY_METRICS_PORT}/tcp")  # metrics.proxyPort: this deployment publishes it
    assert [binding["HostIp"] for binding in metrics] == ["127.0.0.1"]
    assert bindings == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(deployed.port)}]}
    others = [NAMES.hub_container, NAMES.docker_api_container]
    for container in map(deployed.client.containers.get, others):
        assert not (container.attrs["HostConfig"]["PortBindings"] or {}), container.name
        assert not any(spec for spec in container.attrs["NetworkSettings"]["Ports"].values()), container.name


def test_proxy_api_hub_and_docker_api_ports_do_not_answer_on_the_host(deployed: Deployed) -> None:
    for port in (8001, 8081, 2375):
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something answers on 127.0.0.1:{port}"


def test_only_the_hub_shares_a_network_with_the_docker_api_proxy(deployed: Deployed) -> None:
    networks = {
        name: set(deployed.client.containers.get(f"{E2E_NAME}-{name}").attrs["NetworkSettings"]["Networks"])
        for name in ("proxy", "hub", "docker-api", "prometheus")
    }
    assert networks == {
        "proxy": {E2E_NAME, NAMES.metrics_network},
        "hub": {E2E_NAME, NAMES.docker_api_container, NAMES.metrics_network},
        "docker-api": {NAMES.docker_api_container},
        "prometheus": {NAMES.metrics_network},  # not the users' servers' network
    }
    assert deployed.client.networks.get(NAMES.docker_api_container).attrs["Internal"] is True


def test_proxy_hub_and_filter_hold_no_capability_and_cannot_gain_privileges(deployed: Deployed) -> None:
    for name in ("proxy", "hub", "docker-api"):
        host = deployed.client.containers.get(f"{E2E_NAME}-{name}").attrs["HostConfig"]
        assert (host["CapDrop"], host["SecurityOpt"], host["Privileged"]) == (["ALL"], ["no-new-privileges"], False), name


def proxy_token(deployed: Deployed) -> str:
    envs = deployed.client.containers.get(NAMES.proxy_container).attrs["Config"]["Env"]
    token = next(env.split("=", 1)[1] for env in envs if env.startswith("CONFIGPROXY_AUTH_TOKEN="))
    assert len(token) == 48
    return str(token)


def test_the_proxy_token_is_in_no_label_image_history_log_or_output(deployed: Deployed) -> None:
    token = proxy_token(deployed)
    exports = deployed.first_apply.run.exports
    assert token not in json.dumps(exports)
    for container in deployed.client.containers.list(all=True, filters={"label": f"org.jupyterhub-docker.deployment={E2E_NAME}"}):
        assert token not in json.dumps(container.labels), container.name
        assert token not in container.logs().decode(errors="replace"), container.name
    for ref in (exports["proxyImage"], exports["hubImage"], exports["notebookImage"]):
        history = json.dumps(deployed.client.api.history(ref))
        assert token not in history, ref


def test_user_containers_do_not_get_the_proxy_token(deployed: Deployed, alice: HubUser) -> None:
    token = proxy_token(deployed)
    user_containers = deployed.client.containers.list(filters={"name": "jupyter-"})
    assert user_containers
    for container in user_containers:
        assert token not in json.dumps(container.attrs["Config"]["Env"]), container.name


ESCALATION_ATTEMPTS = """
import json, docker
engine, outcome = docker.from_env(), {}
attempts = {
    "privileged": lambda: engine.containers.create(IMAGE, name="jupyter-mallory", privileged=True,
                                                   labels={"org.jupyterhub-docker.deployment": NAME}, network=NAME),
    "host_root": lambda: engine.containers.create(IMAGE, name="jupyter-mallory", volumes={"/": {"bind": "/host"}},
                                                  labels={"org.jupyterhub-docker.deployment": NAME}, network=NAME),
    "exec_in_proxy": lambda: engine.containers.get(NAME + "-proxy").exec_run("id"),
    "stop_proxy": lambda: engine.containers.get(NAME + "-proxy").stop(),
}
for what, attempt in attempts.items():
    try:
        attempt()
        outcome[what] = "allowed"
    except docker.errors.APIError as error:
        outcome[what] = error.status_code
print(json.dumps(outcome))
"""


def test_the_hub_has_no_docker_socket_and_its_api_proxy_refuses_escalation(deployed: Deployed) -> None:
    hub = deployed.client.containers.get(NAMES.hub_container)
    assert hub.exec_run(["test", "-e", "/var/run/docker.sock"]).exit_code != 0
    image = deployed.first_apply.run.exports["notebookImage"]
    script = f"IMAGE, NAME = {image!r}, {E2E_NAME!r}\n" + ESCALATION_ATTEMPTS
    result = hub.exec_run(["python3", "-c", script])
    assert result.exit_code == 0, result.output.decode()
    outcome = json.loads(result.output.decode().strip().splitlines()[-1])
    assert outcome == {"privileged": 403, "host_root": 403, "exec_in_proxy": 403, "stop_proxy": 403}
    assert not deployed.client.containers.list(all=True, filters={"name": "jupyter-mallory"})
