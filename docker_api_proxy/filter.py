"""A Docker API proxy for the hub that allows only what DockerSpawner needs.

The hub holds the keys to the Docker engine: with the raw socket, anyone who
controls the hub process is root on the host. This proxy (stdlib only) listens on a
network it shares with the hub alone and forwards to the real socket only:
  - version and ping; inspecting images;
  - listing, inspecting, starting, stopping and removing this deployment's user
    containers (jupyter-*, carrying the deployment label);
  - creating such a container: known fields only (exact spelling, as the engine
    matches JSON keys without regard to case), on the deployment's network with no
    aliases, unprivileged, with memory and CPU limits, mounting only its own home
    volume.
Everything else (exec, other containers, builds, networks, volumes, request bodies
on anything but create, API versions before 1.24) is refused with 403.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCKER_SOCKET = "/var/run/docker.sock"
LISTEN_PORT = 2375
DEPLOYMENT_LABEL = "org.jupyterhub-docker.deployment"
USER_CONTAINER_PREFIX = "jupyter-"
USER_CONTAINER = re.compile(r"^jupyter-[a-z0-9._-]+$")
VERSION = re.compile(r"^/v(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?=/)")
MIN_API_VERSION = (1, 24)  # older versions let POST .../start carry a HostConfig

READ_ONLY = [re.compile(p) for p in (r"^/_ping$", r"^/version$", r"^/images/[^/]+(/[^/]+)*/json$")]
CONTAINER_CALL = re.compile(r"^/containers/(?P<target>[^/]+)(/(?P<action>json|start|stop))?$")

CREATE_FIELDS = {
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
    "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
    "Entrypoint", "NetworkDisabled", "MacAddress", "Labels", "StopSignal", "StopTimeout", "HostConfig",
    "NetworkingConfig",
}  # fmt: skip
HOST_CONFIG_FIELDS = {
    "Binds", "NetworkMode", "RestartPolicy", "AutoRemove", "Init", "ShmSize",
    "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota", "CpuShares",
}  # fmt: skip
# Fields DockerSpawner always sends, allowed only empty.
EMPTY_ONLY_HOST_CONFIG = {"PortBindings", "Links", "Mounts"}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=120)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(DOCKER_SOCKET)


def engine(
    method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = UnixConnection()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def unknown_fields(given: dict[str, Any], allowed: set[str]) -> list[str]:
    """Fields not allowed, spelled exactly (the engine would also read 'privileged' as Privileged)."""
    return sorted(key for key, value in given.items() if key not in allowed and value is not None)


def refusal_of_create(query: dict[str, list[str]], spec: dict[str, Any], deployment: str, network: str) -> str | None:
    name = query.get("name", [""])[0]
    if not USER_CONTAINER.match(name):
        return f"only user containers (jupyter-<user>) may be created, not {name!r}"
    if unknown := unknown_fields(spec, CREATE_FIELDS):
        return f"fields not allowed: {', '.join(unknown)}"
    if (spec.get("Labels") or {}).get(DEPLOYMENT_LABEL) != deployment:
        return f"user containers must carry the label {DEPLOYMENT_LABEL}={deployment}"
    host = spec.get("HostConfig") or {}
    empty_only = {key: value for key, value in host.items() if key in EMPTY_ONLY_HOST_CONFIG and not value}
    if unknown := unknown_fields({k: v for k, v in host.items() if k not in empty_only}, HOST_CONFIG_FIELDS):
        return f"HostConfig fields not allowed: {', '.join(unknown)}"
    if host.get("NetworkMode") != network:
        return f"user containers must join the network {network}"
    endpoints = (spec.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if set(endpoints) - {network} or any(endpoint for endpoint in endpoints.values()):
        return f"user containers may join only {network}, with no aliases or addresses"
    if not host.get("Memory") or not (host.get("CpuQuota") or host.get("NanoCpus")):
        return "user containers must have memory and CPU limits"
    home_volume = f"{deployment}-home-{name.removeprefix(USER_CONTAINER_PREFIX)}"
    for bind in host.get("Binds") or []:
        if bind.split(":", 1)[0] != home_volume:
            return f"only the user's own home volume {home_volume} may be mounted, not {bind.split(':', 1)[0]}"
    return None


def is_user_container(details: dict[str, Any], deployment: str) -> bool:
    labels = details.get("Config", {}).get("Labels") or {}
    return bool(USER_CONTAINER.match(details.get("Name", "").lstrip("/"))) and labels.get(DEPLOYMENT_LABEL) == deployment


def api_version_refused(path: str) -> bool:
    version = VERSION.match(path)
    return version is not None and (int(version["major"]), int(version["minor"])) < MIN_API_VERSION


class Handler(BaseHTTPRequestHandler):
    deployment = os.environ.get("DEPLOYMENT", "")
    network = os.environ.get("NETWORK", "")

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() in ("content-type", "api-version", "docker-experimental", "ostype"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "content-length")}
        self._reply(*engine(self.command, self.path, body, headers))

    def _refuse(self, reason: str) -> None:
        self.log_message("refused %s %s: %s", self.command, self.path, reason)
        payload = json.dumps({"message": f"refused by the hub's Docker API proxy: {reason}"}).encode()
        self._reply(403, {"Content-Type": "application/json"}, payload)

    def _list_user_containers(self) -> None:
        status, headers, payload = engine("GET", self.path)
        if status == 200:
            listed = [c for c in json.loads(payload) if (c.get("Labels") or {}).get(DEPLOYMENT_LABEL) == self.deployment]
            listed = [c for c in listed if any(USER_CONTAINER.match(n.lstrip("/")) for n in c.get("Names") or [])]
            payload = json.dumps(listed).encode()
        self._reply(status, headers, payload)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        # A query is percent-encoded (a listing's filters); the path must be plain.
        if "%" in url.path or "/.." in url.path or self.headers.get("Transfer-Encoding"):
            return self._refuse("encoded or relative paths and chunked bodies are not accepted")
        if api_version_refused(self.path):
            return self._refuse("API versions before 1.24 are not accepted")
        path = VERSION.sub("", url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and path == "/containers/create":
            refusal = refusal_of_create(parse_qs(url.query), json.loads(body or b"{}"), self.deployment, self.network)
            return self._refuse(refusal) if refusal else self._forward(body)
        if body:
            return self._refuse("only a create request may carry a body")
        if self.command == "GET" and any(p.match(path) for p in READ_ONLY):
            return self._forward(None)
        if self.command == "GET" and path == "/containers/json":
            return self._list_user_containers()
        call = CONTAINER_CALL.match(path)
        allowed = {"json": "GET", "start": "POST", "stop": "POST", None: "DELETE"}
        if call and allowed[call["action"]] == self.command:
            status, headers, payload = engine("GET", f"/containers/{call['target']}/json")
            if status != 200:  # e.g. 404: the spawner looks before it creates
                return self._reply(status, headers, payload)
            if not is_user_container(json.loads(payload), self.deployment):
                return self._refuse("only this deployment's user containers may be inspected, started, stopped or removed")
            return self._reply(status, headers, payload) if call["action"] == "json" else self._forward(None)
        return self._refuse(f"{self.command} {path} is not an API call the spawner needs")

    do_GET = do_POST = do_DELETE = _handle  # noqa: N815


def main() -> None:
    if not Handler.deployment or not Handler.network:
        sys.exit("DEPLOYMENT and NETWORK must be set")
    server = ThreadingHTTPServer(("0.0.0.0", LISTEN_PORT), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
