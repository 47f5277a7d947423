"""The Docker API filter in front of the Docker socket, so the hub never holds the raw socket.

The filter (docker_api_proxy/, stdlib Python) runs from an image of its own, so a
JupyterHub upgrade never replaces it, with the socket mounted, on an internal
network that only the hub also joins: user containers cannot reach it. What it
allows comes from the program as policy.json (see `docker_api_policy`), so a change
to the allowed images or limits is a visible diff on this container.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.health import gated_container_options, service_container_inputs
from components.names import DOCKER_SOCKET, FILTER_POLICY_PATH, FILTER_PORT

START_TIMEOUT_S = 30
HEALTH_CHECK = ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {FILTER_PORT}), timeout=4).close()"]


@dataclass(frozen=True)
class DockerApiProxyArgs:
    container_name: str
    image_ref: pulumi.Input[str]  # built from docker_api_proxy/
    network_name: pulumi.Input[str]  # internal, shared with the hub alone
    policy: pulumi.Input[dict[str, Any]]  # docker_api_proxy/policy.py Policy, as JSON (swarm mode: images by digest)
    labels: dict[str, str]
    logs: LogsConfig
    # The images the policy allows: a failed build or a missing rollback image then
    # leaves the running filter (and the hub) as they are.
    start_after: Sequence[pulumi.Resource] = ()


class DockerApiProxy(pulumi.ComponentResource):
    container: docker.Container

    def __init__(self, name: str, args: DockerApiProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:DockerApiProxy", name, None, opts)
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=[
                "python3",
                "-m",
                "docker_api_proxy.filter",
                f"--policy={FILTER_POLICY_PATH}",
                f"--port={FILTER_PORT}",
                f"--engine={DOCKER_SOCKET}",
            ],
            uploads=[
                docker.ContainerUploadArgs(
                    file=FILTER_POLICY_PATH,
                    content=pulumi.Output.from_input(args.policy).apply(lambda p: json.dumps(p, indent=2, sort_keys=True) + "\n"),
                )
            ],
            mounts=[docker.ContainerMountArgs(type="bind", source=DOCKER_SOCKET, target=DOCKER_SOCKET)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name)],
            **service_container_inputs(args.labels, args.logs, HEALTH_CHECK, START_TIMEOUT_S),
            opts=gated_container_options(self, args.start_after),
        )
        self.register_outputs({"containerName": args.container_name})
