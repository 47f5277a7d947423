"""The user-defined bridge network that joins the proxy, the hub and every user container."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass(frozen=True)
class NetworkArgs:
    # Every Network input forces a replacement, and a network with user containers
    # attached cannot be deleted: keep these inputs fixed for the life of the stack.
    name: str


class Network(pulumi.ComponentResource):
    name: str
    network: docker.Network

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Network", name, None, opts)
        self.name = args.name
        self.network = docker.Network(
            name,
            name=args.name,
            driver="bridge",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.name})
