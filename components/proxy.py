"""configurable-http-proxy in its own container: the only thing browsers talk to.

It lives apart from the hub so that replacing the hub (the only way to reload its
config) leaves routes to running notebooks untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.health import gated_container_options, service_container_inputs
from components.names import PROXY_API_PORT, PROXY_METRICS_PORT, PROXY_PORT

START_TIMEOUT_S = 30
# The image has node and nothing else: a connection to the public port is the check.
HEALTH_CHECK = [
    "/usr/bin/node",
    "-e",
    f"require('net').connect({PROXY_PORT}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))",
]
# A lookup whose answer is lost is asked again after 1 s, not glibc's 5 s (the hub's
# name, unknown while it is replaced, goes on to the host's resolvers; see
# build.proxy/lookup_cache.mjs).
DNS_OPTIONS = ["timeout:1"]


@dataclass(frozen=True)
class ProxyMetrics:
    """configurable-http-proxy's own Prometheus metrics, on PROXY_METRICS_PORT (no authentication)."""

    publish_ip: str
    publish_port: int = 0  # host port; 0: only on the deployment's networks
    network_name: pulumi.Input[str] | None = None  # the network Prometheus scrapes on


@dataclass(frozen=True)
class ProxyArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    network_name: pulumi.Input[str]
    public_ip: str
    public_port: int  # 0: not published (the TLS terminator is in front)
    hub_url: str  # e.g. http://jupyterhub-hub:8081
    auth_token: pulumi.Input[str]
    labels: dict[str, str]
    logs: LogsConfig
    metrics: ProxyMetrics | None = None


class Proxy(pulumi.ComponentResource):
    container: docker.Container

    def __init__(self, name: str, args: ProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Proxy", name, None, opts)
        command = [
            "--ip=",
            f"--port={PROXY_PORT}",
            "--api-ip=",
            f"--api-port={PROXY_API_PORT}",
            f"--default-target={args.hub_url}",
            f"--error-target={args.hub_url}/hub/error",
        ]
        ports = []
        if args.public_port:
            ports.append(docker.ContainerPortArgs(internal=PROXY_PORT, external=args.public_port, ip=args.public_ip))
        else:
            # Behind the terminator: its X-Forwarded-Proto (https) reaches the hub as it is;
            # CHP would append its own (http), and the hub reads the last one.
            command.append("--no-x-forward")
        networks = [args.network_name]
        if args.metrics is not None:
            command += ["--metrics-ip=", f"--metrics-port={PROXY_METRICS_PORT}"]
            if args.metrics.publish_port:
                ports.append(
                    docker.ContainerPortArgs(
                        internal=PROXY_METRICS_PORT, external=args.metrics.publish_port, ip=args.metrics.publish_ip
                    )
                )
            if args.metrics.network_name is not None:
                networks.append(args.metrics.network_name)
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=command,
            envs=[pulumi.Output.concat("CONFIGPROXY_AUTH_TOKEN=", args.auth_token)],
            ports=ports,
            dns_opts=DNS_OPTIONS,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network) for network in networks],
            **service_container_inputs(args.labels, args.logs, HEALTH_CHECK, START_TIMEOUT_S),
            opts=gated_container_options(self),
        )
        self.register_outputs({"containerName": args.container_name})
