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
import secrets
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from docker_api_proxy import home_check
from docker_api_proxy.policy import (
    EXCLUSION,
    Call,
    CreateUserContainer,
    CreateUserService,
    Forward,
    ListUserContainers,
    ListUserTasks,
    OnUserContainer,
    OnUserService,
    Policy,
    ReadNode,
    container_action,
    excluding,
    home_check_service,
    listing_query,
    node_facts,
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
HOME_CHECK_SOURCE = Path(home_check.__file__).read_text()
HOME_CHECK_TIMEOUT_S = 20  # the image is on every eligible node (pre-pulled): a task takes ~1 s; the spawner waits 60 s
HOME_CHECK_NO_TASK_S = 3  # a check no node may run gets no task
TASK_POLL_S = 0.2
TASK_ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")
verified_homes: set[tuple[str, str]] = set()  # (node ID, volume) a node's engine said is this deployment's home
# Held from the count of users' servers to the create: creates at once cannot pass the cap together.
creating = threading.Lock()
home_checks = threading.BoundedSemaphore(4)  # one-off root tasks on every eligible node: a few at a time
NAME_IN_USE = {"message": "Conflict. The name is already in use by another server"}  # the engine's text names the holder

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
        with creating:
            return _create_user_container(call, policy, send)
    if isinstance(call, ListUserContainers):
        status, headers, payload = send(Forward("GET", versioned("/containers/json"), listing_query(call, policy)))
        if status == HTTPStatus.OK:
            payload = json.dumps([c for c in _json(payload) if policy.is_user_container(c)]).encode()
        return status, headers, payload
    if isinstance(call, (OnUserService, ListUserTasks, ReadNode)):
        return _perform_swarm(call, policy, send)
    if isinstance(call, CreateUserService):
        return _create_user_service(call, policy, send)
    assert isinstance(call, OnUserContainer)
    return _on_user_object(
        send,
        versioned(f"/containers/{call.ref}/json"),
        policy.is_user_container,
        f"No such container: {call.ref}",
        None if call.action == "inspect" else lambda details: container_action(call, details),
    )


def _on_user_object(
    send: Callable[[Forward], Response],
    inspect_path: str,
    is_ours: Callable[[Any], bool],
    not_found: str,
    action: Callable[[Any], Forward] | None,
) -> Response:
    """Inspect an object; if it is one of this deployment's users' objects, answer the
    inspect (action None) or send the action built from what was inspected. Any other
    object is answered as the engine answers a missing one: the hub learns nothing of it."""
    status, headers, payload = send(Forward("GET", inspect_path, {}))
    if status == HTTPStatus.OK and not is_ours(_json(payload)):
        return HTTPStatus.NOT_FOUND, {"content-type": "application/json"}, json.dumps({"message": not_found}).encode()
    if status != HTTPStatus.OK:  # e.g. 404: the spawner looks before it creates
        return status, headers, payload
    if action is None:
        return status, headers, payload
    return send(action(_json(payload)))


def _create_user_container(call: CreateUserContainer, policy: Policy, send: Callable[[Forward], Response]) -> Response:
    _under_the_cap(policy, send, call.name, call.user)
    status, headers, payload = send(call.home_volume_lookup)
    if status == HTTPStatus.OK and not policy.may_be_home(_json(payload)):
        raise RefusedError(
            "a volume of the user's home's name is not a home of this deployment (another deployment's label, or not "
            "the local driver with no options): it is never mounted. An admin removes or renames it"
        )
    if status not in (HTTPStatus.OK, HTTPStatus.NOT_FOUND):
        return status, headers, payload
    status, headers, payload = send(call.home_volume)
    if status not in (HTTPStatus.OK, HTTPStatus.CREATED):
        return status, headers, payload
    return _without_the_holder(send(call.container))


def _under_the_cap(policy: Policy, send: Callable[[Forward], Response], name: str, user: str) -> None:
    """Refused when the deployment, or the user, has its most servers (pending ones included)."""
    label = json.dumps({"label": [f"{policy.deployment_label}={policy.deployment}"]})
    if policy.swarm is None:
        listing, ours = Forward("GET", versioned("/containers/json"), {"all": "1", "filters": label}), policy.is_user_container
    else:
        listing, ours = Forward("GET", versioned("/services"), {"filters": label}), policy.is_user_service
    status, _, payload = send(listing)
    if status != HTTPStatus.OK:
        raise RefusedError("the engine did not list the deployment's servers, so the cap on them cannot be checked")
    listed = [found for found in _json(payload) if ours(found)]
    if len(listed) >= policy.max_servers:
        raise RefusedError(
            f"the deployment runs its most users' servers at once ({policy.max_servers}, spawner.maxServers): "
            "stop one, or raise spawner.maxServers"
        )
    if sum(1 for found in listed if policy.other_server_of(found, name) == user) >= policy.servers_per_user:
        raise RefusedError(
            f"the user runs their most servers at once ({policy.servers_per_user}, 1 + spawner.namedServers.limitPerUser): "
            "stop one of theirs, or raise the limit"
        )


def _create_user_service(call: CreateUserService, policy: Policy, send: Callable[[Forward], Response]) -> Response:
    swarm = policy.swarm
    assert swarm is not None
    _under_the_cap(policy, send, call.name, call.user)  # before the home check too: past the cap, no check runs
    status, headers, payload = send(Forward("GET", versioned("/nodes"), {}))
    if status != HTTPStatus.OK:
        return status, headers, payload
    nodes = [node_facts(node) for node in _json(payload)]
    # Managers are kept off by the placement itself (node.role == worker) unless they may run servers.
    candidates = eligible = [node for node in nodes if swarm.managers_run_servers or not node.manager]
    if call.pinned_node is not None:
        candidates = [node for node in nodes if node.hostname == call.pinned_node]
        usable = [n for n in candidates if n.available and n.engine_ok and (swarm.managers_run_servers or not n.manager)]
        if len(candidates) != 1 or not usable:  # one answer for every reason: the hub learns no more of the nodes
            raise RefusedError(
                f"your home's node {call.pinned_node} cannot run your server now (down, paused, drained, not in the swarm, "
                "or not one that may run servers). Ask an administrator to make it available again, or to move your home "
                "(docs/how-to/swarm-nodes.md, Move a user's home)"
            )
    status, _, _ = send(Forward("GET", versioned(f"/services/{call.spec['Name']}"), {}))
    if status != HTTPStatus.NOT_FOUND:  # taken (by whomever: the same answer), or the engine cannot tell: no check
        return _without_the_holder((HTTPStatus.CONFLICT, {}, b""))
    unchecked = [node.node_id for node in candidates if (node.node_id, call.home_volume) not in verified_homes]
    available = {node.node_id for node in nodes if node.available}
    answers = {}
    if unchecked:
        with home_checks:
            answers = _ask_the_nodes(call, policy, send, available)
    if foreign := [node.hostname for node in candidates if answers.get(node.node_id) == home_check.FOREIGN]:
        raise RefusedError(
            f"{foreign[0]} holds a volume {call.home_volume} that is not this deployment's home (another deployment's, "
            "or other driver options): it is never mounted. An admin removes or renames it there"
        )
    for node_id, answer in answers.items():
        if answer == home_check.OURS:
            verified_homes.add((node_id, call.home_volume))
    confirmed = {node_id for node_id, answer in answers.items() if answer in (home_check.OURS, home_check.ABSENT)}
    kept_off = [
        node.node_id for node in eligible if not node.engine_ok or (node.node_id in unchecked and node.node_id not in confirmed)
    ]
    if call.pinned_node is not None:
        if candidates[0].node_id in kept_off:
            raise RefusedError(
                f"your home on the node {call.pinned_node} could not be checked (the node's engine did not answer in "
                "time). Try again; if it goes on, an administrator looks at that node"
            )
        kept_off = []  # the pin keeps the server on its checked node
    with creating:
        _under_the_cap(policy, send, call.name, call.user)
        return _without_the_holder(send(Forward("POST", versioned("/services/create"), {}, excluding(call.spec, kept_off))))


def _without_the_holder(response: Response) -> Response:
    """A create's answer; a name conflict without the engine's text, which names (and on one host gives the ID of)
    the object that holds the name."""
    if response[0] == HTTPStatus.CONFLICT:
        return HTTPStatus.CONFLICT, {"content-type": "application/json"}, json.dumps(NAME_IN_USE).encode()
    return response


def _without_exclusions(response: Response) -> Response:
    """What the hub reads of its services and tasks, without the nodes the filter kept them off (their IDs
    would name the nodes that are down, drained or paused)."""
    status, headers, payload = response
    if status != HTTPStatus.OK:
        return response

    def shown(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: [c for c in item if not (isinstance(c, str) and c.startswith(EXCLUSION))]
                if key == "Constraints" and isinstance(item, list)
                else shown(item)
                for key, item in value.items()
            }
        return [shown(item) for item in value] if isinstance(value, list) else value

    return status, headers, json.dumps(shown(_json(payload))).encode()


def _ask_the_nodes(
    call: CreateUserService, policy: Policy, send: Callable[[Forward], Response], available: set[str]
) -> dict[str, int]:
    """node ID -> home_check's answer, from each node that could take the service and answered in time."""
    assert policy.swarm is not None
    name = f"{policy.deployment[:40]}-home-check-{secrets.token_hex(4)}"  # a service name has at most 63 characters
    check = home_check_service(call, policy, policy.swarm, name, HOME_CHECK_SOURCE)
    status, _, payload = send(Forward("POST", versioned("/services/create"), {}, check))
    if status != HTTPStatus.CREATED:
        raise RefusedError(f"the home check could not start: {_escaped(payload.decode(errors='replace'), 200)}")
    check_id = swarm_id(_json(payload))
    try:
        tasks = _ended_tasks(check_id, send, available)
    finally:
        send(Forward("DELETE", versioned(f"/services/{check_id}"), {}))
    answers = {}
    for task in tasks:
        exit_code = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ExitCode")
        node_id = task.get("NodeID")
        if isinstance(node_id, str) and type(exit_code) is int:
            answers[node_id] = exit_code
    return answers


def _ended_tasks(check_id: str, send: Callable[[Forward], Response], available: set[str]) -> list[dict[str, Any]]:
    """The check's ended tasks, once those on nodes that take new tasks have ended (or none came, or the time is up)."""
    began = time.monotonic()
    query = {"filters": json.dumps({"service": [check_id]})}
    ended: list[dict[str, Any]] = []
    while time.monotonic() < began + HOME_CHECK_TIMEOUT_S:
        status, _, payload = send(Forward("GET", versioned("/tasks"), query))
        tasks = _json(payload) if status == HTTPStatus.OK else []
        ended = [t for t in tasks if (t.get("Status") or {}).get("State") in TASK_ENDED]
        running = [t for t in tasks if t not in ended and t.get("NodeID") in available]
        if (tasks and not running) or (not tasks and time.monotonic() > began + HOME_CHECK_NO_TASK_S):
            return ended
        time.sleep(TASK_POLL_S)
    return ended


def _perform_swarm(
    call: OnUserService | ListUserTasks | ReadNode, policy: Policy, send: Callable[[Forward], Response]
) -> Response:
    if isinstance(call, ReadNode):
        status, headers, payload = send(Forward("GET", versioned(f"/nodes/{call.node_id}"), {}))
        if status == HTTPStatus.OK:
            payload = json.dumps(node_summary(_json(payload))).encode()
        return status, headers, payload
    if isinstance(call, OnUserService):
        removal = (
            None
            if call.action == "inspect"
            else lambda details: Forward("DELETE", versioned(f"/services/{swarm_id(details)}"), {})
        )
        answer = _on_user_object(
            send, versioned(f"/services/{call.ref}"), policy.is_user_service, f"service {call.ref} not found", removal
        )
        return answer if removal else _without_exclusions(answer)  # a removal's answer is empty
    # Tasks: of this deployment's user services only (of the one asked for, if any).
    label = json.dumps({"label": [f"{policy.deployment_label}={policy.deployment}"]})
    status, headers, payload = send(Forward("GET", versioned("/services"), {"filters": label}))
    if status != HTTPStatus.OK:
        return status, headers, payload
    services = [s for s in _json(payload) if policy.is_user_service(s)]
    wanted = [swarm_id(s) for s in services if call.service is None or call.service in (s["ID"], s["Spec"]["Name"])]
    if not wanted:
        return HTTPStatus.OK, {"content-type": "application/json"}, b"[]"
    return _without_exclusions(send(Forward("GET", versioned("/tasks"), tasks_query(call, wanted))))


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
