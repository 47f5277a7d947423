"""The Docker API filter in swarm mode: a user's server is a Swarm service, created only
as hub_config/spawners.py's HomeVolumeSwarmSpawner makes it and written anew; services,
tasks and nodes are read only as SwarmSpawner needs, and only this deployment's."""

from __future__ import annotations

import copy
import io
import json
from http import HTTPStatus
from typing import Any

import docker
import docker.types
import pytest

from docker_api_proxy.filter import perform
from docker_api_proxy.policy import Forward, ListUserTasks, Policy, SwarmPolicy, route
from docker_api_proxy.wire import RefusedError, Request, read_request

NOTEBOOK = "registry.example.org:5000/jh-notebook@sha256:" + "1" * 64
SWARM = SwarmPolicy(constraints=("node.role == worker",), sticky_homes=True, volume_driver=None)
POLICY = Policy(
    deployment="jh", deployment_label="org.jupyterhub-docker.deployment", network="jh",
    user_container_template="jupyter-jh_{username}", home_volume_template="jh-home-{username}",
    notebook_home="/home/jovyan", notebook_user="1000", notebook_port=8888, images=frozenset({NOTEBOOK}),
    max_memory_bytes=2 * 1024**3, cpu_period=100_000, max_cpu_quota=100_000, max_pids=4096,
    log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, swarm=SWARM,
)  # fmt: skip
LABELS = {"org.jupyterhub-docker.deployment": "jh"}
SERVICE_ID = "a" * 25
NODE_ID = "n" * 25


