"""What the hub may ask of the Docker engine, and the engine requests built from it.

`route` maps a strictly parsed request onto one of the few calls DockerSpawner
makes, checking every part against the deployment's policy; the calls hold only
validated values, and the engine request is built from them, never copied from
the client. A user container's create body is checked against an allow-list
schema (exact key spelling, exact JSON types, no nulls but where DockerSpawner
sends them) and then written anew, with what a user container must be pinned by
the filter: the notebook user, every capability dropped, no-new-privileges, the
deployment's network, the user's own home volume, limits within the configured
ones. In swarm mode a user's server is a Swarm service: its create body is a second
schema built from the same validators and written anew the same way (and the tasks
and node reads SwarmSpawner needs are answered with this deployment's only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docker_api_proxy.wire import RefusedError, Request, parse_json

ENGINE_API_VERSION = "1.41"  # every forwarded call is read by the engine at this version
MIN_CLIENT_API_MINOR = 24  # older versions let POST .../start carry a HostConfig
MIN_MEMORY_BYTES = 6 * 1024 * 1024  # the engine's own minimum
MIN_CPU_QUOTA = 1000  # 1 ms per period, the engine's minimum; 0 would mean no limit
CONTAINER_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")

_VERSIONED = re.compile(r"/v1\.(?P<minor>[0-9]{2})(?P<rest>/.*)")
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
_CONTAINER_REF = re.compile(r"([0-9a-f]{12,64}|[a-z0-9][a-z0-9._-]{0,127})")
# A user name as DockerSpawner escapes it into names ([a-z0-9], '-' escaping the rest):
# no '_', so a template such as jupyter-<deployment>_{username} names one user only.
_ESCAPED_USER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{0,191}")
# A named server's name after its user's: DockerSpawner's escape writes '-' only before two hex digits, so
# neither an escaped user nor an escaped server name holds '--' (hub_config/spawners.py NamedServersMixin).
NAMED_SERVER_SEPARATOR = "--"
_ESCAPED_SERVER = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{0,95}")
_GPU_ID = re.compile(r"[0-9]{1,2}|(?:GPU|MIG)-[A-Za-z0-9/-]{1,80}")
GPU_DRIVER, GPU_CAPABILITIES = "nvidia", [["gpu"]]  # what DockerSpawner's device request for NVIDIA GPUs says
# The NVIDIA container toolkit's hook (root, on the host) gives a container the GPUs and driver capabilities its
# NVIDIA_* variables name, image's included, wherever `nvidia` is the default runtime: the filter alone sets them.
NVIDIA_ENV = "NVIDIA_"
NO_GPUS_ENV = "NVIDIA_VISIBLE_DEVICES=void"  # a server without GPUs; the engine names a GPU server's own (DeviceRequests)
GPU_DRIVER_CAPABILITIES_ENV = "NVIDIA_DRIVER_CAPABILITIES=compute,utility"  # CUDA and nvidia-smi, nothing more
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
_MOUNT_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]{1,64}){1,8}")
_ENV_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}=[^\x00]*", re.DOTALL)
_NO_NUL = re.compile(r"[^\x00]*", re.DOTALL)
_BOOLEAN_QUERY = {"1": True, "true": True, "True": True, "0": False, "false": False, "False": False}
_SWARM_ID = re.compile(r"[0-9a-z]{25}")  # a service, task or node ID
_NODE_HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
TASK_DESIRED_STATES = ("running", "shutdown", "accepted")
NANO_CPUS_PER_CPU = 1_000_000_000
MIN_SWARM_ENGINE = (20, 10)  # an older node's engine ignores a service's CapabilityDrop and Pids limit
# Swarm runs these as Go templates, on the leader while it validates a create and on the node
# that starts a task (swarmkit template/expand.go: ExpandContainerSpec, ExpandNetworks).
TEMPLATE_ACTION = "{{"
MAX_CONSTRAINTS = 64  # what a create may list; the deployment's, one profile's and a pin are checked exactly after
MAX_SERVICE_SPEC_BYTES = 64 * 1024  # a spec goes into every manager's Raft log; the spawner's is ~3 KiB
HOME_CHECK_SOCKET = "/var/run/docker.sock"  # the node's engine, as docker_api_proxy/home_check.py asks it
HOME_CHECK_MEMORY_BYTES = 64 * 1024**2
HOME_CHECK_PIDS = 32
EXCLUSION = "node.id!="  # how the filter keeps a service off a node (Swarm ANDs constraints)
PIN = "node.hostname=="  # how the spawner keeps a sticky home's server on its node
NOT_A_PROFILE = "the server's image, limits and placement are not those of any profile (spawner.profiles)"


@dataclass(frozen=True)
class SwarmPolicy:
    """Swarm mode: what a user's service is pinned to besides the container's rules."""

    constraints: tuple[str, ...]  # cluster.userPlacement (and `node.role == worker`), sent as they are
    sticky_homes: bool  # one more constraint may pin the server to its home's node
    volume_driver: dict[str, Any] | None  # the homes' DriverConfig {Name, Options}, options with {username}
    managers_run_servers: bool = False  # cluster.managersRunServers: a pin may name a manager

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> SwarmPolicy:
        expected: dict[str, type | tuple[type, ...]] = {
            "constraints": list,
            "stickyHomes": bool,
            "volumeDriver": (dict, type(None)),
            "managersRunServers": bool,
        }
        if set(document) != set(expected) or any(not isinstance(document[k], t) for k, t in expected.items()):
            raise ValueError(f"the policy's swarm section must have exactly these keys and types: {expected}")
        return cls(
            tuple(document["constraints"]), document["stickyHomes"], document["volumeDriver"], document["managersRunServers"]
        )

    def home_driver(self) -> tuple[str, dict[str, str]]:
        """The driver and options a home volume of this deployment has (options with {username} unformatted)."""
        if self.volume_driver is None:
            return "local", {}
        return self.volume_driver["Name"], dict(self.volume_driver.get("Options") or {})


@dataclass(frozen=True)
class Shape:
    """What a server of one profile is: its image and limits (a create must match one exactly)."""

    image: str
    memory_bytes: int
    cpu_quota: int  # of a container, per cpu_period
    nano_cpus: int  # of a Swarm service
    constraints: tuple[str, ...] = ()  # a Swarm service's, after the deployment's (the profile's placement)
    gpus: int = 0  # NVIDIA GPUs of a container, distinct ones of gpu_ids
    gpu_ids: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, document: Any) -> Shape:
        expected = {
            "image": str, "memoryBytes": int, "cpuQuota": int, "nanoCpus": int, "constraints": list, "gpus": int,
            "gpuIds": list,
        }  # fmt: skip
        if (
            not isinstance(document, dict)
            or set(document) != set(expected)
            or any(type(document[key]) is not kind for key, kind in expected.items())
        ):
            raise ValueError(f"each of the policy's shapes must have exactly these keys and types: {expected}")
        if not all(isinstance(value, str) for value in document["constraints"] + document["gpuIds"]):
            raise ValueError("a shape's constraints and GPU ids must be strings")
        if not 0 <= document["gpus"] <= len(document["gpuIds"]) or not all(_GPU_ID.fullmatch(i) for i in document["gpuIds"]):
            raise ValueError("a shape's GPUs must be ids as nvidia-smi names them, at least as many as it gives a server")
        return cls(
            document["image"], document["memoryBytes"], document["cpuQuota"], document["nanoCpus"],
            tuple(document["constraints"]), document["gpus"], tuple(document["gpuIds"]),
        )  # fmt: skip


@dataclass(frozen=True)
class SharedBind:
    """A shared volume a user container may mount (`spawner.sharedVolumes`), where and how."""

    volume: str
    path: str
    read_only: bool

    @classmethod
    def from_document(cls, document: Any) -> SharedBind:
        expected = {"volume": str, "path": str, "readOnly": bool}
        if (
            not isinstance(document, dict)
            or set(document) != set(expected)
            or any(type(document[key]) is not kind for key, kind in expected.items())
        ):
            raise ValueError(f"each of the policy's shared volumes must have exactly these keys and types: {expected}")
        if not _VOLUME_NAME.fullmatch(document["volume"]) or not _MOUNT_PATH.fullmatch(document["path"]):
            raise ValueError("a shared volume needs a volume name and an absolute path of plain folder names")
        return cls(document["volume"], document["path"], document["readOnly"])

    @property
    def bind(self) -> str:
        return f"{self.volume}:{self.path}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True)
class Policy:
    """The deployment's allowed values, written by the Pulumi program (policy.json)."""

    deployment: str  # the value of deployment_label on every user container
    deployment_label: str
    network: str  # the one network user containers join
    user_container_template: str  # "jupyter-<name>_{username}"
    home_volume_template: str  # "<name>-home-{username}"
    notebook_home: str
    notebook_user: str  # uid the notebook server runs as
    notebook_port: int
    images: frozenset[str]
    shapes: frozenset[Shape]  # one per profile (spawner.profiles)
    cpu_period: int
    max_pids: int
    log_config: dict[str, Any]  # {"Type": driver, "Config": options}: every user container's
    max_servers: int  # users' containers or services at once, pending ones included
    servers_per_user: int  # 1, or 1 + spawner.namedServers.limitPerUser: named servers are allowed
    shared_volumes: tuple[SharedBind, ...]  # each at most once in a container, with its mode
    swarm: SwarmPolicy | None = None  # swarm mode: users' servers are services

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Policy:
        expected = {
            "deployment": str, "deploymentLabel": str, "network": str, "userContainerTemplate": str,
            "homeVolumeTemplate": str, "notebookHome": str, "notebookUser": str, "notebookPort": int,
            "images": list, "shapes": list, "cpuPeriod": int, "maxPids": int,
            "logConfig": dict, "maxServers": int, "serversPerUser": int, "sharedVolumes": list, "swarm": dict,
        }  # fmt: skip
        if set(document) != set(expected) or any(type(document[k]) is not t for k, t in expected.items()):
            raise ValueError(f"the policy must have exactly these keys and types: {expected}")
        templates = (document["userContainerTemplate"], document["homeVolumeTemplate"])
        if any(template.count("{username}") != 1 for template in templates) or not document["images"]:
            raise ValueError("the policy needs container and home volume templates with {username} and at least one image")
        shapes = frozenset(Shape.from_document(shape) for shape in document["shapes"])
        if not shapes or any(shape.image not in document["images"] for shape in shapes):
            raise ValueError("the policy needs at least one shape, each of one of its images")
        shared = tuple(SharedBind.from_document(volume) for volume in document["sharedVolumes"])
        home = document["notebookHome"]
        if (
            any(
                volume.path == home or volume.volume.startswith(document["homeVolumeTemplate"].split("{username}")[0])
                for volume in shared
            )
            or len({volume.volume for volume in shared}) != len(shared)
            or len({v.path for v in shared}) != len(shared)
        ):
            raise ValueError("a shared volume must be neither a home nor at the home's path, and each volume and path once")
        return cls(
            document["deployment"], document["deploymentLabel"], document["network"], document["userContainerTemplate"],
            document["homeVolumeTemplate"], document["notebookHome"], document["notebookUser"], document["notebookPort"],
            frozenset(document["images"]), shapes, document["cpuPeriod"], document["maxPids"], document["logConfig"],
            document["maxServers"], document["serversPerUser"], shared,
            SwarmPolicy.from_document(document["swarm"]) if document["swarm"] else None,
        )  # fmt: skip

    @property
    def max_memory_bytes(self) -> int:
        return max(shape.memory_bytes for shape in self.shapes)

    @property
    def max_cpu_quota(self) -> int:
        return max(shape.cpu_quota for shape in self.shapes)

    def check_shape(self, image: str, memory_bytes: int, cpu_quota: int, gpu_ids: Sequence[str]) -> None:
        """A container's image, limits and GPUs must be one profile's, exactly (distinct GPUs of the profile's)."""
        if len(set(gpu_ids)) != len(gpu_ids) or not any(
            (image, memory_bytes, cpu_quota, len(gpu_ids)) == (s.image, s.memory_bytes, s.cpu_quota, s.gpus)
            and set(gpu_ids) <= set(s.gpu_ids)
            for s in self.shapes
        ):
            raise RefusedError(NOT_A_PROFILE)

    def service_pins(self, image: str, memory_bytes: int, nano_cpus: int, placed: Sequence[str]) -> list[str]:
        """A service's image, limits and placement (after the deployment's constraints) must be one profile's,
        exactly, followed by at most a pin to its home's node: the pin's hostname."""
        for shape in self.shapes:
            if (image, memory_bytes, nano_cpus, 0) != (shape.image, shape.memory_bytes, shape.nano_cpus, shape.gpus):
                continue
            rest = list(placed)
            if tuple(rest[: len(shape.constraints)]) != shape.constraints:
                continue
            pins = rest[len(shape.constraints) :]
            hostnames = [pin.removeprefix(PIN) for pin in pins if pin.startswith(PIN)]
            sticky = self.swarm is not None and self.swarm.sticky_homes
            if len(pins) <= 1 and len(hostnames) == len(pins) and (sticky or not pins):
                return hostnames
        raise RefusedError(NOT_A_PROFILE)

    @property
    def profile_constraints(self) -> frozenset[str]:
        return frozenset(constraint for shape in self.shapes for constraint in shape.constraints)

    def is_user_container(self, details: Mapping[str, Any]) -> bool:
        """An engine's inspect (or list entry) of one of this deployment's user containers."""
        names = [details.get("Name")] if "Name" in details else details.get("Names") or []
        labels = (details.get("Config") or {}).get("Labels") if "Config" in details else details.get("Labels")
        return (
            any(isinstance(name, str) and self.user_of(name.removeprefix("/")) is not None for name in names)
            and isinstance(labels, dict)
            and labels.get(self.deployment_label) == self.deployment
        )

    def may_be_home(self, volume: Mapping[str, Any]) -> bool:
        """An engine's inspect of a volume that is this deployment's, or no deployment's (an adopted
        one), as a home is made: the local driver with no options (bind options would mount any folder)."""
        labels = volume.get("Labels") or {}
        return (
            isinstance(labels, dict)
            and labels.get(self.deployment_label, self.deployment) == self.deployment
            and volume.get("Driver") == "local"
            and not volume.get("Options")
        )

    def is_user_service(self, details: Mapping[str, Any]) -> bool:
        """An engine's inspect (or list entry) of one of this deployment's user services."""
        spec = details.get("Spec") or {}
        name, labels = spec.get("Name"), spec.get("Labels")
        return (
            isinstance(name, str)
            and self.user_of(name) is not None
            and isinstance(labels, dict)
            and labels.get(self.deployment_label) == self.deployment
        )

    def names_a_user_object(self, ref: str, full_id: re.Pattern[str]) -> bool:
        """A reference the engine reads as one object: a full ID, or a user server's name. A short
        ID is a prefix, which the engine answers as ambiguous when it matches others' objects too."""
        return bool(full_id.fullmatch(ref)) or self.user_of(ref) is not None

    def user_of(self, container_name: str) -> str | None:
        """The (escaped) user a user container's name is for (its default server's, or with named servers
        allowed, one of theirs: `<name>--<server>`); None for any other name."""
        prefix, suffix = self.user_container_template.split("{username}")
        if not (container_name.startswith(prefix) and container_name.endswith(suffix)):
            return None
        user, separator, server = container_name[len(prefix) : len(container_name) - len(suffix)].partition(
            NAMED_SERVER_SEPARATOR
        )
        if separator and (self.servers_per_user == 1 or not _ESCAPED_SERVER.fullmatch(server)):
            return None
        return user if _ESCAPED_USER.fullmatch(user) else None

    def other_server_of(self, listed: Mapping[str, Any], name: str) -> str | None:
        """The user of an engine's list entry of a user container or service, unless it is named `name`
        (a create of a taken name is the engine's conflict, not another server)."""
        given = [(listed.get("Spec") or {}).get("Name")] if "Spec" in listed else listed.get("Names") or []
        names = [found.removeprefix("/") for found in given if isinstance(found, str)]
        if name in names:
            return None
        return next((user for found in names if (user := self.user_of(found)) is not None), None)


