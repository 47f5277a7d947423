"""The test Swarm (testkit/swarm_cluster.py): three Docker-in-Docker nodes, a registry the
nodes pull from, and overlay networking between nodes, on this one host."""

from __future__ import annotations

import docker
import docker.errors
import docker.types
import pytest

from testkit.endpoints import wait_until
from testkit.swarm_cluster import SwarmCluster, node_command
from tests.e2e.conftest import SWARM_NAME

NAME = SWARM_NAME
TASK_WAIT_S = 90
NETWORK_RELEASE_WAIT_S = 30


@pytest.fixture(scope="module")
def cluster(swarm_cluster: SwarmCluster) -> SwarmCluster:
    return swarm_cluster


def running_task_node(service: docker.models.services.Service) -> str:
    """The id of the node the service's task runs on, once it runs."""

    def running() -> str | None:
        return next((str(task["NodeID"]) for task in service.tasks() if task["Status"]["State"] == "running"), None)

    return wait_until(running, TASK_WAIT_S, 1, f"a running task of {service.name}")


def test_three_nodes_are_ready_and_one_manages(cluster: SwarmCluster) -> None:
    nodes = cluster.client().nodes.list()
    assert sorted(node.attrs["Description"]["Hostname"] for node in nodes) == sorted(cluster.nodes)
    assert all(node.attrs["Status"]["State"] == "ready" for node in nodes)
    managers = [node.attrs["Description"]["Hostname"] for node in nodes if node.attrs["Spec"]["Role"] == "manager"]
    assert managers == [cluster.manager]


def test_workers_pull_from_the_registry_and_services_find_each_other_across_nodes(cluster: SwarmCluster) -> None:
    manager = cluster.client()
    image = f"{cluster.registry}/probe:test"
    manager.images.get("debian:trixie-slim").tag(image)
    pushed = manager.images.push(image)
    assert '"error"' not in pushed, pushed
    network = manager.networks.create(f"{NAME}-probe", driver="overlay", attachable=True)
    dnsrr = docker.types.EndpointSpec(mode="dnsrr")  # no IPVS in this kernel: no virtual IPs
    try:
        target = manager.services.create(
            image, ["sleep", "600"], name="probe-target", networks=[network.id], endpoint_spec=dnsrr,
            constraints=[f"node.hostname == {cluster.nodes[1]}"],
        )  # fmt: skip
        asker = manager.services.create(
            image, ["sleep", "600"], name="probe-asker", networks=[network.id], endpoint_spec=dnsrr,
            constraints=[f"node.hostname == {cluster.nodes[2]}"],
        )  # fmt: skip
        hostnames = {node.id: node.attrs["Description"]["Hostname"] for node in manager.nodes.list()}
        assert hostnames[running_task_node(target)] == cluster.nodes[1]  # pulled there from the registry
        assert hostnames[running_task_node(asker)] == cluster.nodes[2]
        asker_node = cluster.nodes[2]
        asker_container = node_command(
            asker_node, "docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=probe-asker"
        ).split()[0]
        resolved = node_command(asker_node, "docker", "exec", asker_container, "getent", "hosts", "probe-target")
        assert resolved.split()[0].startswith("10."), resolved  # the target's address on the overlay network
    finally:
        for service in manager.services.list():
            service.remove()
        remove_when_unused(network)


def remove_when_unused(network: docker.models.networks.Network) -> None:
    """The removed services' tasks leave the network a few seconds later."""

    def removed() -> bool:
        try:
            network.remove()
        except docker.errors.APIError:
            return False
        return True

    wait_until(removed, NETWORK_RELEASE_WAIT_S, 1, f"{network.name} unused")