def spawner_body(constraints: list[str] | None = None, **container: Any) -> dict[str, Any]:
    """What docker-py sends for HomeVolumeSwarmSpawner.create_object with this policy's settings."""
    mount = docker.types.Mount("/home/jovyan", "jh-home-ada", type="volume", labels=LABELS)
    resources = docker.types.Resources(mem_limit=2 * 1024**3, mem_reservation=2 * 1024**3, cpu_limit=10**9, cpu_reservation=10**9)
    resources["Limits"]["Pids"] = 4096
    task = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(
            NOTEBOOK, env={"JUPYTERHUB_API_TOKEN": "secret"}, args=["jupyterhub-singleuser"], mounts=[mount], **container
        ),
        resources=resources,
        restart_policy=docker.types.RestartPolicy(condition="none"),
        placement=docker.types.Placement(constraints=["node.role == worker"] if constraints is None else constraints),
        networks=["jh"],
        log_driver=docker.types.DriverConfig("json-file", {"max-size": "10m", "max-file": "3"}),
    )
    api = docker.APIClient(version="1.41")
    sent: dict[str, Any] = {}
    api._post_json = lambda url, data, headers=None: sent.update(data)  # type: ignore[method-assign]
    api._result = lambda response, json=False: {"ID": SERVICE_ID}  # type: ignore[method-assign]
    api.create_service(task, name="jupyter-jh_ada", labels=LABELS, endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"))
    return json.loads(json.dumps({k: v for k, v in sent.items() if v is not None}))  # as _post_json sends it


def create(body: dict[str, Any], policy: Policy = POLICY) -> dict[str, Any]:
    call = route(Request("POST", "/v1.45/services/create", {}, json.dumps(body).encode(), True), policy)
    assert isinstance(call, Forward) and call.path == "/v1.41/services/create" and call.body is not None
    return call.body


def test_the_spawners_service_is_written_anew_with_the_user_pinned_and_no_capabilities() -> None:
    body = create(spawner_body())
    task = body["TaskTemplate"]
    assert task["ContainerSpec"] == {
        "Image": NOTEBOOK,
        "Env": ["JUPYTERHUB_API_TOKEN=secret"],
        "Args": ["jupyterhub-singleuser"],
        "User": "1000",
        "CapabilityDrop": ["ALL"],
        "Mounts": [
            {
                "Target": "/home/jovyan",
                "Source": "jh-home-ada",
                "Type": "volume",
                "ReadOnly": False,
                "VolumeOptions": {"Labels": LABELS},
            }
        ],
    }
    assert task["Resources"] == {
        "Limits": {"MemoryBytes": 2 * 1024**3, "NanoCPUs": 10**9, "Pids": 4096},
        "Reservations": {"MemoryBytes": 2 * 1024**3, "NanoCPUs": 10**9},
    }
    assert task["RestartPolicy"] == {"Condition": "none"} and task["Networks"] == [{"Target": "jh"}]
    assert body["EndpointSpec"] == {"Mode": "dnsrr"} and body["Mode"] == {"Replicated": {"Replicas": 1}}
    assert body["Name"] == "jupyter-jh_ada" and body["Labels"] == LABELS


def test_a_sticky_home_may_pin_the_server_to_its_node() -> None:
    body = create(spawner_body(["node.role == worker", "node.hostname==node-2"]))
    assert body["TaskTemplate"]["Placement"] == {"Constraints": ["node.role == worker", "node.hostname==node-2"]}
    unpinned = SwarmPolicy(SWARM.constraints, sticky_homes=False, volume_driver=None)
    with pytest.raises(RefusedError, match="placement constraints"):
        create(spawner_body(["node.role == worker", "node.hostname==node-2"]), Policy(**{**POLICY.__dict__, "swarm": unpinned}))


def changed(path: list[str], value: Any, remove: bool = False) -> dict[str, Any]:
    body = copy.deepcopy(spawner_body())
    where = body
    for key in path[:-1]:
        where = where[key] if not key.isdigit() else where[int(key)]  # type: ignore[index]
    if remove:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (changed(["TaskTemplate", "ContainerSpec", "Privileges"], {"CredentialSpec": None}), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "CapabilityAdd"], ["SYS_ADMIN"]), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "User"], "0"), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Image"], "debian:trixie-slim"), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Mounts"], [{"Target": "/h", "Source": "/", "Type": "bind"}]), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Mounts", "0", "Source"], "jh-home-bob"), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Mounts", "0", "Source"], "jh-hub-data"), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Mounts", "0", "Type"], "bind"), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Sysctls"], {"net.ipv4.ip_forward": "1"}), "not allowed"),
        (changed(["TaskTemplate", "ContainerSpec", "Devices"], [{"PathOnHost": "/dev/sda"}]), "not allowed"),
        (changed(["TaskTemplate", "Networks"], [{"Target": "host"}]), "not allowed"),
        (changed(["TaskTemplate", "Networks"], [{"Target": "jh"}, {"Target": "ingress"}]), "not allowed"),
        (changed(["EndpointSpec"], {"Mode": "vip", "Ports": [{"TargetPort": 8888, "PublishedPort": 80}]}), "not allowed"),
        (changed(["Mode"], {"Global": {}}), "not allowed"),
        (changed(["TaskTemplate", "RestartPolicy"], {"Condition": "any"}), "not allowed"),
        (changed(["TaskTemplate", "Resources", "Limits", "MemoryBytes"], 3 * 1024**3), "from"),
        (changed(["TaskTemplate", "Resources", "Limits", "Pids"], 0), "from"),
        (changed(["TaskTemplate", "Resources", "Limits", "Pids"], None, remove=True), "lacks Pids"),
        (changed(["TaskTemplate", "Resources", "Reservations", "MemoryBytes"], 6 * 1024**2), "reservations must equal"),
        (changed(["TaskTemplate", "Placement", "Constraints"], []), "must start with"),
        (changed(["TaskTemplate", "Placement", "Constraints"], ["node.role == manager"]), "placement constraints"),
        (changed(["TaskTemplate", "Placement", "Constraints"], ["node.role == worker", "node.role == manager"]), "placement"),
        (changed(["TaskTemplate", "LogDriver"], {"Name": "none"}), "not allowed"),
        (changed(["Labels"], {"org.jupyterhub-docker.deployment": "other"}), "not allowed"),
        (changed(["Name"], "jh-hub"), "user's server"),
        (changed(["Name"], "jupyter-jh_a_b"), "user's server"),
        (changed(["TaskTemplate", "ContainerSpec", "Env"], ["LD_PRELOAD\x00=x"]), "allowed form"),
    ],
)
def test_anything_but_the_spawners_service_is_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        create(body)