# --- the calls a request may become --------------------------------------------------


@dataclass(frozen=True)
class Forward:
    """Send this to the engine and return its answer."""

    method: str
    path: str  # with the engine's API version prefix where the engine needs one
    query: dict[str, str]
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class CreateUserContainer:
    """Look the user's home volume up: one labelled for another deployment is refused.
    Then make it, labelled with the deployment (the engine keeps an existing one as it
    is: an adopted deployment's volumes carry no label), and create the container."""

    home_volume_lookup: Forward
    home_volume: Forward
    container: Forward
    name: str
    user: str  # escaped, as in the name


@dataclass(frozen=True)
class CreateUserService:
    """Under the cap of servers, on a node that exists (and may run servers, if pinned) and
    whose engine said the home there is this deployment's or not there yet (home_check.py);
    every node that did not say so is excluded from the service's placement."""

    spec: dict[str, Any]  # written anew
    home_volume: str
    pinned_node: str | None  # the hostname of a sticky home's node
    user: str  # escaped, as in the name

    @property
    def name(self) -> str:
        return str(self.spec["Name"])


@dataclass(frozen=True)
class OnUserContainer:
    """Inspect `ref`; if it is this deployment's user container, do `action` on its full ID."""

    action: str  # inspect | start | stop | remove
    ref: str
    query: dict[str, str]


