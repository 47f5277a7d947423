"""The hub's Docker API proxy lets DockerSpawner create user containers and nothing more dangerous."""

from __future__ import annotations

from typing import Any

import pytest

from docker_api_proxy.filter import READ_ONLY, USER_CONTAINER_ACTIONS, refusal_of_create

DEPLOYMENT, NETWORK = "jh", "jh"


def spawner_request(**host_config: Any) -> dict[str, Any]:
    """Roughly what DockerSpawner sends for jupyter-ada."""
    return {
        "Image": "jh-notebook:abc",
        "Labels": {"org.jupyterhub-docker.deployment": DEPLOYMENT, "hub.jupyter.org/username": "ada"},
        "HostConfig": {
            "NetworkMode": NETWORK,
            "Binds": ["jh-home-ada:/home/jovyan:rw"],
            "Memory": 1073741824,
            "RestartPolicy": {"Name": "unless-stopped"},
            "PortBindings": {},
            "Links": [],
            **host_config,
        },
    }


def test_dockerspawners_own_request_is_allowed() -> None:
    assert refusal_of_create({"name": ["jupyter-ada"]}, spawner_request(), DEPLOYMENT, NETWORK) is None


@pytest.mark.parametrize(
    ("name", "spec", "reason"),
    [
        ("jh-hub", spawner_request(), "only user containers"),
        ("jupyter-ada", {**spawner_request(), "Labels": {}}, "must carry the label"),
        ("jupyter-ada", spawner_request(Privileged=True), "HostConfig.Privileged"),
        ("jupyter-ada", spawner_request(CapAdd=["SYS_ADMIN"]), "HostConfig.CapAdd"),
        ("jupyter-ada", spawner_request(PidMode="host"), "HostConfig.PidMode"),
        ("jupyter-ada", spawner_request(Devices=[{"PathOnHost": "/dev/sda"}]), "HostConfig.Devices"),
        ("jupyter-ada", spawner_request(NetworkMode="host"), "must join the network"),
        ("jupyter-ada", spawner_request(Binds=["/:/host"]), "host paths may not be mounted (/)"),
        ("jupyter-ada", spawner_request(Binds=["../../etc:/x"]), "host paths may not be mounted"),
        ("jupyter-ada", spawner_request(Mounts=[{"Type": "bind", "Source": "/etc", "Target": "/x"}]), "only plain named volumes"),
        (
            "jupyter-ada",
            spawner_request(
                Mounts=[
                    {
                        "Type": "volume",
                        "Source": "rootfs",
                        "Target": "/x",
                        "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}},
                    }
                ]
            ),
            "only plain named volumes",
        ),
        ("jupyter-ada", spawner_request(VolumesFrom=["jh-docker-api"]), "HostConfig.VolumesFrom"),
        ("jupyter-ada", spawner_request(CgroupParent="/"), "HostConfig.CgroupParent"),
        ("jupyter-ada", spawner_request(Sysctls={"kernel.x": "1"}), "HostConfig.Sysctls"),
        (
            "jupyter-ada",
            spawner_request(MaskedPaths=[]) | {"HostConfig": {"MaskedPaths": ["/x"], "NetworkMode": NETWORK}},
            "MaskedPaths",
        ),
        ("jupyter-ada", spawner_request(PortBindings={"8888/tcp": [{"HostPort": "80"}]}), "HostConfig.PortBindings"),
        ("jupyter-ada", spawner_request(Links=["jh-docker-api:api"]), "HostConfig.Links"),
    ],
)
def test_dangerous_or_foreign_containers_are_refused(name: str, spec: dict[str, Any], reason: str) -> None:
    refusal = refusal_of_create({"name": [name]}, spec, DEPLOYMENT, NETWORK)
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize(
    "path", ["/_ping", "/version", "/containers/json", "/containers/abc/json", "/images/jh-notebook:abc/json"]
)
def test_read_only_calls_pass(path: str) -> None:
    assert any(pattern.match(path) for pattern in READ_ONLY)


@pytest.mark.parametrize("path", ["/containers/abc/exec", "/exec/1/start", "/build", "/volumes/create", "/networks/x/connect"])
def test_other_calls_match_nothing_allowed(path: str) -> None:
    assert not any(pattern.match(path) for pattern in READ_ONLY)
    assert not USER_CONTAINER_ACTIONS.match(path)
