"""The Docker API filter: the only process of a deployment that holds the Docker socket.

Threat model. The hub runs user-facing code (JupyterHub, authenticators, its
plugins); assume an attacker gets a shell in it. Through this filter, on a network
it shares with the hub alone, that attacker can still:
  - create user containers (`jupyter-<name>_<user>`, with this deployment's label and no other) from
    the deployment's allowed images, as the notebook user (uid 1000), with every
    capability dropped and no-new-privileges, on the deployment's network, mounting
    only that user's home volume (which the filter makes first, labelled with the
    deployment; one labelled for another deployment is refused), with memory and
    CPU limits no larger than the configured ones, publishing nothing; choose the command they start with;
  - inspect, start, stop and remove this deployment's user containers; list them;
    inspect the allowed images; read the engine's version.
  - in swarm mode (policy.json has a swarm section), the same for users' Swarm
    services: create one as the spawner makes it (the same pins, plus limits equal to
    reservations, the deployment's placement and at most a pin to one node, dnsrr,
    restart none), inspect and remove them, list their tasks, read a node's hostname.
So a compromised hub controls users' servers and their files, as JupyterHub
itself does. It cannot: run any other image, user, mount, capability, device,
namespace or network; touch the hub, proxy, filter or any other container; exec,
build, pull, or reach the network, volume, image, swarm, node, plugin or system APIs.

How it holds. Requests are parsed strictly (wire.py) and refused unless they are
one of the calls above (policy.py). The engine request is built anew from the
validated values (path, query, canonical JSON body, its own headers): no byte a
client sent reaches the engine. Every refusal is a 403 with a one-line reason, logged.
The allowed values come from the Pulumi program (policy.json, uploaded), so a
change to them is a visible diff on this container.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from docker_api_proxy.policy import (
    Call,
    CreateUserContainer,
    Forward,
    ListUserContainers,
    ListUserTasks,
    OnUserContainer,
    OnUserService,
    Policy,
    ReadNode,
    container_action,
    listing_query,
    node_summary,
    route,
    swarm_id,
    tasks_query,
    versioned,
)
from docker_api_proxy.wire import RefusedError, read_request

engine_socket = ""  # the Docker socket's path, from --engine
CLIENT_TIMEOUT_S = 30  # per read, and for an idle kept-alive connection
ENGINE_TIMEOUT_S = 60  # a stop waits up to the container's grace period
MAX_CONNECTIONS = 32
PASSED_RESPONSE_HEADERS = ("content-type", "api-version", "docker-experimental", "ostype")

Response = tuple[int, dict[str, str], bytes]


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(engine_socket)


def engine(forward: Forward) -> Response:
    """One call to the engine, on a connection of its own, from validated values only."""
    timeout = ENGINE_TIMEOUT_S + int(forward.query.get("t", 0))
    connection = _UnixConnection(timeout)
    target = forward.path + (
        "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in forward.query.items()) if forward.query else ""
    )
    body = None if forward.body is None else json.dumps(forward.body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        connection.request(forward.method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _json(details: bytes) -> Any:
    try:
        return json.loads(details)
    except ValueError:
        raise RefusedError("the engine's answer was not JSON") from None


def perform(call: Call, policy: Policy, send: Callable[[Forward], Response]) -> Response:
    """Carry out a routed call: one engine request, or a look-up and then the request."""
    if isinstance(call, Forward):
        return send(call)
    if isinstance(call, CreateUserContainer):
        status, headers, payload = send(call.home_volume_lookup)
        if status == HTTPStatus.OK and not policy.may_be_home(_json(payload)):
            raise RefusedError("the user's home volume name belongs to another deployment's volume")
        if status not in (HTTPStatus.OK, HTTPStatus.NOT_FOUND):
            return status, headers, payload
        status, headers, payload = send(call.home_volume)
        if status not in (HTTPStatus.OK, HTTPStatus.CREATED):
            return status, headers, payload
        return send(call.container)
    if isinstance(call, ListUserContainers):
        status, headers, payload = send(Forward("GET", versioned("/containers/json"), listing_query(call, policy)))
        if status == HTTPStatus.OK:
            payload = json.dumps([c for c in _json(payload) if policy.is_user_container(c)]).encode()
        return status, headers, payload
    if isinstance(call, (OnUserService, ListUserTasks, ReadNode)):
        return _perform_swarm(call, policy, send)
    assert isinstance(call, OnUserContainer)
    return _on_user_object(
        send,
        versioned(f"/containers/{call.ref}/json"),
        policy.is_user_container,
        "only this deployment's user containers may be inspected, started, stopped or removed",
        None if call.action == "inspect" else lambda details: container_action(call, details),
    )


def _on_user_object(
    send: Callable[[Forward], Response],
    inspect_path: str,
    is_ours: Callable[[Any], bool],
    refusal: str,
    action: Callable[[Any], Forward] | None,
) -> Response:
    """Inspect an object; if it is one of this deployment's users' objects, answer the
    inspect (action None) or send the action built from what was inspected."""
    status, headers, payload = send(Forward("GET", inspect_path, {}))
    if status != HTTPStatus.OK:  # e.g. 404: the spawner looks before it creates
        return status, headers, payload
    details = _json(payload)
    if not is_ours(details):
        raise RefusedError(refusal)
    if action is None:
        return status, headers, payload
    return send(action(details))


def _perform_swarm(
    call: OnUserService | ListUserTasks | ReadNode, policy: Policy, send: Callable[[Forward], Response]
) -> Response:
    if isinstance(call, ReadNode):
        status, headers, payload = send(Forward("GET", versioned(f"/nodes/{call.node_id}"), {}))
        if status == HTTPStatus.OK:
            payload = json.dumps(node_summary(_json(payload))).encode()
        return status, headers, payload
    if isinstance(call, OnUserService):
        return _on_user_object(
            send,
            versioned(f"/services/{call.ref}"),
            policy.is_user_service,
            "only this deployment's user services may be inspected or removed",
            None
            if call.action == "inspect"
            else lambda details: Forward("DELETE", versioned(f"/services/{swarm_id(details)}"), {}),
        )
    # Tasks: of this deployment's user services only (of the one asked for, if any).
    label = json.dumps({"label": [f"{policy.deployment_label}={policy.deployment}"]})
    status, headers, payload = send(Forward("GET", versioned("/services"), {"filters": label}))
    if status != HTTPStatus.OK:
        return status, headers, payload
    services = [s for s in _json(payload) if policy.is_user_service(s)]
    wanted = [swarm_id(s) for s in services if call.service is None or call.service in (s["ID"], s["Spec"]["Name"])]
    if not wanted:
        return HTTPStatus.OK, {"content-type": "application/json"}, b"[]"
    return send(Forward("GET", versioned("/tasks"), tasks_query(call, wanted)))


def _escaped(text: str, limit: int = 120) -> str:
    """One printable ASCII line: control characters (a terminal's escape sequences too) and non-ASCII escaped."""
    return text[:limit].encode("unicode_escape").decode("ascii")


class FilterHandler(socketserver.StreamRequestHandler):
    policy: Policy
    send_to_engine = staticmethod(engine)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    timeout = CLIENT_TIMEOUT_S

    def handle(self) -> None:
        if not self.slots.acquire(blocking=False):
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {}, b'{"message": "too many connections"}', keep_alive=False)
            return
        try:
            while self._one_request():
                pass
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self.slots.release()

    def _one_request(self) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            request = read_request(self.rfile)
        except RefusedError as error:  # what follows on this connection cannot be trusted to be framed right
            self._refuse("-", "-", str(error), keep_alive=False)
            return False
        if request is None:
            return False
        try:
            status, headers, payload = perform(route(request, self.policy), self.policy, self.send_to_engine)
        except RefusedError as error:
            self._refuse(request.method, request.path, str(error), request.keep_alive)
            return request.keep_alive
        except (OSError, http.client.HTTPException) as error:
            self.server_log(f"{request.method} {_escaped(request.path)} -> engine unreachable: {type(error).__name__}")
            self._reply(HTTPStatus.BAD_GATEWAY, {}, b'{"message": "the Docker engine did not answer"}', keep_alive=False)
            return False
        named = f" name={_escaped(request.query['name'], 80)}" if "name" in request.query else ""
        self.server_log(f"{request.method} {_escaped(request.path)}{named} -> {status}")
        self._reply(status, headers, payload, request.keep_alive)
        return request.keep_alive

    def _refuse(self, method: str, path: str, reason: str, keep_alive: bool) -> None:
        self.server_log(f"refused {_escaped(method, 10)} {_escaped(path)}: {_escaped(reason, 300)}")
        payload = json.dumps({"message": f"refused by the Docker API filter: {reason}"}).encode()
        self._reply(HTTPStatus.FORBIDDEN, {"Content-Type": "application/json"}, payload, keep_alive)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes, keep_alive: bool) -> None:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() in PASSED_RESPONSE_HEADERS and "\r" not in v + k]
        lines += [f"Content-Length: {len(payload)}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

    @staticmethod
    def server_log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class FilterServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv: list[str] | None = None) -> None:
    """The program starts the filter with its paths and port (components/names.py)."""
    global engine_socket
    parser = argparse.ArgumentParser(prog="docker_api_proxy.filter", description="The Docker API filter.")
    parser.add_argument("--policy", required=True, help="policy.json, written by the Pulumi program")
    parser.add_argument("--port", required=True, type=int, help="TCP port to listen on, on every address")
    parser.add_argument("--engine", required=True, help="the Docker engine's Unix socket")
    args = parser.parse_args(argv)
    try:
        FilterHandler.policy = Policy.from_document(json.loads(Path(args.policy).read_text()))
    except (OSError, ValueError) as error:
        sys.exit(f"cannot read the policy {args.policy}: {error}")
    engine_socket = args.engine
    with FilterServer(("0.0.0.0", args.port), FilterHandler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