@dataclass(frozen=True)
class ListUserContainers:
    all: bool
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class OnUserService:
    """Inspect service `ref`; if it is this deployment's user service, do `action` (inspect | remove) on its ID."""

    action: str
    ref: str


@dataclass(frozen=True)
class ListUserTasks:
    """Tasks of this deployment's user services (one service's, when `service` is set) in these desired states."""

    service: str | None
    desired_states: tuple[str, ...]


@dataclass(frozen=True)
class ReadNode:
    """A node's ID and hostname (where a sticky home lives), nothing else of it."""

    node_id: str


Call = (
    Forward
    | CreateUserContainer
    | CreateUserService
    | OnUserContainer
    | ListUserContainers
    | OnUserService
    | ListUserTasks
    | ReadNode
)


def versioned(path: str) -> str:
    return f"/v{ENGINE_API_VERSION}{path}"


def route(request: Request, policy: Policy) -> Call:
    """The call a request becomes, or RefusedError with the reason."""
    method, path = request.method, request.path
    if method == "GET" and path in ("/_ping", "/version") and not request.query and not request.body:
        return Forward("GET", path, {})
    version = _VERSIONED.fullmatch(path)
    if version is None or int(version["minor"]) < MIN_CLIENT_API_MINOR:
        raise RefusedError(f"calls need an API version prefix from v1.{MIN_CLIENT_API_MINOR} (e.g. /v1.41/...)")
    rest = version["rest"]
    # In swarm mode users' servers are services only: no container call passes (a
    # container would run on the manager, outside the placement and the reservations).
    containers = policy.swarm is None
    if containers and method == "POST" and rest == "/containers/create":
        query, body, home_volume = _container_create(request, policy)
        volume = {"Name": home_volume, "Labels": {policy.deployment_label: policy.deployment}}
        user = policy.user_of(query["name"])
        assert user is not None  # _container_create refused any other name
        return CreateUserContainer(
            Forward("GET", versioned(f"/volumes/{home_volume}"), {}),
            Forward("POST", versioned("/volumes/create"), {}, volume),
            Forward("POST", versioned("/containers/create"), query, body),
            query["name"],
            user,
        )
    if method == "POST" and rest == "/services/create" and policy.swarm is not None:
        if request.query:
            raise RefusedError("a service create takes no query parameters")
        return _service_create(request, policy, policy.swarm)
    if request.body:
        raise RefusedError("only a container or service create may carry a body")
    if policy.swarm is not None and (swarm_call := _swarm_read(method, rest, request.query, policy)) is not None:
        return swarm_call
    if containers and method == "GET" and rest == "/containers/json":
        return _listing(request.query)
    parts = rest.split("/")  # ["", "containers", ref, action?]
    if method == "GET" and len(parts) >= 4 and parts[1] == "images" and parts[-1] == "json":
        image = "/".join(parts[2:-1])
        if image not in policy.images or request.query:
            raise RefusedError("only the deployment's notebook images may be inspected, with no query")
        return Forward("GET", versioned(f"/images/{image}/json"), {})
    if containers and len(parts) in (3, 4) and parts[1] == "containers" and policy.names_a_user_object(parts[2], _CONTAINER_ID):
        action = _CONTAINER_ACTIONS.get((method, parts[3] if len(parts) == 4 else None))
        if action is not None:
            return OnUserContainer(action, parts[2], _CONTAINER_QUERIES[action](request.query))
    raise RefusedError(f"{method} {rest[:80]} is not a call the spawner needs")


