"""A user-defined network: the one joining the proxy, the hub and every user server (a
bridge, or in swarm mode an attachable overlay), and the internal one the hub alone
shares with the Docker API proxy."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass(frozen=True)
class NetworkArgs:
    # Every Network input forces a replacement, and a network with user containers
    # attached cannot be deleted: keep these inputs fixed for the life of the stack.
    name: str
    driver: str  # the user-server backend's; the filter's network is a bridge
    internal: bool = False  # no route out, and only the containers put on it
    attachable: bool = False  # an overlay that plain containers (proxy, hub) join beside services


class Network(pulumi.ComponentResource):
    name: str
    network: docker.Network

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Network", name, None, opts)
        self.name = args.name
        self.network = docker.Network(
            name,
            name=args.name,
            driver=args.driver,
            internal=args.internal or None,
            attachable=args.attachable or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.name})
