"""A Docker Swarm of N Docker-in-Docker nodes on this one host, and a registry they pull from.

    venv/bin/python -m testkit.swarm_cluster up [--name jhswarm] [--nodes 3] [--publish 8000 ...]
    venv/bin/python -m testkit.swarm_cluster down [--name jhswarm]

For trying Swarm mode locally and for the e2e tests. Each node is a container running
Debian's engine with its own /var/lib/docker (a volume), on a bridge network of the
cluster's own; node 1 is the manager, whose API (plain TCP: a test cluster) and each
`--publish` port (e.g. the hub's public port) are published on this host's 127.0.0.1
only. The registry (Debian's docker-registry, plain HTTP, no authentication) is
`<name>-registry:5000` on that network; every node's engine trusts it as an insecure
registry. The base image the project's Dockerfiles start from is
loaded into the manager, so it can build without a registry.

What this host's kernel allows (measured): `--privileged` is refused (the sandbox has
no CAP_SYS_RESOURCE), so nodes get every other capability, no seccomp or AppArmor
profile and the host's cgroups; there is no IPVS, so services need `endpoint_mode:
dnsrr` and host-mode publishing (no VIPs, no routing mesh); there is no NFS.
Everything made here carries the label CLUSTER_LABEL=<name>; `down` removes it all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from components.built_image import read_ca_certificates
from testkit.endpoints import free_loopback_port, wait_until

CLUSTER_LABEL = "org.jupyterhub-docker.swarm-test"
HERE = Path(__file__).resolve().parent
NODE_API_PORT = 2375
REGISTRY_PORT = 5000
DEFAULT_CA_CERTS = "/usr/local/share/ca-certificates"
ENGINE_WAIT_S = 60
READY_WAIT_S = 90
COMMAND_TIMEOUT_S = 120
# What a node needs instead of --privileged, which this host refuses (`docker run`
# options: systempaths=unconfined is the CLI's, it empties the masked and read-only paths).
NODE_RUN_OPTIONS = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
]


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class SwarmCluster:
    name: str
    nodes: tuple[str, ...]  # container names; the first is the manager
    manager_url: str  # tcp://127.0.0.1:<port>: the manager's engine API
    registry: str  # <name>-registry:5000, as the nodes reach it
    published: dict[int, int]  # a port of the manager -> the 127.0.0.1 port of this host it is published on

    @property
    def manager(self) -> str:
        return self.nodes[0]

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.manager_url, timeout=COMMAND_TIMEOUT_S)


def _log(message: str) -> None:
    print(f"swarm-cluster: {message}", file=sys.stderr, flush=True)


def _build(tag: str, context: Path, base_image: str, ca_certs: str, labels: dict[str, str]) -> None:
    command = ["docker", "build", "--quiet", "--tag", tag, "--build-arg", f"BASE_IMAGE={base_image}"]
    command += ["--build-arg", f"EXTRA_CA_CERTS={read_ca_certificates(ca_certs)}"]
    command += [item for key, value in labels.items() for item in ("--label", f"{key}={value}")]
    built = subprocess.run([*command, str(context)], capture_output=True, text=True, timeout=900, check=False)
    if built.returncode != 0:
        raise ClusterError(f"building {tag} failed:\n{built.stderr[-3000:]}")


def node_command(node: str, *command: str) -> str:
    """Run a command in a node's container (e.g. its `docker` CLI); its output."""
    ran = subprocess.run(["docker", "exec", node, *command], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    if ran.returncode != 0:
        raise ClusterError(f"{node}: {' '.join(command)} failed: {ran.stderr.strip()[-1000:]}")
    return ran.stdout.strip()


def _wait_for_engine(node: str) -> None:
    def answers() -> bool:
        return subprocess.run(["docker", "exec", node, "docker", "info"], capture_output=True, timeout=30).returncode == 0

    try:
        wait_until(answers, ENGINE_WAIT_S, 0.5, f"the engine in {node}")
    except TimeoutError as error:
        raise ClusterError(f"{error} (docker logs {node})") from None


def _api_for_this_host_only(manager: str, gateway: str) -> None:
    """The manager's plain-TCP API answers only what this host publishes (it arrives from the
    cluster network's gateway): containers on any node, the hub's and users' servers too,
    would otherwise reach it (as the node's address, or their bridge's gateway) past the
    deployment's Docker API filter."""
    node_command(manager, "iptables", "-I", "INPUT", "-p", "tcp", "--dport", str(NODE_API_PORT), "!", "-s", gateway,
                 "-j", "REJECT", "--reject-with", "tcp-reset")  # fmt: skip


def load_image(image: str, node: str) -> None:
    """Copy an image of this host's engine into a node's engine."""
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as save:
        loaded = subprocess.run(
            ["docker", "exec", "-i", node, "docker", "load", "--quiet"],
            stdin=save.stdout,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    if save.returncode != 0 or loaded.returncode != 0:
        raise ClusterError(f"loading {image} into {node} failed: {loaded.stderr.decode()[-1000:]}")


def up(
    name: str = "jhswarm",
    nodes: int = 3,
    base_image: str = "debian:trixie-slim",
    ca_certs: str = DEFAULT_CA_CERTS,
    publish: Sequence[int] = (),
) -> SwarmCluster:
    """Start the cluster (removing a previous one of this name first) and wait until every node is Ready."""
    if nodes < 1:
        raise ClusterError("--nodes must be at least 1")
    down(name)
    client = docker.from_env(timeout=COMMAND_TIMEOUT_S)
    labels = {CLUSTER_LABEL: name}
    node_image, registry_image = f"{name}-node:test", f"{name}-registry:test"
    _log("building the node and registry images")
    _build(node_image, HERE / "swarm_node", base_image, ca_certs, labels)
    _build(registry_image, HERE / "swarm_registry", base_image, ca_certs, labels)
    network = f"{name}-net"
    client.networks.create(network, driver="bridge", labels=labels)
    registry = f"{name}-registry:{REGISTRY_PORT}"
    client.containers.run(
        registry_image, name=f"{name}-registry", network=network, labels=labels, detach=True, restart_policy={"Name": "no"}
    )
    names = tuple(f"{name}-node-{number}" for number in range(1, nodes + 1))
    api_port = free_loopback_port()
    published = {port: free_loopback_port() for port in publish}
    for number, node in enumerate(names, 1):
        client.volumes.create(f"{node}-docker", labels=labels)
        flags = [f"--insecure-registry={registry}"]
        if number == 1:
            flags.append(f"--host=tcp://0.0.0.0:{NODE_API_PORT}")
        command = ["docker", "run", "--detach", f"--name={node}", f"--hostname={node}", f"--network={network}"]
        command += [f"--label={CLUSTER_LABEL}={name}", f"--volume={node}-docker:/var/lib/docker", *NODE_RUN_OPTIONS]
        if number == 1:
            command.append(f"--publish=127.0.0.1:{api_port}:{NODE_API_PORT}")
            command += [f"--publish=127.0.0.1:{host_port}:{port}" for port, host_port in published.items()]
        started = subprocess.run([*command, node_image, *flags], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        if started.returncode != 0:
            raise ClusterError(f"starting {node} failed: {started.stderr.strip()[-1000:]}")
    for node in names:
        _wait_for_engine(node)
    _api_for_this_host_only(names[0], client.networks.get(network).attrs["IPAM"]["Config"][0]["Gateway"])
    _log(f"{nodes} engines answer; forming the swarm")
    node_command(names[0], "docker", "swarm", "init", "--advertise-addr", "eth0")
    token = node_command(names[0], "docker", "swarm", "join-token", "--quiet", "worker")
    for node in names[1:]:
        node_command(node, "docker", "swarm", "join", "--advertise-addr", "eth0", "--token", token, f"{names[0]}:2377")
    _wait_until_ready(names[0], nodes)
    _log(f"loading {base_image} into the manager")
    load_image(base_image, names[0])
    cluster = SwarmCluster(name, names, f"tcp://127.0.0.1:{api_port}", registry, published)
    _log(f"ready: manager API {cluster.manager_url}, registry {registry} (on the nodes)")
    return cluster


def _wait_until_ready(manager: str, nodes: int) -> None:
    def all_ready() -> bool:
        return node_command(manager, "docker", "node", "ls", "--format", "{{.Status}}").split().count("Ready") == nodes

    try:
        wait_until(all_ready, READY_WAIT_S, 1, f"{nodes} Ready nodes")
    except TimeoutError as error:
        raise ClusterError(f"{error}: {node_command(manager, 'docker', 'node', 'ls')}") from None


def down(name: str = "jhswarm") -> None:
    """Remove every container, volume, network and image of the cluster `name`."""
    client = docker.from_env(timeout=COMMAND_TIMEOUT_S)
    selector = {"label": f"{CLUSTER_LABEL}={name}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
    for network in client.networks.list(filters=selector):
        network.remove()


def remove_images(name: str) -> None:
    client = docker.from_env(timeout=COMMAND_TIMEOUT_S)
    for image in client.images.list(filters={"label": f"{CLUSTER_LABEL}={name}"}):
        client.images.remove(image.id, force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.swarm_cluster", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--name", default="jhswarm")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--publish", type=int, action="append", default=[], help="a manager port to reach from here")
    parser.add_argument("--base-image", default="debian:trixie-slim")
    parser.add_argument("--ca-certs", default=DEFAULT_CA_CERTS if Path(DEFAULT_CA_CERTS).is_dir() else "")
    options = parser.parse_args(argv)
    try:
        if options.action == "up":
            cluster = up(options.name, options.nodes, options.base_image, options.ca_certs, options.publish)
            print(f"DOCKER_HOST={cluster.manager_url}  # the manager; registry for the nodes: {cluster.registry}")
            for port, host_port in cluster.published.items():
                print(f"manager port {port}: http://127.0.0.1:{host_port}/")
        else:
            down(options.name)
            remove_images(options.name)
    except (ClusterError, docker.errors.DockerException) as error:
        print(f"swarm-cluster: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