def _swarm_read(method: str, rest: str, query: Mapping[str, str], policy: Policy) -> Call | None:
    """What SwarmSpawner reads and removes: its services, their tasks, a node's hostname."""
    parts = rest.split("/")
    service = len(parts) == 3 and parts[1] == "services" and policy.names_a_user_object(parts[2], _SWARM_ID)
    if service and method in ("GET", "DELETE"):
        _no_query(query)
        return OnUserService("inspect" if method == "GET" else "remove", parts[2])
    if method == "GET" and rest == "/tasks":
        if set(query) - {"filters"}:
            raise RefusedError("a task listing takes only filters")
        filters = _object(
            {
                "service": _list(_text(_CONTAINER_REF, 128), 1),
                "desired-state": _list(_one_of(*TASK_DESIRED_STATES), len(TASK_DESIRED_STATES)),
            }
        )(parse_json(query.get("filters", "{}").encode()), "filters")
        services = filters.get("service") or [None]
        return ListUserTasks(services[0], tuple(filters.get("desired-state", ())))
    if method == "GET" and len(parts) == 3 and parts[1] == "nodes" and _SWARM_ID.fullmatch(parts[2]):
        _no_query(query)
        return ReadNode(parts[2])
    return None


def tasks_query(call: ListUserTasks, service_ids: Sequence[str]) -> dict[str, str]:
    filters: dict[str, list[str]] = {"service": list(service_ids)}
    if call.desired_states:
        filters["desired-state"] = list(call.desired_states)
    return {"filters": json.dumps(filters, sort_keys=True)}


def swarm_id(details: Mapping[str, Any]) -> str:
    """The ID in an engine's inspect of a service, checked before it goes into a path."""
    found = details.get("ID")
    if not isinstance(found, str) or not _SWARM_ID.fullmatch(found):
        raise RefusedError("the engine's inspect did not give a Swarm ID")
    return found


