"""Swarm mode on the 3-node test Swarm: the program deployed with `cluster.mode: swarm`
through the provider's engine (`docker:host`, the manager), users' servers as Swarm
services spread over the nodes, reached through the proxy on the manager."""

from __future__ import annotations

import ast
import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml

from admin import swarm_home
from components.names import HUB_DATA_DIR, HUB_PORT, LABEL, NOTEBOOK_HOME, DeploymentNames
from testkit.endpoints import wait_for, wait_until
from testkit.harness import CONTAINER, SERVICE, ApplyResult, Harness
from testkit.hub_user import HubUser, user_with_a_server
from testkit.probe import Probe
from testkit.program_runner import copy_project
from testkit.swarm_cluster import ClusterError, SwarmCluster, node_command
from tests.e2e.conftest import SWARM_PUBLIC_PORT
from tests.e2e.deployed import ARTIFACTS, measure, raw_answers_from_the_hub, raw_requests_from_the_hub, set_stack_config

# Run in the hub: can it open the manager's engine port at an address, and at its gateway?
ENGINE_PROBE = """
import socket, sys
routes = [line.split() for line in open("/proc/net/route")]
gateway = next(".".join(str(b) for b in bytes.fromhex(r[2])[::-1]) for r in routes if r[1] == "00000000")
for address in (sys.argv[1], gateway):
    try:
        socket.create_connection((address, 2375), timeout=3).close()
        print("open")
    except OSError:
        print("closed")
"""
# Run in another user's kernel: can it reach the copy's sender (by its service name) while a home is moved?
SENDER_PROBE = """
import socket, time
socket.create_connection(("{hub}", {hub_port}), timeout=5).close()  # this kernel does reach services by name
reached, began = [], time.time()
while time.time() < began + 30:
    try:
        socket.create_connection(("{sender}", 7000), timeout=0.5).close()
        reached.append(time.time())
    except OSError:
        time.sleep(0.1)
(reached, began, time.time())
"""
NAME = "jhe2e-sw"
NAMES = DeploymentNames(NAME)
USERS = ["ada", "bob", "cyd", "dan", "eve", "fay"]  # no character DockerSpawner escapes in service names
HUB_WAIT_S = 90
MAX_SERVERS = 12  # spawner.maxServers: the six users' servers and those the tests add fit
LOST_SERVER_WAIT_S = 120  # node down (~15 s of missed heartbeats) plus the hub's poll (every 30 s)
READY_AGAIN_WAIT_S = 90


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

    @property
    def workers(self) -> list[str]:
        return [node for node in self.cluster.nodes if node != self.cluster.manager]

    def node_of(self, user: str) -> str:
        """The hostname of the node running the user's server."""
        service = self.manager.services.get(NAMES.user_server(user))
        tasks = service.tasks({"desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        assert len(running) == 1, (user, [t["Status"] for t in tasks])
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
        "spawner": {"memLimit": "512M", "cpuLimit": "0.25", "maxServers": MAX_SERVERS},
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
        ARTIFACTS.mkdir(exist_ok=True)
        for container in manager.containers.list(all=True, filters={"label": f"{LABEL}={NAME}"}):
            (ARTIFACTS / f"{container.name}.log").write_bytes(container.logs(tail=600))
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
    holders = {swarm_deployed.manager.nodes.get(t["NodeID"]).attrs["Description"]["Hostname"] for t in running}
    assert holders == set(swarm_deployed.workers)  # users' servers run on workers only (cluster.managersRunServers false)
    for node in swarm_deployed.workers:
        assert node_command(node, "docker", "image", "inspect", "--format", "{{.Id}}", digest)
    assert swarm_deployed.first_apply.run.get(SERVICE, "pre-pull-default")


def test_six_users_are_served_from_at_least_two_nodes(swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]) -> None:
    nodes = {name: swarm_deployed.node_of(name) for name in swarm_users}
    for user in swarm_users.values():
        assert user.run_code("1+1") == "2"
    measure(f"swarm: 6 users' servers on nodes {sorted(set(nodes.values()))}")
    assert len(set(nodes.values())) >= 2, nodes
    assert set(nodes.values()) <= set(swarm_deployed.workers), nodes  # never on the manager
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
    # pause: no new tasks there, the servers running there go on (drain would stop them)
    node_command(swarm_deployed.cluster.manager, "docker", "node", "update", "--availability", "pause", node)
    try:
        started = time.monotonic()
        response = user.api("POST", f"/hub/api/users/{user.name}/server")
        # 500 when the spawn failed within the request; else it fails while pending
        assert response.status_code in (201, 202, 500), response.text

        def failed() -> str | None:
            model = user.model()
            return None if model["pending"] or model["servers"] else "stopped"

        wait_until(failed, 30, 0.2, f"{user.name}'s spawn to fail")
        measure(f"swarm: a spawn whose home node takes no new tasks failed after {time.monotonic() - started:.1f}s")
        progress = user.api("GET", f"/hub/api/users/{user.name}/server/progress")  # what the spawn page shows
        assert "Spawn failed" in progress.text and node in progress.text and "home" in progress.text, progress.text[-2000:]
        with pytest.raises(docker.errors.NotFound):  # nothing left pending for when the node returns
            swarm_deployed.manager.services.get(NAMES.user_server(user.name))
    finally:
        node_command(swarm_deployed.cluster.manager, "docker", "node", "update", "--availability", "active", node)
    user.start_server()
    assert swarm_deployed.node_of(user.name) == node


def test_a_hub_config_reload_fails_no_request_to_servers_on_any_node(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    manager = swarm_deployed.manager
    proxy_id = manager.containers.get(NAMES.proxy_container).id
    hub_id = manager.containers.get(NAMES.hub_container).id
    nodes = {name: swarm_deployed.node_of(name) for name in swarm_users}
    probes = [
        Probe(
            f"{swarm_deployed.base_url}/user/{name}/api/status", headers={"Authorization": f"token {user.token}"}, interval_s=0.2
        )
        for name, user in swarm_users.items()
    ]
    with contextlib.ExitStack() as running:
        for probe in probes:
            running.enter_context(probe)
        time.sleep(1)
        applied = swarm_deployed.harness.up({"culler": json.dumps({"timeoutSeconds": 7200})})
        wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
        time.sleep(1)
    failed = [outcome for probe in probes for outcome in probe.failed]
    sent = sum(len(probe.outcomes) for probe in probes)
    measure(f"swarm: config reload, {len(failed)} of {sent} requests failed to servers on {sorted(set(nodes.values()))}")
    assert applied.action(CONTAINER, "hub") == "replace" and applied.action(CONTAINER, "proxy") == "same"
    assert manager.containers.get(NAMES.proxy_container).id == proxy_id
    assert manager.containers.get(NAMES.hub_container).id != hub_id
    assert all(len(probe.outcomes) > 10 for probe in probes)
    assert failed == [], failed[:5]


def test_a_new_notebook_image_is_on_every_node_before_new_servers_get_it(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    old = swarm_deployed.first_apply.run.exports["notebookImageInUse"]
    kept, restarted = swarm_users[USERS[3]], swarm_users[USERS[4]]
    dockerfile = swarm_deployed.project_dir / "build.notebook" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\nLABEL org.jupyterhub-docker.e2e-swarm-image=2\n")
    applied = swarm_deployed.harness.up()
    wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
    new = applied.run.exports["notebookImageInUse"]
    measure(f"swarm: new notebook image built, pushed and on every node in an apply of {applied.seconds:.1f}s")
    assert new != old and new.startswith(f"{swarm_deployed.cluster.registry}/{NAME}-notebook@sha256:")
    assert applied.action(SERVICE, "pre-pull-default") == "update"
    for node in swarm_deployed.cluster.nodes:
        node_command(node, "docker", "image", "inspect", "--format", "{{.Id}}", new)  # fails if missing

    def image_of(user: str) -> str:
        spec = swarm_deployed.manager.services.get(NAMES.user_server(user)).attrs["Spec"]
        return str(spec["TaskTemplate"]["ContainerSpec"]["Image"])

    assert image_of(kept.name) == old  # a running server keeps its image
    restarted.stop_server()
    restarted.start_server()
    assert image_of(restarted.name) == new


def test_the_filter_refuses_a_privileged_service_from_inside_the_hub(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    """A shell in the hub (a compromised hub) asks the manager's filter for services the
    spawner never makes: each is refused, and none exists afterwards."""
    image = swarm_deployed.first_apply.run.exports["notebookImageInUse"]
    base = {
        "Name": NAMES.user_server("mallory"),
        "Labels": NAMES.labels,
        "TaskTemplate": {
            "ContainerSpec": {"Image": image, "Args": ["sleep", "600"], "Mounts": []},
            "Resources": {"Limits": {"MemoryBytes": 2**29, "NanoCPUs": 250_000_000, "Pids": 100},
                          "Reservations": {"MemoryBytes": 2**29, "NanoCPUs": 250_000_000}},
            "RestartPolicy": {"Condition": "none"},
            "Networks": [{"Target": NAMES.network}],
        },
        "EndpointSpec": {"Mode": "dnsrr"},
    }  # fmt: skip
    container = base["TaskTemplate"]["ContainerSpec"]  # type: ignore[index]
    attacks = {
        "capabilities": {**container, "CapabilityAdd": ["ALL"]},
        "root": {**container, "User": "0"},
        "host root": {**container, "Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]},
        "docker socket": {**container, "Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s"}]},
        "hub database": {**container, "Mounts": [{"Type": "volume", "Source": NAMES.hub_data_volume, "Target": "/d"}]},
        "other image": {**container, "Image": "debian:trixie-slim"},
    }
    published = {
        **base,
        "EndpointSpec": {"Mode": "vip", "Ports": [{"TargetPort": 22, "PublishedPort": 2222, "PublishMode": "host"}]},
    }
    bodies = {name: {**base, "TaskTemplate": {**base["TaskTemplate"], "ContainerSpec": spec}} for name, spec in attacks.items()}  # type: ignore[dict-item]
    requests = {name: service_create(body) for name, body in {**bodies, "published port": published}.items()}
    for name, path in {
        "swarm join token": "/v1.41/swarm",
        "node list": "/v1.41/nodes",
        "all services": "/v1.41/services",
    }.items():
        requests[name] = f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode()
    answers = raw_requests_from_the_hub(swarm_deployed.manager, NAMES, requests)
    assert answers == {name: [403] for name in requests}, answers
    # The filter is the only way to an engine: the manager's own API is not reachable from the hub.
    node = docker.from_env().containers.get(swarm_deployed.cluster.manager)
    manager_address = node.attrs["NetworkSettings"]["Networks"][f"{swarm_deployed.cluster.name}-net"]["IPAddress"]
    hub = swarm_deployed.manager.containers.get(NAMES.hub_container)
    probe = hub.exec_run(["python3", "-c", ENGINE_PROBE, manager_address])
    assert probe.output.decode().split() == ["closed", "closed"], probe.output.decode()
    with pytest.raises(docker.errors.NotFound):
        swarm_deployed.manager.services.get(NAMES.user_server("mallory"))


def spawner_service(
    deployed: SwarmDeployed, user: str, env: list[str], constraints: tuple[str, ...] = ("node.role == worker",)
) -> dict[str, Any]:
    """A service as the deployment's spawner makes it (docker-py's body), for a shell in the hub to send."""
    log_driver = deployed.manager.services.get(NAMES.user_server(USERS[0])).attrs["Spec"]["TaskTemplate"]["LogDriver"]
    limits = {"mem_limit": 512 * 1024**2, "cpu_limit": 250_000_000}
    resources = docker.types.Resources(**limits, mem_reservation=limits["mem_limit"], cpu_reservation=limits["cpu_limit"])
    resources["Limits"]["Pids"] = 4096
    mount = docker.types.Mount(NOTEBOOK_HOME, NAMES.home_volume(user), type="volume", labels=NAMES.labels)
    pre_pull = deployed.manager.services.get(NAMES.pre_pull_service("default"))
    image = pre_pull.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]  # the one in use now
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(image, args=["sleep", "600"], env=env, mounts=[mount]),
        resources=resources,
        restart_policy=docker.types.RestartPolicy(condition="none"),
        placement=docker.types.Placement(constraints=list(constraints)),
        networks=[NAMES.network],
        log_driver=docker.types.DriverConfig(log_driver["Name"], log_driver.get("Options")),
    )
    body = {"Name": NAMES.user_server(user), "Labels": NAMES.labels, "TaskTemplate": task, "EndpointSpec": {"Mode": "dnsrr"}}
    return dict(json.loads(json.dumps(body)))


def changed_service(body: dict[str, Any], change: Any) -> dict[str, Any]:
    """A deep copy of body, changed in place by change(copy)."""
    copied = json.loads(json.dumps(body))
    change(copied)
    return dict(copied)


def dockerd_peak_kib(node: str) -> int:
    """The node's dockerd's peak resident memory (VmHWM), in KiB."""
    status = node_command(node, "sh", "-c", "cat /proc/$(pidof dockerd)/status")
    return int(re.search(r"VmHWM:\s+([0-9]+) kB", status)[1])  # type: ignore[index]


def remove_user_service(deployed: SwarmDeployed, user: str) -> None:
    """The service and its home volume, on whichever node holds it (the volume is in use until the task is gone)."""
    with contextlib.suppress(docker.errors.NotFound):
        deployed.manager.services.get(NAMES.user_server(user)).remove()
    volume = NAMES.home_volume(user)

    def removed_everywhere() -> bool:
        try:
            for node in deployed.workers:
                node_command(node, "docker", "volume", "rm", "-f", volume)
        except ClusterError:  # still in use by the ending task
            return False
        return True

    # Cleanup, not a check: a node slow to remove the ended task keeps the volume, and the
    # test Swarm's own teardown removes the nodes with their volumes.
    with contextlib.suppress(TimeoutError):
        wait_until(removed_everywhere, 120, 1, f"{volume} removed")


def test_no_template_reaches_a_field_swarm_expands(swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]) -> None:
    """A shell in the hub asks for services with Go templates in every field swarmkit expands
    (template/expand.go): each is refused, and the manager's dockerd never evaluates one; a value
    with braces that start no template passes and reaches the task's container exactly as sent."""
    base = spawner_service(swarm_deployed, "tpl", ["JUPYTERHUB_USER=tpl"])
    spec = "TaskTemplate", "ContainerSpec"

    def container(change: Any) -> Any:
        return lambda body: change(body[spec[0]][spec[1]])

    attacks = {
        "env": spawner_service(swarm_deployed, "tpl", ["PROBE={{.Node.Hostname}}/{{.Node.ID}}/{{.Task.Name}}"]),
        "env memory": spawner_service(swarm_deployed, "tpl", ['PROBE={{printf "%010000000d" 0}}']),
        "env on a worker": spawner_service(swarm_deployed, "tpl", ["PROBE={{if .Task.ID}}{{.Service.Labels}}{{end}}"]),
        "user name": spawner_service(swarm_deployed, "tpl", ["JUPYTERHUB_USER={{.Service.Name}}"]),
        "hostname": changed_service(base, container(lambda c: c.update(Hostname="{{.Node.Hostname}}"))),
        "mount source": changed_service(base, container(lambda c: c["Mounts"][0].update(Source="{{.Node.ID}}"))),
        "mount target": changed_service(base, container(lambda c: c["Mounts"][0].update(Target="/home/{{.Task.Name}}"))),
        "volume label": changed_service(
            base, container(lambda c: c["Mounts"][0]["VolumeOptions"]["Labels"].update({LABEL: "{{.Node.ID}}"}))
        ),
        "driver option": changed_service(
            base,
            container(
                lambda c: c["Mounts"][0]["VolumeOptions"].update(DriverConfig={"Name": "local", "Options": {"o": "{{.Node.ID}}"}})
            ),
        ),
        "network alias": changed_service(
            base, lambda b: b["TaskTemplate"].update(Networks=[{"Target": NAMES.network, "Aliases": ["{{.Node.ID}}"]}])
        ),
    }
    peak_before = dockerd_peak_kib(swarm_deployed.cluster.manager)
    answers = raw_answers_from_the_hub(swarm_deployed.manager, NAMES, {k: service_create(v) for k, v in attacks.items()})
    assert {name: answer["codes"] for name, answer in answers.items()} == {name: [403] for name in attacks}, answers
    for name in ("env", "env memory", "env on a worker", "user name"):
        assert "which Swarm would run as a template" in answers[name]["text"], answers[name]
    growth = dockerd_peak_kib(swarm_deployed.cluster.manager) - peak_before
    measure(f"swarm: the manager's dockerd peak memory grew {growth} KiB across the template probes (one asks ~10 MB)")
    assert growth < 4096
    with pytest.raises(docker.errors.NotFound):
        swarm_deployed.manager.services.get(NAMES.user_server("tpl"))
    # Braces that start no template: the service's spec and the container's env hold them as sent.
    env = ["JUPYTERHUB_USER=t{p}l", "PROBE=a{b}c}} { .Node.ID }"]
    plain = raw_answers_from_the_hub(
        swarm_deployed.manager, NAMES, {"plain": service_create(spawner_service(swarm_deployed, "tpl", env))}
    )
    try:
        assert plain["plain"]["codes"] == [201], plain
        service = swarm_deployed.manager.services.get(NAMES.user_server("tpl"))
        assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == [*env, "NVIDIA_VISIBLE_DEVICES=void"]

        def running_task() -> dict[str, Any] | None:
            tasks = [t for t in service.tasks() if t["Status"]["State"] == "running"]
            return tasks[0] if tasks else None

        task = wait_until(running_task, 120, 0.5, "the service's task running")
        node = swarm_deployed.manager.nodes.get(task["NodeID"]).attrs["Description"]["Hostname"]
        inspected = node_command(
            node, "docker", "inspect", "--format", "{{json .Config.Env}}", task["Status"]["ContainerStatus"]["ContainerID"]
        )
        assert [entry for entry in json.loads(inspected) if entry.split("=")[0] in ("JUPYTERHUB_USER", "PROBE")] == env
    finally:
        remove_user_service(swarm_deployed, "tpl")


