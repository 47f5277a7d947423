"""A Docker API proxy for the hub that allows only what DockerSpawner needs.

The hub holds the keys to the Docker engine: with the raw socket, anyone who
controls the hub process is root on the host. This proxy (stdlib only) listens on
the project network and forwards to the real socket only:
  - version and ping; inspecting images;
  - listing and inspecting containers;
  - creating user containers named jupyter-*, carrying the deployment label, on
    the deployment's network, unprivileged, with no added capabilities, devices,
    host namespaces or host paths (named volumes only);
  - starting, stopping, waiting for and removing those user containers.
Everything else (exec, other containers, images builds, networks, volumes, the
host's files) is refused with 403.
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
USER_CONTAINER = re.compile(r"^jupyter-[a-z0-9._-]+$")
VERSION_PREFIX = re.compile(r"^/v[0-9.]+")

READ_ONLY = [
    re.compile(p)
    for p in (r"^/_ping$", r"^/version$", r"^/images/[^/]+(/[^/]+)*/json$", r"^/containers/json$", r"^/containers/[^/]+/json$")
]
USER_CONTAINER_ACTIONS = re.compile(r"^/containers/(?P<target>[^/]+)(/(?P<action>start|stop|wait|kill))?$")
# HostConfig fields a user container may set (DockerSpawner's); any other field that is
# present (Privileged, CapAdd, Devices, VolumesFrom, PidMode, CgroupParent, Runtime,
# Sysctls, SecurityOpt, and MaskedPaths even when empty, ...) is refused.
ALLOWED_HOST_CONFIG = {
    "Binds", "Mounts", "NetworkMode", "RestartPolicy", "AutoRemove", "LogConfig", "Init", "ShmSize",
    "Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuPeriod", "CpuQuota", "CpuShares",
}  # fmt: skip
# Fields DockerSpawner always sends, allowed only empty.
EMPTY_ONLY_HOST_CONFIG = {"PortBindings", "Links"}
VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


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


def refusal_of_create(query: dict[str, list[str]], spec: dict[str, Any], deployment: str, network: str) -> str | None:
    name = query.get("name", [""])[0]
    if not USER_CONTAINER.match(name):
        return f"only user containers (jupyter-<user>) may be created, not {name!r}"
    if (spec.get("Labels") or {}).get(DEPLOYMENT_LABEL) != deployment:
        return f"user containers must carry the label {DEPLOYMENT_LABEL}={deployment}"
    host = spec.get("HostConfig") or {}
    for key, value in host.items():
        allowed = key in ALLOWED_HOST_CONFIG or (key in EMPTY_ONLY_HOST_CONFIG and not value)
        if not allowed and value is not None:
            return f"HostConfig.{key} is not allowed"
    if host.get("NetworkMode", network) != network:
        return f"user containers must join the network {network}"
    for bind in host.get("Binds") or []:
        source = bind.split(":", 1)[0]
        if not VOLUME_NAME.match(source):
            return f"host paths may not be mounted ({source})"
    for mount in host.get("Mounts") or []:
        # A volume with driver options can be a bind of any host path (o=bind, device=/).
        if mount.get("Type") != "volume" or (mount.get("VolumeOptions") or {}).get("DriverConfig"):
            return "only plain named volumes may be mounted"
    return None


def is_user_container(target: str, deployment: str) -> bool:
    status, _, body = engine("GET", f"/containers/{target}/json")
    if status != 200:
        return False
    details = json.loads(body)
    labels = details.get("Config", {}).get("Labels") or {}
    return bool(USER_CONTAINER.match(details.get("Name", "").lstrip("/"))) and labels.get(DEPLOYMENT_LABEL) == deployment


class Handler(BaseHTTPRequestHandler):
    deployment = os.environ.get("DEPLOYMENT", "")
    network = os.environ.get("NETWORK", "")

    def _forward(self, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "content-length")}
        status, response_headers, payload = engine(self.command, self.path, body, headers)
        self.send_response(status)
        for key, value in response_headers.items():
            if key.lower() in ("content-type", "api-version", "docker-experimental", "ostype"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _refuse(self, reason: str) -> None:
        payload = json.dumps({"message": f"refused by the hub's Docker API proxy: {reason}"}).encode()
        self.log_message("refused %s %s: %s", self.command, self.path, reason)
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self) -> None:
        if "%" in self.path or "/.." in self.path or self.headers.get("Transfer-Encoding"):
            return self._refuse("encoded or relative paths and chunked bodies are not accepted")
        url = urlsplit(self.path)
        path = VERSION_PREFIX.sub("", url.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command in ("GET", "HEAD") and any(p.match(path) for p in READ_ONLY):
            return self._forward(body)
        if self.command == "POST" and path == "/containers/create":
            refusal = refusal_of_create(parse_qs(url.query), json.loads(body or b"{}"), self.deployment, self.network)
            return self._refuse(refusal) if refusal else self._forward(body)
        action = USER_CONTAINER_ACTIONS.match(path)
        if action and (self.command == "DELETE") == (action.group("action") is None) and self.command in ("POST", "DELETE"):
            if is_user_container(action.group("target"), self.deployment):
                return self._forward(body)
            return self._refuse("only this deployment's user containers may be started, stopped or removed")
        return self._refuse(f"{self.command} {path} is not an API call the spawner needs")

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = _handle  # noqa: N815


def main() -> None:
    if not Handler.deployment or not Handler.network:
        sys.exit("DEPLOYMENT and NETWORK must be set")
    server = ThreadingHTTPServer(("0.0.0.0", LISTEN_PORT), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