@dataclass(frozen=True)
class NodeFacts:
    node_id: str
    hostname: str
    manager: bool
    available: bool  # ready and active: it takes new tasks
    engine_ok: bool  # an engine that applies a service's CapabilityDrop and Pids limit


def node_facts(details: Mapping[str, Any]) -> NodeFacts:
    """A node of the engine's /nodes listing, checked before its ID goes into a constraint."""
    summary = node_summary(details)
    spec = details.get("Spec") or {}
    if spec.get("Role") not in ("worker", "manager"):
        raise RefusedError("the engine's node listing did not give a node's role")
    available = spec.get("Availability") == "active" and (details.get("Status") or {}).get("State") == "ready"
    version = ((details.get("Description") or {}).get("Engine") or {}).get("EngineVersion")
    release = re.match(r"([0-9]+)\.([0-9]+)\.", version) if isinstance(version, str) else None
    engine_ok = release is not None and (int(release[1]), int(release[2])) >= MIN_SWARM_ENGINE
    return NodeFacts(summary["ID"], summary["Description"]["Hostname"], spec["Role"] == "manager", available, engine_ok)


def node_summary(details: Mapping[str, Any]) -> dict[str, Any]:
    node_id, hostname = details.get("ID"), (details.get("Description") or {}).get("Hostname")
    if not (isinstance(node_id, str) and _SWARM_ID.fullmatch(node_id) and isinstance(hostname, str)):
        raise RefusedError("the engine's node inspect did not give an ID and a hostname")
    return {"ID": node_id, "Description": {"Hostname": hostname}}


def _no_query(query: Mapping[str, str]) -> dict[str, str]:
    if query:
        raise RefusedError("this call takes no query parameters")
    return {}


def _stop_query(query: Mapping[str, str]) -> dict[str, str]:
    if set(query) - {"t"} or ("t" in query and not re.fullmatch(r"[0-9]{1,3}", query["t"])):
        raise RefusedError("a stop takes only t, seconds from 0 to 999")
    return {"t": str(int(query["t"]))} if "t" in query else {}


def _remove_query(query: Mapping[str, str]) -> dict[str, str]:
    if set(query) - {"v", "force", "link"} or any(value not in _BOOLEAN_QUERY for value in query.values()):
        raise RefusedError("a remove takes only v, force and link, each true or false")
    if _BOOLEAN_QUERY[query.get("link", "0")]:
        raise RefusedError("link=true (remove a link, not the container) is not accepted")
    return {name: "1" if _BOOLEAN_QUERY[query.get(name, "0")] else "0" for name in ("v", "force")}


_CONTAINER_ACTIONS = {
    ("GET", "json"): "inspect",
    ("POST", "start"): "start",
    ("POST", "stop"): "stop",
    ("DELETE", None): "remove",
}
_CONTAINER_QUERIES: dict[str, Callable[[Mapping[str, str]], dict[str, str]]] = {
    "inspect": _no_query,
    "start": _no_query,
    "stop": _stop_query,
    "remove": _remove_query,
}


def _listing(query: Mapping[str, str]) -> ListUserContainers:
    if set(query) - {"all", "limit", "size", "trunc_cmd", "filters"}:
        raise RefusedError("a listing takes only all, limit, size, trunc_cmd and filters")
    if any(query.get(flag, "0") not in ("0", "1") for flag in ("all", "size", "trunc_cmd")) or query.get("limit", "-1") != "-1":
        raise RefusedError("a listing's all, size and trunc_cmd must be 0 or 1, and limit -1")
    filters = _object({"status": _list(_one_of(*CONTAINER_STATUSES), len(CONTAINER_STATUSES))})(
        parse_json(query.get("filters", "{}").encode()), "filters"
    )
    return ListUserContainers(query.get("all") == "1", tuple(filters.get("status", ())))


def listing_query(call: ListUserContainers, policy: Policy) -> dict[str, str]:
    filters: dict[str, list[str]] = {"label": [f"{policy.deployment_label}={policy.deployment}"]}
    if call.statuses:
        filters["status"] = list(call.statuses)
    return {"all": "1" if call.all else "0", "filters": json.dumps(filters, sort_keys=True)}


def container_action(call: OnUserContainer, details: Mapping[str, Any]) -> Forward:
    """The engine call for an inspected user container, addressed by its full ID."""
    container_id = details.get("Id")
    if not isinstance(container_id, str) or not _CONTAINER_ID.fullmatch(container_id):
        raise RefusedError("the engine's inspect did not give a container ID")
    method, suffix = {"start": ("POST", "/start"), "stop": ("POST", "/stop"), "remove": ("DELETE", "")}[call.action]
    return Forward(method, versioned(f"/containers/{container_id}{suffix}"), call.query)


# --- an allow-list schema for JSON objects -------------------------------------------

Validator = Callable[[Any, str], Any]  # (value, where it is) -> the value to use; raises RefusedError


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # 1, 1.0 and true stay different


def _one_of(*allowed: Any) -> Validator:
    canonical = {_canonical(value) for value in allowed}

    def check(value: Any, where: str) -> Any:
        if _canonical(value) not in canonical:
            raise RefusedError(f"{where} has a value that is not allowed here")
        return value

    return check


def _text(pattern: re.Pattern[str], max_length: int) -> Validator:
    def check(value: Any, where: str) -> str:
        if type(value) is not str or len(value) > max_length or not pattern.fullmatch(value):
            raise RefusedError(f"{where} must be a string of the allowed form")
        return value

    return check


def _integer(low: int, high: int) -> Validator:
    def check(value: Any, where: str) -> int:
        if type(value) is not int or not low <= value <= high:
            raise RefusedError(f"{where} must be a whole number from {low} to {high}")
        return value

    return check