def test_without_swarm_mode_no_service_call_passes() -> None:
    single = Policy(**{**POLICY.__dict__, "swarm": None})
    for method, path, body in [
        ("POST", "/v1.45/services/create", json.dumps(spawner_body()).encode()),
        ("GET", f"/v1.45/services/{SERVICE_ID}", b""),
        ("GET", "/v1.45/tasks", b""),
        ("GET", f"/v1.45/nodes/{NODE_ID}", b""),
    ]:
        with pytest.raises(RefusedError):
            route(Request(method, path, {}, body, True), single)


def user_service(name: str = "jupyter-jh_ada", labels: dict[str, str] = LABELS, service_id: str = SERVICE_ID) -> dict:
    return {"ID": service_id, "Spec": {"Name": name, "Labels": labels}}


class Engine:
    """A fake engine: records every forwarded call, answers from a table."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.sent: list[Forward] = []

    def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
        self.sent.append(forward)
        answer = self.answers.get((forward.method, forward.path))
        if answer is None:
            return HTTPStatus.NOT_FOUND, {}, b'{"message": "no such object"}'
        return HTTPStatus.OK, {}, json.dumps(answer).encode()


def test_only_this_deployments_user_services_are_inspected_or_removed() -> None:
    ours, hub = user_service(), user_service("jh-hub-service", service_id="h" * 25)
    engine = Engine({("GET", f"/v1.41/services/{SERVICE_ID}"): ours, ("GET", "/v1.41/services/jh-hub-service"): hub,
                     ("DELETE", f"/v1.41/services/{SERVICE_ID}"): {}})  # fmt: skip
    status, _, _ = perform(route(Request("DELETE", f"/v1.45/services/{SERVICE_ID}", {}, b"", True), POLICY), POLICY, engine)
    assert status == HTTPStatus.OK and engine.sent[-1] == Forward("DELETE", f"/v1.41/services/{SERVICE_ID}", {})
    with pytest.raises(RefusedError, match="only this deployment's user services"):
        perform(route(Request("DELETE", "/v1.45/services/jh-hub-service", {}, b"", True), POLICY), POLICY, engine)
    other = user_service(labels={"org.jupyterhub-docker.deployment": "other"})
    engine.answers[("GET", f"/v1.41/services/{SERVICE_ID}")] = other
    with pytest.raises(RefusedError):
        perform(route(Request("GET", f"/v1.45/services/{SERVICE_ID}", {}, b"", True), POLICY), POLICY, engine)
    status, _, _ = perform(route(Request("GET", "/v1.45/services/jupyter-jh_bob", {}, b"", True), POLICY), POLICY, engine)
    assert status == HTTPStatus.NOT_FOUND  # the spawner looks before it creates


def test_task_listings_hold_only_this_deployments_user_services() -> None:
    services = [
        user_service(),
        user_service("jh-image-default", service_id="p" * 25),
        user_service("jupyter-jh_bob", service_id="b" * 25),
    ]
    engine = Engine({("GET", "/v1.41/services"): services, ("GET", "/v1.41/tasks"): [{"ServiceID": SERVICE_ID}]})
    query = {"filters": json.dumps({"desired-state": ["running"]})}
    call = route(Request("GET", "/v1.45/tasks", query, b"", True), POLICY)
    assert call == ListUserTasks(None, ("running",))
    perform(call, POLICY, engine)
    assert json.loads(engine.sent[-1].query["filters"]) == {"service": [SERVICE_ID, "b" * 25], "desired-state": ["running"]}
    one = route(Request("GET", "/v1.45/tasks", {"filters": json.dumps({"service": ["jupyter-jh_ada"]})}, b"", True), POLICY)
    perform(one, POLICY, engine)
    assert json.loads(engine.sent[-1].query["filters"]) == {"service": [SERVICE_ID]}
    hub_tasks = route(
        Request("GET", "/v1.45/tasks", {"filters": json.dumps({"service": ["jh-image-default"]})}, b"", True), POLICY
    )
    assert perform(hub_tasks, POLICY, engine)[2] == b"[]"
    for filters in ({"node": ["x"]}, {"label": ["a=b"]}, {"service": ["a", "b"]}, {"desired-state": ["remove"]}):
        with pytest.raises(RefusedError):
            route(Request("GET", "/v1.45/tasks", {"filters": json.dumps(filters)}, b"", True), POLICY)


def test_a_node_read_gives_its_hostname_and_nothing_else() -> None:
    node = {
        "ID": NODE_ID,
        "Description": {"Hostname": "node-2", "Engine": {"Labels": {"secret": "x"}}},
        "Status": {"Addr": "10.0.0.2"},
    }
    engine = Engine({("GET", f"/v1.41/nodes/{NODE_ID}"): node})
    _, _, payload = perform(route(Request("GET", f"/v1.45/nodes/{NODE_ID}", {}, b"", True), POLICY), POLICY, engine)
    assert json.loads(payload) == {"ID": NODE_ID, "Description": {"Hostname": "node-2"}}
    for path in ("/v1.45/nodes", "/v1.45/nodes/node-2", f"/v1.45/nodes/{NODE_ID}/update", "/v1.45/swarm", "/v1.45/services"):
        with pytest.raises(RefusedError):
            route(Request("GET", path, {}, b"", True), POLICY)
    with pytest.raises(RefusedError):
        route(
            Request("POST", f"/v1.45/services/{SERVICE_ID}/update", {"version": "1"}, json.dumps(spawner_body()).encode(), True),
            POLICY,
        )


def test_the_spawner_reads_an_allowed_image_by_digest_as_docker_py_writes_it() -> None:
    """DockerSpawner asks for the image's command; docker-py escapes the digest's '@' as %40."""

    def image_inspect(image: str) -> Request:
        request = read_request(io.BytesIO(f"GET /v1.45/images/{image}/json HTTP/1.1\r\nHost: d\r\n\r\n".encode()))
        assert request is not None
        return request

    assert route(image_inspect(NOTEBOOK.replace("@", "%40")), POLICY) == Forward("GET", f"/v1.41/images/{NOTEBOOK}/json", {})
    with pytest.raises(RefusedError, match="notebook images"):
        route(image_inspect("registry.example.org:5000/jh-notebook%40sha256:" + "2" * 64), POLICY)
    for path in ("/v1.45/images/a%2540b/json", "/v1.45/images/a%2Fb/json", "/v1.45/images/%40/../json"):
        with pytest.raises(RefusedError, match="escapes"):
            read_request(io.BytesIO(f"GET {path} HTTP/1.1\r\nHost: d\r\n\r\n".encode()))


def test_in_swarm_mode_no_container_call_passes() -> None:
    """A container would run on the manager, outside the placement and the reservations."""
    body = json.dumps({"Image": NOTEBOOK, "Labels": LABELS, "HostConfig": {"NetworkMode": "jh"}}).encode()
    for method, path, query, raw in [
        ("POST", "/v1.45/containers/create", {"name": "jupyter-jh_ada"}, body),
        ("GET", "/v1.45/containers/json", {}, b""),
        ("GET", "/v1.45/containers/jupyter-jh_ada/json", {}, b""),
        ("POST", "/v1.45/containers/jupyter-jh_ada/start", {}, b""),
        ("DELETE", "/v1.45/containers/jupyter-jh_ada", {}, b""),
    ]:
        with pytest.raises(RefusedError, match=r"not a call the spawner needs|carry a body"):
            route(Request(method, path, query, raw, True), POLICY)
