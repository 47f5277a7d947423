"""Swarm mode's cluster-wide pieces: the manager check and the nodes users' servers may
run on (read at preview), and the images pre-pulled onto every one of those nodes.

Proxy, hub and filter stay ordinary containers on the manager the provider points at:
nothing about them changes between modes but their network, which is an attachable
overlay so that they and the users' services (on any node) share it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.built_image import RegistryLogin
from components.config import ConfigError, set_command
from components.config.cluster import PLACEMENT_CONSTRAINT
from docker_api_proxy.policy import MIN_SWARM_ENGINE as MIN_ENGINE  # one threshold for the preview and the filter

PRE_PULL_TIMEOUT = "10m"  # converge: every eligible node has pulled the image and runs its holder task
HOLDER_MEMORY_BYTES = 16 * 1024**2
HOLDER_NANO_CPUS = 10_000_000  # 0.01 CPU
NOBODY = "65534"


@dataclass(frozen=True)
class SwarmNode:
    hostname: str
    role: str
    ready: bool  # Status.State == ready
    active: bool  # Spec.Availability == active
    attributes: dict[str, str]  # constraint attribute -> value (node.labels.* and engine.labels.* included)
    engine_version: str = ""  # Description.Engine.EngineVersion


def swarm_node(node: Mapping[str, Any]) -> SwarmNode:
    """A node as the engine's /nodes lists it."""
    description, spec = node.get("Description") or {}, node.get("Spec") or {}
    platform = description.get("Platform") or {}
    attributes = {
        "node.id": node["ID"],
        "node.hostname": description.get("Hostname", ""),
        "node.role": spec.get("Role", ""),
        "node.platform.os": platform.get("OS", ""),
        "node.platform.arch": platform.get("Architecture", ""),
        **{f"node.labels.{k}": v for k, v in (spec.get("Labels") or {}).items()},
        **{f"engine.labels.{k}": v for k, v in ((description.get("Engine") or {}).get("Labels") or {}).items()},
    }
    return SwarmNode(
        attributes["node.hostname"],
        attributes["node.role"],
        (node.get("Status") or {}).get("State") == "ready",
        spec.get("Availability") == "active",
        attributes,
        str((description.get("Engine") or {}).get("EngineVersion", "")),
    )


def engine_release(version: str) -> tuple[int, int] | None:
    """(major, minor) of an engine version such as 26.1.5 or 20.10.24+dfsg1."""
    match = re.match(r"([0-9]+)\.([0-9]+)", version)
    return (int(match[1]), int(match[2])) if match else None


def satisfies(node: SwarmNode, constraints: Sequence[str]) -> bool:
    """Swarm's constraint match (swarmkit manager/constraint: values compare case-insensitively;
    `!=` holds for a node without the attribute)."""
    for constraint in constraints:
        match = PLACEMENT_CONSTRAINT.fullmatch(constraint)
        assert match is not None, constraint  # config.py refused anything else
        value = node.attributes.get(match["attribute"])
        equal = value is not None and value.casefold() == match["value"].casefold()
        if equal != (match["operator"] == "=="):
            return False
    return True


def check_swarm_manager(info: Mapping[str, Any], engine: str) -> None:
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
        return
    state = swarm.get("LocalNodeState") or "no swarm"
    role = "a worker" if swarm.get("LocalNodeState") == "active" else f"not in a swarm ({state})"
    raise ConfigError(
        f"config 'cluster.mode' = 'swarm': the Docker engine at {engine} is {role}, and only a Swarm manager can run "
        "services. Fix: `docker swarm init` on that host (then `docker swarm join` on the workers), or point the "
        "provider at a manager: pulumi config set docker:host ssh://<user>@<manager>"
    )