def _boolean(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise RefusedError(f"{where} must be true or false")
    return value


def _list(item: Validator, max_items: int) -> Validator:
    def check(value: Any, where: str) -> list[Any]:
        if type(value) is not list or len(value) > max_items:
            raise RefusedError(f"{where} must be a list of at most {max_items} items")
        return [item(entry, f"{where}[{index}]") for index, entry in enumerate(value)]

    return check


def _object(fields: Mapping[str, Validator], required: frozenset[str] = frozenset()) -> Validator:
    def check(given: Any, where: str) -> dict[str, Any]:
        if type(given) is not dict:
            raise RefusedError(f"{where} must be an object")
        if unknown := sorted(set(given) - set(fields)):
            raise RefusedError(f"{where} has fields that are not allowed: {', '.join(repr(name[:40]) for name in unknown[:5])}")
        if missing := sorted(required - set(given)):
            raise RefusedError(f"{where} lacks {', '.join(missing)}")
        return {name: fields[name](entry, f"{where}.{name}") for name, entry in given.items()}

    return check


# --- a user container ----------------------------------------------------------------


def _container_create(request: Request, policy: Policy) -> tuple[dict[str, str], dict[str, Any], str]:
    user = policy.user_of(request.query.get("name", ""))
    if set(request.query) != {"name"} or user is None:
        raise RefusedError(f"a create must name a user container, {policy.user_container_template}, and nothing else")
    name = request.query["name"]
    home_volume = policy.home_volume_template.format(username=user)
    home_bind = f"{home_volume}:{policy.notebook_home}"
    port = f"{policy.notebook_port}/tcp"
    given = _object(
        {
            "Image": _one_of(*sorted(policy.images)),
            "Cmd": _list(_text(_NO_NUL, 4096), 64),
            "Env": _list(_text(_ENV_ENTRY, 65536), 256),
            # DockerSpawner sends only the labels the program configures: this one.
            "Labels": _one_of({policy.deployment_label: policy.deployment}),
            "User": _one_of(policy.notebook_user),
            "ExposedPorts": _one_of({port: None}, {port: {}}),
            "Volumes": _object({policy.notebook_home: _one_of({}), **{v.path: _one_of({}) for v in policy.shared_volumes}}),
            # What docker-py sends for any create; the filter sends its own (none).
            **dict.fromkeys(("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "NetworkDisabled"), _one_of(False)),
            **dict.fromkeys(("AttachStdout", "AttachStderr"), _boolean),
            "HostConfig": _object(
                {
                    "NetworkMode": _one_of(policy.network),
                    "Binds": _binds(home_bind, policy.shared_volumes),
                    "Memory": _integer(MIN_MEMORY_BYTES, policy.max_memory_bytes),
                    "CpuPeriod": _one_of(policy.cpu_period),
                    "CpuQuota": _integer(MIN_CPU_QUOTA, policy.max_cpu_quota),
                    "PidsLimit": _integer(1, policy.max_pids),
                    "RestartPolicy": _object(
                        {"Name": _one_of("no", "unless-stopped"), "MaximumRetryCount": _one_of(0)}, frozenset({"Name"})
                    ),
                    "AutoRemove": _boolean,
                    "PortBindings": _one_of({}),
                    "Links": _one_of([]),
                    "Mounts": _one_of([]),
                    "LogConfig": _one_of(policy.log_config),
                    # docker-py's DeviceRequest, as DockerSpawner sends a profile's GPUs (hub_config/spawners.py)
                    "DeviceRequests": _list(
                        _object(
                            {
                                "Driver": _one_of(GPU_DRIVER),
                                "Count": _one_of(0),
                                "DeviceIDs": _list(_text(_GPU_ID, 84), 16),
                                "Capabilities": _one_of(GPU_CAPABILITIES),
                                "Options": _one_of({}),
                            },
                            frozenset({"Driver", "DeviceIDs", "Capabilities"}),
                        ),
                        1,
                    ),
                },
                frozenset({"NetworkMode", "Binds", "Memory", "CpuPeriod", "CpuQuota", "PidsLimit"}),
            ),
            "NetworkingConfig": _one_of({"EndpointsConfig": {policy.network: {}}}),
        },
        frozenset({"Image", "Labels", "HostConfig"}),
    )(parse_json(request.body), "the container")
    host = given["HostConfig"]
    gpu_ids = [gpu for request in host.get("DeviceRequests", []) for gpu in request["DeviceIDs"]]
    policy.check_shape(given["Image"], host["Memory"], host["CpuQuota"], gpu_ids)
    shared: list[SharedBind] = host["Binds"]
    targets = {policy.notebook_home, *(volume.path for volume in shared)}
    if "Volumes" in given and set(given["Volumes"]) != targets:
        raise RefusedError("the container's Volumes must be the targets of its Binds")
    body = {
        "Image": given["Image"],
        "Env": _pinned_env(given.get("Env", []), gpus=bool(gpu_ids)),
        "Labels": {policy.deployment_label: policy.deployment},
        "User": policy.notebook_user,
        "ExposedPorts": {port: {}},
        "Volumes": {target: {} for target in sorted(targets)},
        "HostConfig": {
            "NetworkMode": policy.network,
            "Binds": [f"{home_bind}:rw", *(volume.bind for volume in policy.shared_volumes if volume in shared)],
            "Memory": host["Memory"],
            "CpuPeriod": policy.cpu_period,
            "CpuQuota": host["CpuQuota"],
            "PidsLimit": host["PidsLimit"],
            "RestartPolicy": {"Name": host.get("RestartPolicy", {}).get("Name", "no"), "MaximumRetryCount": 0},
            "AutoRemove": host.get("AutoRemove", False),
            "Privileged": False,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "LogConfig": policy.log_config,
        },
        "NetworkingConfig": {"EndpointsConfig": {policy.network: {}}},
    }
    if gpu_ids:
        body["HostConfig"]["DeviceRequests"] = [
            {"Driver": GPU_DRIVER, "Count": 0, "DeviceIDs": gpu_ids, "Capabilities": GPU_CAPABILITIES, "Options": {}}
        ]
    if "Cmd" in given:
        body["Cmd"] = given["Cmd"]
    return {"name": name}, body, home_volume


def _pinned_env(env: list[str], gpus: bool) -> list[str]:
    """The server's variables, none of them the NVIDIA toolkit's, then the filter's own for the toolkit."""
    if any(entry.startswith(NVIDIA_ENV) for entry in env):
        raise RefusedError(
            f"an {NVIDIA_ENV}* variable would tell the NVIDIA container toolkit which GPUs and driver capabilities to give: "
            "the filter sets them (a profile's GPUs, spawner.gpuDevices)"
        )
    return [*env, GPU_DRIVER_CAPABILITIES_ENV if gpus else NO_GPUS_ENV]


def _binds(home_bind: str, shared: Sequence[SharedBind]) -> Validator:
    """The home first, then shared volumes (each at most once, with its own mode): the shared ones named."""
    allowed = {volume.bind: volume for volume in shared}

    def check(value: Any, where: str) -> list[SharedBind]:
        if type(value) is not list or not value or value[0] not in (home_bind, f"{home_bind}:rw"):
            raise RefusedError(f"{where} must start with the user's home, {home_bind}")
        rest = value[1:]
        if any(type(bind) is not str or bind not in allowed for bind in rest) or len(set(rest)) != len(rest):
            raise RefusedError(
                f"{where} may add only the shared volumes of spawner.sharedVolumes, each once and with its own mode"
            )
        return [allowed[bind] for bind in rest]

    return check


# --- a user service (swarm mode) -----------------------------------------------------


def _service_create(request: Request, policy: Policy, swarm: SwarmPolicy) -> CreateUserService:
    """hub_config/spawners.py HomeVolumeSwarmSpawner's service, checked and written anew."""
    body = parse_json(request.body)
    name = _text(_CONTAINER_REF, 128)(body.get("Name") if isinstance(body, dict) else None, "the service.Name")
    user = policy.user_of(name)
    if user is None:
        raise RefusedError(f"a service must be a user's server, {policy.user_container_template}")
    home_volume = policy.home_volume_template.format(username=user)
    labels = {policy.deployment_label: policy.deployment}
    driver = _user_driver(swarm.volume_driver, user)
    volume_options = {"Labels": labels, **({"DriverConfig": driver} if driver else {})}
    mount = {"Target": policy.notebook_home, "Source": home_volume, "Type": "volume", "ReadOnly": False}
    log_driver = {
        "Name": policy.log_config["Type"],
        **({"Options": policy.log_config["Config"]} if policy.log_config["Config"] else {}),
    }
    cpus = _integer(
        MIN_CPU_QUOTA * NANO_CPUS_PER_CPU // policy.cpu_period, policy.max_cpu_quota * NANO_CPUS_PER_CPU // policy.cpu_period
    )
    memory = _integer(MIN_MEMORY_BYTES, policy.max_memory_bytes)
    given = _object(
        {
            "Name": _one_of(name),
            "Labels": _one_of(labels),
            "TaskTemplate": _object(
                {
                    "ContainerSpec": _object(
                        {
                            "Image": _one_of(*sorted(policy.images)),
                            "Command": _one_of(None),  # docker-py sends it unset; the image's entrypoint runs the Args
                            "Args": _list(_text(_NO_NUL, 4096), 64),
                            "Env": _list(_text(_ENV_ENTRY, 65536), 256),
                            "Mounts": _one_of([{**mount, "VolumeOptions": volume_options}]),
                        },
                        frozenset({"Image", "Mounts"}),
                    ),
                    "Resources": _object(
                        {
                            "Limits": _object(
                                {"MemoryBytes": memory, "NanoCPUs": cpus, "Pids": _integer(1, policy.max_pids)},
                                frozenset({"MemoryBytes", "NanoCPUs", "Pids"}),
                            ),
                            "Reservations": _object(
                                {"MemoryBytes": memory, "NanoCPUs": cpus}, frozenset({"MemoryBytes", "NanoCPUs"})
                            ),
                        },
                        frozenset({"Limits", "Reservations"}),
                    ),
                    # docker-py's RestartPolicy sends its zero defaults too
                    "RestartPolicy": _one_of(
                        {"Condition": "none"}, {"Condition": "none", "Delay": 0, "MaxAttempts": 0, "Window": 0}
                    ),
                    "Placement": _object({"Constraints": _list(_constraint(swarm, policy), MAX_CONSTRAINTS)}),
                    "Networks": _one_of([{"Target": policy.network}]),
                    "LogDriver": _one_of(log_driver),
                },
                frozenset({"ContainerSpec", "Resources", "RestartPolicy", "Networks"}),
            ),
            "EndpointSpec": _one_of({"Mode": "dnsrr"}),
        },
        frozenset({"Name", "Labels", "TaskTemplate", "EndpointSpec"}),
    )(body, "the service")
    task = given["TaskTemplate"]
    container, limits, reservations = task["ContainerSpec"], task["Resources"]["Limits"], task["Resources"]["Reservations"]
    if (reservations["MemoryBytes"], reservations["NanoCPUs"]) != (limits["MemoryBytes"], limits["NanoCPUs"]):
        raise RefusedError("a user service reserves what it may use: its reservations must equal its limits")

    constraints = task.get("Placement", {}).get("Constraints", [])
    if constraints[: len(swarm.constraints)] != list(swarm.constraints):
        raise RefusedError("the service's placement must start with the deployment's constraints")
    pins = policy.service_pins(
        container["Image"], limits["MemoryBytes"], limits["NanoCPUs"], constraints[len(swarm.constraints) :]
    )
    spec_container: dict[str, Any] = {
        "Image": container["Image"],
        "Env": _pinned_env(container.get("Env", []), gpus=False),
        "User": policy.notebook_user,
        "Mounts": [{**mount, "VolumeOptions": volume_options}],
        "CapabilityDrop": ["ALL"],
    }
    if "Args" in container:
        spec_container["Args"] = container["Args"]
    resources = {"MemoryBytes": limits["MemoryBytes"], "NanoCPUs": limits["NanoCPUs"]}
    spec = {
        "Name": name,
        "Labels": labels,
        "TaskTemplate": {
            "ContainerSpec": spec_container,
            "Resources": {"Limits": {**resources, "Pids": limits["Pids"]}, "Reservations": resources},
            "RestartPolicy": {"Condition": "none"},
            "Placement": {"Constraints": constraints},
            "Networks": [{"Target": policy.network}],
            "LogDriver": log_driver,
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }
    if templates := [where for where, text in expanded_fields(spec) if TEMPLATE_ACTION in text]:
        raise RefusedError(
            f"{', '.join(templates[:3])} holds '{TEMPLATE_ACTION}', which Swarm would run as a template: refused "
            "(in swarm mode a user name or setting with '{{' cannot reach a server)"
        )
    if len(json.dumps(spec)) > MAX_SERVICE_SPEC_BYTES:
        raise RefusedError(f"a user service's spec is at most {MAX_SERVICE_SPEC_BYTES} bytes")
    return CreateUserService(spec, home_volume, pins[0] if pins else None, user)


def expanded_fields(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every string of a service spec that Swarm expands as a template, by where it is
    (swarmkit template/expand.go: env values, hostname, mounts' source, target, volume
    labels and driver options; networks' aliases and driver options)."""
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    found = [(f"env {entry.partition('=')[0][:40]}", entry.partition("=")[2]) for entry in container.get("Env") or []]
    found.append(("the hostname", container.get("Hostname", "")))
    for index, mount in enumerate(container.get("Mounts") or []):
        volume = mount.get("VolumeOptions") or {}
        driver_options = (volume.get("DriverConfig") or {}).get("Options") or {}
        found += [(f"mount {index} source", mount.get("Source", "")), (f"mount {index} target", mount.get("Target", ""))]
        found += [(f"mount {index} label {k}", v) for k, v in (volume.get("Labels") or {}).items()]
        found += [(f"mount {index} driver option {k}", v) for k, v in driver_options.items()]
    for index, network in enumerate(task.get("Networks") or []):
        found += [(f"network {index} alias", alias) for alias in network.get("Aliases") or []]
        found += [(f"network {index} driver option {k}", v) for k, v in (network.get("DriverOpts") or {}).items()]
    return found


def home_check_service(call: CreateUserService, policy: Policy, swarm: SwarmPolicy, name: str, source: str) -> dict[str, Any]:
    """A one-off global service of the service's own image on every node that could take the service: each
    task runs home_check.py (`source`) against its node's engine and answers by its exit code.
    As root (the socket is root's), with no capability, no network and nothing else mounted."""
    task = call.spec["TaskTemplate"]
    driver, options = swarm.home_driver()
    user = policy.user_of(call.spec["Name"])
    expected = {
        "volume": call.home_volume,
        "driver": driver,
        "options": {key: value.format(username=user) for key, value in options.items()},
        "label": policy.deployment_label,
        "deployment": policy.deployment,
    }
    socket_mount = {"Type": "bind", "Source": HOME_CHECK_SOCKET, "Target": HOME_CHECK_SOCKET, "ReadOnly": True}
    return {
        "Name": name,
        "Labels": {policy.deployment_label: policy.deployment},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": task["ContainerSpec"]["Image"],
                "Command": ["python3", "-I", "-S", "-c", source, json.dumps(expected, sort_keys=True)],
                "User": "0",
                "Dir": "/",
                "Mounts": [socket_mount],
                "CapabilityDrop": ["ALL"],
            },
            "Resources": {"Limits": {"MemoryBytes": HOME_CHECK_MEMORY_BYTES, "Pids": HOME_CHECK_PIDS}},
            "RestartPolicy": {"Condition": "none"},
            "Placement": {"Constraints": task["Placement"]["Constraints"]},
            "LogDriver": {"Name": "json-file"},
        },
        "Mode": {"Global": {}},  # not a job: Swarm runs a job's task again when it exits non-zero
    }


def excluding(spec: dict[str, Any], node_ids: Sequence[str]) -> dict[str, Any]:
    """The spec kept off these nodes (Swarm ANDs constraints)."""
    task = spec["TaskTemplate"]
    constraints = [*task["Placement"]["Constraints"], *(f"{EXCLUSION}{node_id}" for node_id in node_ids)]
    return {**spec, "TaskTemplate": {**task, "Placement": {"Constraints": constraints}}}


def _user_driver(driver: dict[str, Any] | None, user: str) -> dict[str, Any] | None:
    """The homes' volume driver with this user's name in its options (as the spawner formats them)."""
    if driver is None:
        return None
    options = {key: value.format(username=user) for key, value in (driver.get("Options") or {}).items()}
    return {"Name": driver["Name"], **({"Options": options} if options else {})}


def _constraint(swarm: SwarmPolicy, policy: Policy) -> Validator:
    """One of the deployment's or a profile's constraints, or (sticky homes) the pin to a node by hostname."""
    allowed = set(swarm.constraints) | policy.profile_constraints

    def check(value: Any, where: str) -> str:
        if type(value) is not str:
            raise RefusedError(f"{where} must be a string")
        pinned = value.removeprefix(PIN)
        if value in allowed or (swarm.sticky_homes and pinned != value and _NODE_HOSTNAME.fullmatch(pinned)):
            return value
        raise RefusedError(f"{where} is not one of the deployment's placement constraints")

    return check
