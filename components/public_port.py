"""Refuse a publicPort that something else already holds, before the proxy is replaced.

The proxy has a fixed name, so a change is delete-before-replace: if the new port
were taken, the old proxy would already be gone. When the program runs on the
Docker host (the engine the provider uses is the local socket), try the port; if it
is busy and not held by this deployment's own proxy or TLS terminator, stop with a clear error.
"""

from __future__ import annotations

import errno
import os
import socket

import docker
import pulumi

from components.config import ConfigError, set_command

LOCAL_ENGINE = "unix:///var/run/docker.sock"


def provider_engine() -> str:
    """The engine the docker provider talks to: `docker:host` stack config, else DOCKER_HOST, else the local socket."""
    return pulumi.Config("docker").get("host") or os.environ.get("DOCKER_HOST") or LOCAL_ENGINE


def provider_client() -> docker.DockerClient:
    """A client of the provider's engine, for the pre-flight's questions."""
    return docker.DockerClient(base_url=provider_engine(), timeout=10)


def _port_holders(port: int) -> set[str]:
    client = provider_client()
    holders = set()
    for container in client.containers.list():
        for bindings in (container.attrs["HostConfig"].get("PortBindings") or {}).values():
            if any(binding.get("HostPort") == str(port) for binding in bindings or []):
                holders.add(container.name)
    return holders


def check_public_port(ip: str, port: int, ours: tuple[str, ...], key: str = "publicPort", leaving: str = "") -> None:
    """`ours`: the deployment's containers that may hold the port, since the update replaces them
    before it binds the port again. `leaving`: one the update removes, which Pulumi does only at its
    end (the TLS terminator when `tls.mode` turns off): it must not hold the port."""
    if not provider_engine().startswith("unix://"):
        return  # a remote engine: this machine's ports say nothing about its host's
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
        # Connections just closed (TIME_WAIT) do not make a port busy; only a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
            return
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return  # e.g. a privileged port for a non-root user: the engine will tell
    try:
        holders = _port_holders(port)
    except docker.errors.DockerException as error:
        pulumi.log.warn(f"publicPort {port} is in use and the Docker engine could not be asked by whom: {error}")
        return
    if holders and holders <= set(ours):
        return
    if leaving in holders:
        raise ConfigError(
            f"config '{key}' = {port}: held by {leaving}, which this update removes only after the proxy needs the "
            "port. The running deployment is left as it is. Fix: turn TLS off on another port first "
            f"({set_command(key, '<a free port>')}; pulumi up), then set {key} back and pulumi up again"
        )
    holder = ", ".join(sorted(holders - set(ours))) or "a process on this host that is not a container"
    raise ConfigError(
        f"config '{key}' = {port}: already in use on {ip} by {holder}. "
        f"The running deployment is left as it is. Fix: {set_command(key, '<a free port>')}, or free the port"
    )