def eligible_nodes(nodes: Sequence[SwarmNode], constraints: Sequence[str]) -> tuple[str, ...]:
    """Hostnames of the ready, active nodes users' servers may run on; refused when there is none."""
    eligible = sorted((n for n in nodes if n.ready and n.active and satisfies(n, constraints)), key=lambda n: n.hostname)
    if not eligible:
        seen = ", ".join(
            f"{n.hostname} ({n.role}, {'ready' if n.ready else 'down'}, {'active' if n.active else 'not active'})" for n in nodes
        )
        raise ConfigError(
            f"config 'cluster.userPlacement' = {list(constraints)!r}: no ready, active node of the swarm may run users' "
            f"servers (nodes: {seen}). Fix: {set_command('cluster.userPlacement', '<constraints a node meets>')}, "
            "make a node available (docker node update --availability active <node>), or, on a swarm without workers, "
            f"{set_command('cluster.managersRunServers', 'true')}"
        )
    for node in eligible:
        release = engine_release(node.engine_version)
        if release is None or release < MIN_ENGINE:
            raise ConfigError(
                f"config 'cluster.userPlacement' = {list(constraints)!r}: node {node.hostname} may run users' servers and "
                f"runs Docker engine {node.engine_version or '(unknown)'}, which ignores a service's capability drop and "
                f"process limit (both from {'.'.join(map(str, MIN_ENGINE))}). Fix: upgrade its engine, or keep servers off it: "
                f"add 'node.hostname != {node.hostname}' to cluster.userPlacement"
            )
    return tuple(node.hostname for node in eligible)


def check_profile_placement(nodes: Sequence[SwarmNode], constraints: Sequence[str], placement: Sequence[str], key: str) -> None:
    """A profile's placement must leave a node its servers can run on (ready, active, and where users' servers may run)."""
    if not any(n.ready and n.active and satisfies(n, [*constraints, *placement]) for n in nodes):
        raise ConfigError(
            f"config '{key}' = {list(placement)!r}: no ready, active node of the swarm meets it and "
            f"cluster.userPlacement {list(constraints)!r}, so its servers could never start. Fix: label a node "
            f"(docker node update --label-add <key>=<value> <node>), or {set_command(key, '<constraints a node meets>')}"
        )


@dataclass(frozen=True)
class ImagePrePullArgs:
    service_name: str
    image: pulumi.Input[str]  # by digest
    nodes: int  # the eligible nodes: one holder task on each
    constraints: Sequence[str]  # cluster.userPlacement
    labels: dict[str, str]
    login: RegistryLogin | None = None


class ImagePrePull(pulumi.ComponentResource):
    """An image present on every node users' servers may run on, before the hub offers it.

    A replicated service of one idle task per eligible node (at most one per node) runs
    the image; `pulumi up` waits until every task runs (converge), so every node has
    pulled it. A new image updates the service in place: all tasks are replaced at once,
    and the hub's settings change only after the new image runs everywhere. The nodes
    keep the old image (rollback, and running servers, need it)."""

    service: docker.Service

    def __init__(self, name: str, args: ImagePrePullArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:ImagePrePull", name, None, opts)
        login = args.login
        self.service = docker.Service(
            name,
            name=args.service_name,
            labels=[docker.ServiceLabelArgs(label=k, value=v) for k, v in sorted(args.labels.items())],
            mode=docker.ServiceModeArgs(replicated=docker.ServiceModeReplicatedArgs(replicas=args.nodes)),
            task_spec=docker.ServiceTaskSpecArgs(
                container_spec=docker.ServiceTaskSpecContainerSpecArgs(
                    image=args.image, commands=["sleep", "infinity"], user=NOBODY, read_only=True
                ),
                placement=docker.ServiceTaskSpecPlacementArgs(constraints=list(args.constraints), max_replicas=1),
                resources=docker.ServiceTaskSpecResourcesArgs(
                    limits=docker.ServiceTaskSpecResourcesLimitsArgs(memory_bytes=HOLDER_MEMORY_BYTES, nano_cpus=HOLDER_NANO_CPUS)
                ),
            ),
            # All at once, and stop-first: a node holds one task, so a new one waits for the old.
            update_config=docker.ServiceUpdateConfigArgs(parallelism=0, order="stop-first", failure_action="pause"),
            converge_config=docker.ServiceConvergeConfigArgs(delay="1s", timeout=PRE_PULL_TIMEOUT),
            auth=docker.ServiceAuthArgs(server_address=login.server, username=login.username, password=login.password)
            if login
            else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"serviceName": args.service_name})
