"""The hub's Docker API proxy lets DockerSpawner manage user containers and nothing more dangerous."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from docker_api_proxy import filter as api_filter
from docker_api_proxy.filter import refusal_of_create

DEPLOYMENT, NETWORK = "jh", "jh"


def spawner_request(**host_config: Any) -> dict[str, Any]:
    """Roughly what DockerSpawner sends for jupyter-ada."""
    return {
        "Image": "jh-notebook:abc",
        "Env": ["JUPYTERHUB_API_TOKEN=x"],
        "Labels": {"org.jupyterhub-docker.deployment": DEPLOYMENT, "hub.jupyter.org/username": "ada"},
        "HostConfig": {
            "NetworkMode": NETWORK,
            "Binds": ["jh-home-ada:/home/jovyan:rw"],
            "Memory": 1073741824,
            "CpuPeriod": 100000,
            "CpuQuota": 100000,
            "RestartPolicy": {"Name": "unless-stopped"},
            "PortBindings": {},
            "Links": [],
            **host_config,
        },
        "NetworkingConfig": {"EndpointsConfig": {NETWORK: {}}},
    }


def test_dockerspawners_own_request_is_allowed() -> None:
    assert refusal_of_create({"name": ["jupyter-ada"]}, spawner_request(), DEPLOYMENT, NETWORK) is None


@pytest.mark.parametrize(
    ("name", "spec", "reason"),
    [
        ("jh-hub", spawner_request(), "only user containers"),
        ("jupyter-ada", {**spawner_request(), "Labels": {}}, "must carry the label"),
        ("jupyter-ada", spawner_request(Privileged=True), "HostConfig fields not allowed: Privileged"),
        ("jupyter-ada", spawner_request(privileged=True), "HostConfig fields not allowed: privileged"),
        ("jupyter-ada", {**spawner_request(), "Privileged": True, "Binds": ["/:/host"]}, "fields not allowed: Binds, Privileged"),
        ("jupyter-ada", {**spawner_request(), "hostconfig": {"Privileged": True}}, "fields not allowed: hostconfig"),
        ("jupyter-ada", spawner_request(CapAdd=["SYS_ADMIN"]), "CapAdd"),
        ("jupyter-ada", spawner_request(PidMode="host"), "PidMode"),
        ("jupyter-ada", spawner_request(VolumesFrom=["jh-docker-api"]), "VolumesFrom"),
        ("jupyter-ada", spawner_request(MaskedPaths=[]), "MaskedPaths"),
        ("jupyter-ada", spawner_request(LogConfig={"Type": "syslog"}), "LogConfig"),
        ("jupyter-ada", spawner_request(Mounts=[{"Type": "volume", "type": "bind", "Source": "/"}]), "Mounts"),
        ("jupyter-ada", spawner_request(PortBindings={"8888/tcp": [{"HostPort": "80"}]}), "PortBindings"),
        ("jupyter-ada", spawner_request(Links=["jh-docker-api:api"]), "Links"),
        ("jupyter-ada", spawner_request(NetworkMode="host"), "must join the network"),
        ("jupyter-ada", spawner_request(NetworkMode=None), "must join the network"),
        ("jupyter-ada", spawner_request(Binds=["/:/host"]), "only the user's own home volume jh-home-ada"),
        ("jupyter-ada", spawner_request(Binds=["jh-hub-data:/x"]), "not jh-hub-data"),
        ("jupyter-ada", spawner_request(Binds=["jh-home-bob:/x"]), "not jh-home-bob"),
        ("jupyter-ada", spawner_request(Memory=0), "memory and CPU limits"),
        (
            "jupyter-ada",
            {**spawner_request(), "NetworkingConfig": {"EndpointsConfig": {NETWORK: {"Aliases": ["jh-hub"]}}}},
            "no aliases",
        ),
        ("jupyter-ada", {**spawner_request(), "NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}, "may join only"),
    ],
)
def test_dangerous_or_foreign_containers_are_refused(name: str, spec: dict[str, Any], reason: str) -> None:
    refusal = refusal_of_create({"name": [name]}, spec, DEPLOYMENT, NETWORK)
    assert refusal is not None and reason in refusal


class FakeEngine:
    """Stands in for the Docker socket: user container jupyter-ada, the hub jh-hub."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, body: bytes | None = None, headers: Any = None) -> tuple[int, dict, bytes]:
        self.calls.append((method, path))
        containers: dict[str, dict[str, Any]] = {
            "jupyter-ada": {"Name": "/jupyter-ada", "Config": {"Labels": {"org.jupyterhub-docker.deployment": DEPLOYMENT}}},
            "jh-hub": {"Name": "/jh-hub", "Config": {"Labels": {"org.jupyterhub-docker.deployment": DEPLOYMENT}}},
        }
        if path.startswith("/v1.41/containers/json?"):
            listed = [{"Id": name, "Names": [c["Name"]], "Labels": c["Config"]["Labels"]} for name, c in containers.items()]
            return 200, {"Content-Type": "application/json"}, json.dumps(listed).encode()
        for name, details in containers.items():
            if path == f"/containers/{name}/json":
                return 200, {"Content-Type": "application/json"}, json.dumps(details).encode()
        if path.startswith("/containers/"):
            return 404, {}, b'{"message": "No such container"}'
        return 200, {}, b"{}"