def test_a_volume_of_a_homes_name_that_is_not_this_deployments_home_is_never_mounted(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    """On a worker, a volume named as a user's home but another deployment's (with a file in it),
    and on the other a local volume with bind options labelled as this deployment's: neither user's
    server starts, no container mounts either, and once an admin removes them each starts with a home of its own."""
    (first, second), planted = swarm_deployed.workers, {"ivy": "another", "jay": NAME}
    node_command(first, "docker", "volume", "create", "--label", f"{LABEL}=another", NAMES.home_volume("ivy"))
    node_command(first, "sh", "-c", f"echo theirs > /var/lib/docker/volumes/{NAMES.home_volume('ivy')}/_data/theirs.txt")
    bind = ["-o", "type=none", "-o", "o=bind", "-o", "device=/etc"]
    node_command(second, "docker", "volume", "create", *bind, "--label", f"{LABEL}={NAME}", NAMES.home_volume("jay"))
    users = {}
    try:
        for name, node in (("ivy", first), ("jay", second)):
            users[name] = user = HubUser(swarm_deployed.base_url, name, f"{name}-e2e-password")
            user.sign_up()
            user.log_in()
            response = user.api("POST", f"/hub/api/users/{name}/server")
            assert response.status_code in (201, 202, 500), response.text

            def failed(user: HubUser = user) -> str | None:
                model = user.model()
                return None if model["pending"] or model["servers"] else "stopped"

            wait_until(failed, 60, 0.2, f"{name}'s spawn to fail")
            progress = user.api("GET", f"/hub/api/users/{name}/server/progress").text
            assert "Spawn failed" in progress and f"{node} holds a volume {NAMES.home_volume(name)}" in progress, progress[-2000:]
            assert "not this deployment's home" in progress
            with pytest.raises(docker.errors.NotFound):
                swarm_deployed.manager.services.get(NAMES.user_server(name))
            assert node_command(node, "docker", "ps", "-aq", "--filter", f"volume={NAMES.home_volume(name)}") == ""
        assert planted
    finally:
        node_command(first, "docker", "volume", "rm", "-f", NAMES.home_volume("ivy"))
        node_command(second, "docker", "volume", "rm", "-f", NAMES.home_volume("jay"))
    for user in users.values():
        user.start_server()
        assert "theirs.txt" not in user.run_code("import os; os.listdir('.')")  # a home of its own
        user.stop_server()


def test_a_pin_to_the_manager_or_to_no_node_is_refused(swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]) -> None:
    manager = swarm_deployed.cluster.manager
    requests = {
        "manager": spawner_service(swarm_deployed, "pin", [], ("node.role == worker", f"node.hostname=={manager}")),
        "no such node": spawner_service(swarm_deployed, "pin", [], ("node.role == worker", "node.hostname==no-such-node")),
        "managers only": spawner_service(swarm_deployed, "pin", [], ("node.role == manager",)),
        "no placement": spawner_service(swarm_deployed, "pin", [], ()),
    }
    creates = {name: service_create(body) for name, body in requests.items()}
    # A short ID is a prefix: the engine's "ambiguous" would tell of others' services.
    short = {
        f"short ID {c}": f"GET /v1.41/services/{c} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode() for c in "0a1x"
    }
    answers = raw_answers_from_the_hub(swarm_deployed.manager, NAMES, {**creates, **short})
    assert {name: answer["codes"] for name, answer in answers.items()} == {name: [403] for name in answers}, answers
    # one answer whatever the reason: the hub learns no more of the nodes than whether its server could run there
    for name, node in (("manager", manager), ("no such node", "no-such-node")):
        assert f"your home's node {node} cannot run your server now" in answers[name]["text"], answers[name]
    with pytest.raises(docker.errors.NotFound):
        swarm_deployed.manager.services.get(NAMES.user_server("pin"))
    # A taken name: the same conflict for any holder, without the engine's text, and no check on the nodes.
    checks_before = [s for s in swarm_deployed.manager.services.list() if "-home-check-" in s.name]
    taken = raw_answers_from_the_hub(
        swarm_deployed.manager, NAMES, {"taken": service_create(spawner_service(swarm_deployed, USERS[0], []))}
    )["taken"]
    assert taken["codes"] == [409] and "already in use by another server" in taken["text"], taken
    assert checks_before == [] and not [s for s in swarm_deployed.manager.services.list() if "-home-check-" in s.name]


