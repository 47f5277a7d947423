"""A filtering proxy in front of the Docker socket, so the hub never holds the raw socket.

The filter (docker_api_proxy/filter.py, stdlib Python) runs in a container built
from the hub image, with the socket mounted, on an internal network that only the
hub also joins: user containers cannot reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.docker_labels import container_labels

FILTER_SOURCE = Path("docker_api_proxy/filter.py")
FILTER_PATH = "/opt/docker-api-proxy/filter.py"
DOCKER_SOCKET = "/var/run/docker.sock"
LISTEN_PORT = 2375


@dataclass(frozen=True)
class DockerApiProxyArgs:
    container_name: str
    image_ref: pulumi.Input[str]  # any image with python3: the hub's
    network_name: pulumi.Input[str]  # internal, shared with the hub alone
    user_network_name: pulumi.Input[str]  # the network user containers must join
    deployment_label: str  # user containers must carry it
    labels: dict[str, str]


class DockerApiProxy(pulumi.ComponentResource):
    url: str
    container: docker.Container

    def __init__(self, name: str, args: DockerApiProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:DockerApiProxy", name, None, opts)
        self.url = f"tcp://{args.container_name}:{LISTEN_PORT}"
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=["python3", FILTER_PATH],
            envs=[f"DEPLOYMENT={args.deployment_label}", pulumi.Output.concat("NETWORK=", args.user_network_name)],
            uploads=[docker.ContainerUploadArgs(file=FILTER_PATH, content=FILTER_SOURCE.read_text())],
            mounts=[docker.ContainerMountArgs(type="bind", source=DOCKER_SOCKET, target=DOCKER_SOCKET)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name)],
            labels=container_labels(args.labels),
            restart="unless-stopped",
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.register_outputs({"containerName": args.container_name})
