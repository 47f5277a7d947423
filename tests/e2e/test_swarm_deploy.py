"""Swarm mode on the 3-node test Swarm: the program deployed with `cluster.mode: swarm`
through the provider's engine (`docker:host`, the manager), users' servers as Swarm
services spread over the nodes, reached through the proxy on the manager."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from components.names import LABEL, DeploymentNames
from testkit.endpoints import wait_for, wait_until
from testkit.harness import SERVICE, ApplyResult, Harness
from testkit.hub_user import HubUser, user_with_a_server
from testkit.program_runner import copy_project
from testkit.swarm_cluster import SwarmCluster, node_command
from tests.e2e.conftest import SWARM_PUBLIC_PORT
from tests.e2e.deployed import measure, set_stack_config

NAME = "jhe2e-sw"
NAMES = DeploymentNames(NAME)
USERS = ["ada", "bob", "cyd", "dan", "eve", "fay"]  # no character DockerSpawner escapes in service names
HUB_WAIT_S = 90


@dataclass
class SwarmDeployed:
    harness: Harness
    first_apply: ApplyResult
    base_url: str
    cluster: SwarmCluster
    project_dir: Path

    @property
    def manager(self) -> docker.DockerClient:
        return self.cluster.client()

    def node_of(self, user: str) -> str:
        """The hostname of the node running the user's server."""
        service = self.manager.services.get(NAMES.user_server(user))
        running = [t for t in service.tasks({"desired-state": "running"}) if t["Status"]["State"] == "running"]
        assert len(running) == 1, running
        return str(self.manager.nodes.get(running[0]["NodeID"]).attrs["Description"]["Hostname"])


def remove_user_services(manager: docker.DockerClient) -> None:
    """What an operator does before a destroy: users' services hold the overlay network."""
    for service in manager.services.list(filters={"label": f"{LABEL}={NAME}"}):
        if service.name.startswith("jupyter-"):
            service.remove()


@pytest.fixture(scope="module")
def swarm_deployed(swarm_cluster: SwarmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmDeployed]:
    project = tmp_path_factory.mktemp("swarm-project")
    copy_project(project)
    settings = {
        "name": NAME,
        "publicIp": "0.0.0.0",  # inside the manager; the test cluster publishes it on this host's loopback only
        "publicPort": str(SWARM_PUBLIC_PORT),
        "dockerApiProxy": False,
        "spawner": {"memLimit": "512M", "cpuLimit": "0.25"},
        "cluster": {"mode": "swarm", "registry": swarm_cluster.registry},
    }
    set_stack_config(project, settings)
    stack_file = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["docker:host"] = swarm_cluster.manager_url  # the provider's engine: the manager
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    harness = Harness(project, "dev", {}, run_id=uuid.uuid4().hex[:12])
    try:
        first = harness.up()
        measure(f"swarm: first deploy on the 3-node test Swarm (builds and pushes included): {first.seconds:.1f}s")
        base_url = f"http://127.0.0.1:{swarm_cluster.published[SWARM_PUBLIC_PORT]}"
        wait_for(f"{base_url}/hub/api/", HUB_WAIT_S)
        yield SwarmDeployed(harness, first, base_url, swarm_cluster, project)
    finally:
        manager = swarm_cluster.client()
        remove_user_services(manager)
        harness.destroy()


@pytest.fixture(scope="module")
def swarm_users(swarm_deployed: SwarmDeployed) -> dict[str, HubUser]:
    users = {}
    for name in USERS:
        started = time.monotonic()
        users[name] = user_with_a_server(swarm_deployed.base_url, name)
        measure(f"swarm: {name} signed up, logged in, server answering in {time.monotonic() - started:.1f}s")
    return users


def test_the_notebook_image_is_on_every_node_by_digest_before_the_hub_uses_it(swarm_deployed: SwarmDeployed) -> None:
    digest = swarm_deployed.first_apply.run.exports["notebookImageInUse"]
    assert digest.startswith(f"{swarm_deployed.cluster.registry}/{NAME}-notebook@sha256:")
    pre_pull = swarm_deployed.manager.services.get(NAMES.pre_pull_service("default"))
    running = [t for t in pre_pull.tasks({"desired-state": "running"}) if t["Status"]["State"] == "running"]
    assert len({t["NodeID"] for t in running}) == 3
    for node in swarm_deployed.cluster.nodes:
        assert node_command(node, "docker", "image", "inspect", "--format", "{{.Id}}", digest)
    assert swarm_deployed.first_apply.run.get(SERVICE, "pre-pull-default")


def test_six_users_are_served_from_at_least_two_nodes(swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]) -> None:
    nodes = {name: swarm_deployed.node_of(name) for name in swarm_users}
    for user in swarm_users.values():
        assert user.run_code("1+1") == "2"
    measure(f"swarm: 6 users' servers on nodes {sorted(set(nodes.values()))}")
    assert len(set(nodes.values())) >= 2, nodes
    spec = swarm_deployed.manager.services.get(NAMES.user_server(USERS[0])).attrs["Spec"]
    task = spec["TaskTemplate"]
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["Resources"]["Limits"]["MemoryBytes"] == task["Resources"]["Reservations"]["MemoryBytes"] == 512 * 1024**2
    assert task["Resources"]["Limits"]["NanoCPUs"] == task["Resources"]["Reservations"]["NanoCPUs"] == 250_000_000
    assert task["ContainerSpec"]["Image"] == swarm_deployed.first_apply.run.exports["notebookImageInUse"]
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    assert [m["Type"] for m in task["ContainerSpec"]["Mounts"]] == ["volume"]


def test_a_users_file_survives_stop_and_start_on_the_node_holding_their_home(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    user = swarm_users[USERS[1]]
    node = swarm_deployed.node_of(user.name)
    user.write_file("kept.txt", b"on one node")
    user.stop_server()
    with pytest.raises(docker.errors.NotFound):
        swarm_deployed.manager.services.get(NAMES.user_server(user.name))
    user.start_server()
    assert swarm_deployed.node_of(user.name) == node
    assert user.read_file("kept.txt") == b"on one node"


def test_no_node_left_for_a_users_home_is_a_prompt_clear_error(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    user = swarm_users[USERS[2]]
    node = swarm_deployed.node_of(user.name)
    user.stop_server()
    node_command(swarm_deployed.cluster.manager, "docker", "node", "update", "--availability", "drain", node)
    try:
        started = time.monotonic()
        response = user.api("POST", f"/hub/api/users/{user.name}/server")
        assert response.status_code in (201, 202), response.text

        def failed() -> str | None:
            model = user.model()
            return None if model["pending"] or model["servers"] else "stopped"

        wait_until(failed, 30, 0.2, f"{user.name}'s spawn to fail")
        measure(f"swarm: a spawn whose home node is drained failed after {time.monotonic() - started:.1f}s")
        page = user.api("GET", f"/hub/api/users/{user.name}/server/progress")
        assert node in page.text and "home" in page.text, page.text[-2000:]
    finally:
        node_command(swarm_deployed.cluster.manager, "docker", "node", "update", "--availability", "active", node)
    user.start_server()
    assert swarm_deployed.node_of(user.name) == node