def test_an_admin_moves_a_users_home_to_another_node(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser], capsys: pytest.CaptureFixture[str]
) -> None:
    user = swarm_users[USERS[5]]
    source = swarm_deployed.node_of(user.name)
    target = next(node for node in swarm_deployed.workers if node != source)
    user.write_file("moved.txt", b"from one node to another")
    user.stop_server()
    command = ["--stack", "dev", "--project-dir", str(swarm_deployed.project_dir), "--user", user.name]
    # A shell in the hub plants a module in the hub's data folder (its image's working directory),
    # which the admin command's one-off container of the hub image mounts.
    hub = swarm_deployed.manager.containers.get(NAMES.hub_container)
    planted = f"import socket; open('{HUB_DATA_DIR}/planted-ran', 'a').write(socket.gethostname())"
    assert hub.exec_run(["python3", "-c", f"open('{HUB_DATA_DIR}/json.py', 'w').write({planted!r})"]).exit_code == 0
    try:
        assert swarm_home.main(command) == 0
        assert capsys.readouterr().out == f"swarm_home: {user.name}'s home: {source}\n"
        assert hub.exec_run(["test", "-e", f"{HUB_DATA_DIR}/planted-ran"]).exit_code == 1  # never ran
    finally:
        hub.exec_run(["rm", "-f", f"{HUB_DATA_DIR}/json.py", f"{HUB_DATA_DIR}/planted-ran"])
    # Meanwhile another user's kernel tries to reach the copy's sender, which hands the home to whoever connects.
    neighbour = swarm_users[USERS[0]]
    with ThreadPoolExecutor(1) as pool:
        probe = SENDER_PROBE.format(sender=f"{NAME}-from-{user.name}", hub=NAMES.hub_container, hub_port=HUB_PORT)
        tried = pool.submit(neighbour.run_code, probe, 120)
        wait_until(lambda: _kernels(neighbour), 30, 0.2, "the neighbour's kernel")
        time.sleep(5)  # its loop has begun (the kernel runs the code a moment after it is listed)
        moved_at = time.time()
        assert swarm_home.main([*command, "--move-to", target]) == 0
        copied = re.search(r"copied \S+ from \S+ to \S+ in ([0-9.]+)s", capsys.readouterr().out)
        assert copied, "no copy reported"
        reached, tried_from, tried_until = ast.literal_eval(tried.result())
    assert tried_from < moved_at and moved_at + float(copied[1]) < tried_until  # the sender lived within the tries
    assert reached == [], reached
    manager = swarm_deployed.manager
    copy_parts = (f"{NAME}-from-", f"{NAME}-to-", f"{NAME}-move-")
    assert [s.name for s in manager.services.list() if s.name.startswith(copy_parts)] == []  # the copy's services are gone
    assert [n.name for n in manager.networks.list() if n.name.startswith(copy_parts)] == []  # and its network
    wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
    user.start_server()
    assert swarm_deployed.node_of(user.name) == target
    assert user.read_file("moved.txt") == b"from one node to another"
    owner = user.run_code("import os; (os.stat('moved.txt').st_uid, os.getuid())")
    assert owner == "(1000, 1000)", owner  # owners kept: the user may still write their own files
    user.write_file("moved.txt", b"written again")
    assert swarm_home.main([*command, "--move-to", source]) == 2
    assert f"{user.name}'s server is running" in capsys.readouterr().err
    user.stop_server()
    assert swarm_home.main([*command, "--move-to", source]) == 2
    assert f"{source} already holds a home volume" in capsys.readouterr().err  # the old copy: never overwritten
    assert swarm_home.main([*command, "--release"]) == 0
    wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
    user.start_server()  # on any node
    assert user.run_code("1+1") == "2"