def request(monkeypatch: pytest.MonkeyPatch, method: str, path: str, body: bytes = b"") -> tuple[int, FakeEngine, bytes]:
    fake = FakeEngine()
    monkeypatch.setattr(api_filter, "engine", fake)
    handler = api_filter.Handler.__new__(api_filter.Handler)
    handler.command, handler.path, handler.request_version = method, path, "HTTP/1.1"
    handler.requestline = f"{method} {path} HTTP/1.1"
    handler.headers = {"Content-Length": str(len(body))} if body else {}  # type: ignore[assignment]
    handler.rfile, handler.wfile = io.BytesIO(body), io.BytesIO()
    handler.deployment, handler.network = DEPLOYMENT, NETWORK
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    handler.log_request = lambda *args: None  # type: ignore[method-assign]
    handler._handle()
    reply = handler.wfile.getvalue()
    return int(reply.split(b" ", 2)[1]), fake, reply.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1.41/version", 200),
        ("GET", "/v1.41/containers/jupyter-ada/json", 200),
        ("GET", "/v1.41/containers/jupyter-new/json", 404),
        ("POST", "/v1.41/containers/jupyter-ada/start", 200),
        ("POST", "/v1.41/containers/jupyter-ada/stop?t=5", 200),
        ("DELETE", "/v1.41/containers/jupyter-ada?v=1", 200),
        ("GET", "/v1.41/containers/jh-hub/json", 403),
        ("POST", "/v1.41/containers/jh-hub/stop", 403),
        ("POST", "/v1.41/containers/jupyter-ada/exec", 403),
        ("POST", "/v1.41/containers/jupyter-ada/kill", 403),
        ("POST", "/v1.23/containers/jupyter-ada/start", 403),
        ("POST", "/v1.41/containers/jupyter-ada%2Fexec", 403),
        ("POST", "/v1.41/build", 403),
        ("POST", "/v1.41/volumes/create", 403),
    ],
)
def test_calls_are_forwarded_only_for_this_deployments_user_containers(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, status: int
) -> None:
    assert request(monkeypatch, method, path)[0] == status


def test_a_start_with_a_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"Privileged": True, "Binds": ["/:/host"]}).encode()
    status, fake, _ = request(monkeypatch, "POST", "/v1.41/containers/jupyter-ada/start", body)
    assert status == 403 and fake.calls == []


def test_a_listing_with_an_encoded_filter_shows_only_this_deployments_user_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    path = "/v1.41/containers/json?all=0&filters=%7B%22status%22%3A+%5B%22running%22%5D%7D"
    status, fake, reply = request(monkeypatch, "GET", path)
    assert status == 200
    assert fake.calls == [("GET", path)]
    assert [c["Names"] for c in json.loads(reply)] == [["/jupyter-ada"]]