def test_a_stopped_worker_costs_only_its_own_users_their_servers(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    """A worker node stops (its engine killed, as in a crash): servers on the other nodes
    answer throughout; the hub reports the lost server stopped; its user's next start fails
    at once naming the node (their home is there) until the node is back, then resumes there."""
    nodes = {name: swarm_deployed.node_of(name) for name in swarm_users}
    workers = sorted({node for node in nodes.values() if node != swarm_deployed.cluster.manager})
    worker = workers[0]
    lost = swarm_users[next(name for name, node in nodes.items() if node == worker)]
    kept = {name: swarm_users[name] for name, node in nodes.items() if node != worker}
    lost.write_file("survives.txt", b"on the stopped node")
    probes = [
        Probe(f"{swarm_deployed.base_url}/user/{name}/api/status", headers={"Authorization": f"token {u.token}"}, interval_s=0.5)
        for name, u in kept.items()
    ]
    node_container = docker.from_env().containers.get(worker)

    def reported_stopped() -> bool:
        model = lost.model()
        return not model["servers"] and not model["pending"]

    try:  # the node is started again whatever fails: the scenarios after this one need it
        with contextlib.ExitStack() as running:
            for probe in probes:
                running.enter_context(probe)
            stopped = time.monotonic()
            node_container.kill()
            wait_until(reported_stopped, LOST_SERVER_WAIT_S, 1, f"the hub to report {lost.name}'s server on {worker} stopped")
            lost_after_s = time.monotonic() - stopped
            measure(f"swarm: {worker} killed; the hub reported {lost.name}'s server stopped after {lost_after_s:.1f}s")
        failed = [outcome for probe in probes for outcome in probe.failed]
        measure(f"swarm: {len(failed)} of {sum(len(p.outcomes) for p in probes)} requests failed to servers on other nodes")
        assert failed == [], failed[:5]
        assert all(probe.outcomes for probe in probes)
        response = lost.api("POST", f"/hub/api/users/{lost.name}/server")
        assert response.status_code in (201, 202, 500), response.text
        wait_until(reported_stopped, 30, 0.2, f"{lost.name}'s spawn to fail")
        progress = lost.api("GET", f"/hub/api/users/{lost.name}/server/progress")
        assert "Spawn failed" in progress.text and worker in progress.text and "home" in progress.text, progress.text[-2000:]
    finally:
        node_container.start()

        def ready_again() -> bool:
            node_container.reload()
            assert node_container.status == "running", node_container.logs(tail=5).decode(errors="replace")
            return bool(swarm_deployed.manager.nodes.get(worker).attrs["Status"]["State"] == "ready")

        wait_until(ready_again, READY_AGAIN_WAIT_S, 1, f"{worker} ready again")
    lost.start_server()
    assert swarm_deployed.node_of(lost.name) == worker
    assert lost.read_file("survives.txt") == b"on the stopped node"


def user_services(deployed: SwarmDeployed) -> list[Any]:
    return [s for s in deployed.manager.services.list(filters={"label": f"{LABEL}={NAME}"}) if s.name.startswith("jupyter-")]


def test_the_cap_on_users_servers_holds_from_a_shell_in_the_hub(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    """spawner.maxServers: the filter counts the deployment's user services, running or pending,
    and creates at once for the last place get it once."""
    extra = [f"cap{index}" for index in range(MAX_SERVERS - len(user_services(swarm_deployed)) - 1)]
    racing = ["race0", "race1", "race2"]  # each create's home check takes a second or more: they overlap

    def create_one(name: str) -> dict[str, Any]:
        return raw_answers_from_the_hub(
            swarm_deployed.manager, NAMES, {name: service_create(spawner_service(swarm_deployed, name, []))}
        )[name]

    try:
        requests = {name: service_create(spawner_service(swarm_deployed, name, [])) for name in extra}
        answers = raw_answers_from_the_hub(swarm_deployed.manager, NAMES, requests)
        assert {name: answers[name]["codes"] for name in extra} == {name: [201] for name in extra}, answers
        with ThreadPoolExecutor(len(racing)) as pool:
            raced = list(pool.map(create_one, racing))
        assert sorted(answer["codes"][0] for answer in raced) == [201, 403, 403], raced
        assert all(f"({MAX_SERVERS}, spawner.maxServers)" in a["text"] for a in raced if a["codes"] == [403]), raced
        assert len(user_services(swarm_deployed)) == MAX_SERVERS  # what the engine holds
    finally:
        for name in [*extra, *racing]:
            remove_user_service(swarm_deployed, name)


def test_a_profiles_placement_puts_its_servers_on_the_nodes_it_names(
    swarm_deployed: SwarmDeployed, swarm_users: dict[str, HubUser]
) -> None:
    """spawner.profiles[].placement on the test Swarm: a profile for a labelled worker; its server lands there
    with its limits, and a shell in the hub cannot make the profile's shape without its placement."""
    manager, labelled = swarm_deployed.manager, swarm_deployed.workers[-1]
    node = manager.nodes.get(labelled)
    spec = node.attrs["Spec"]
    node.update({**spec, "Labels": {**(spec.get("Labels") or {}), "e2e-big": "true"}})
    spawner = {"memLimit": "512M", "cpuLimit": "0.25", "maxServers": MAX_SERVERS}  # the module's, and its users' shape
    profiles = [{"name": "small"}, {"name": "big", "memLimit": "768M", "placement": ["node.labels.e2e-big == true"]}]
    user = HubUser(swarm_deployed.base_url, "gil", "gil-e2e-password")
    try:
        swarm_deployed.harness.up({"spawner": json.dumps({**spawner, "profiles": profiles})})
        wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
        user.sign_up()
        user.log_in()
        user.start_server(user_options={"profile": "big"})
        task = manager.services.get(NAMES.user_server("gil")).attrs["Spec"]["TaskTemplate"]
        assert task["Placement"]["Constraints"][:2] == ["node.role == worker", "node.labels.e2e-big == true"]
        assert task["Resources"]["Limits"]["MemoryBytes"] == 768 * 1024**2
        assert swarm_deployed.node_of("gil") == labelled

        def big_memory(body: dict[str, Any]) -> None:
            for part in ("Limits", "Reservations"):
                body["TaskTemplate"]["Resources"][part]["MemoryBytes"] = 768 * 1024**2

        unplaced = changed_service(spawner_service(swarm_deployed, "gil2", []), big_memory)
        answers = raw_requests_from_the_hub(manager, NAMES, {"big without its placement": service_create(unplaced)})
        assert answers == {"big without its placement": [403]}
        with pytest.raises(docker.errors.NotFound):
            manager.services.get(NAMES.user_server("gil2"))
    finally:
        if user.token and user.model()["servers"]:
            user.stop_server()
        swarm_deployed.harness.up()
        wait_for(f"{swarm_deployed.base_url}/hub/api/", HUB_WAIT_S)
        node = manager.nodes.get(labelled)
        spec = node.attrs["Spec"]
        node.update({**spec, "Labels": {k: v for k, v in (spec.get("Labels") or {}).items() if k != "e2e-big"}})


def _kernels(user: HubUser) -> bool:
    response = user.api("GET", f"/user/{user.name}/api/kernels")
    return response.status_code == 200 and bool(response.json())


def service_create(body: dict[str, Any]) -> bytes:
    raw = json.dumps(body).encode()
    head = "POST /v1.41/services/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n".encode() + raw
