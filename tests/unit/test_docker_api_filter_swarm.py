"""The Docker API filter in swarm mode: a user's server is a Swarm service, created only
as hub_config/spawners.py's HomeVolumeSwarmSpawner makes it and written anew; services,
tasks and nodes are read only as SwarmSpawner needs, and only this deployment's."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import threading
import time
from http import HTTPStatus
from typing import Any

import docker
import docker.types
import hypothesis
import hypothesis.strategies as st
import pytest

from docker_api_proxy import filter as api_filter
from docker_api_proxy import home_check
from docker_api_proxy.filter import perform
from docker_api_proxy.policy import (
    CreateUserService,
    Forward,
    ListUserTasks,
    Policy,
    Shape,
    SwarmPolicy,
    expanded_fields,
    home_check_service,
    node_facts,
    route,
    swarm_id,
)
from docker_api_proxy.wire import RefusedError, Request, read_request

NOTEBOOK = "registry.example.org:5000/jh-notebook@sha256:" + "1" * 64
SWARM = SwarmPolicy(constraints=("node.role == worker",), sticky_homes=True, volume_driver=None)
POLICY = Policy(
    deployment="jh", deployment_label="org.jupyterhub-docker.deployment", network="jh",
    user_container_template="jupyter-jh_{username}", home_volume_template="jh-home-{username}",
    notebook_home="/home/jovyan", notebook_user="1000", notebook_port=8888, images=frozenset({NOTEBOOK}),
    shapes=frozenset({Shape(NOTEBOOK, 2 * 1024**3, 100_000, 10**9), Shape(NOTEBOOK, 512 * 1024**2, 50_000, 5 * 10**8)}),
    cpu_period=100_000, max_pids=4096,
    log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, max_servers=3, servers_per_user=1,
    shared_volumes=(), swarm=SWARM,
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


def create_call(body: dict[str, Any], policy: Policy = POLICY) -> CreateUserService:
    call = route(Request("POST", "/v1.45/services/create", {}, json.dumps(body).encode(), True), policy)
    assert isinstance(call, CreateUserService)
    return call


def create(body: dict[str, Any], policy: Policy = POLICY) -> dict[str, Any]:
    return create_call(body, policy).spec


def test_the_spawners_service_is_written_anew_with_the_user_pinned_and_no_capabilities() -> None:
    body = create(spawner_body())
    task = body["TaskTemplate"]
    assert task["ContainerSpec"] == {
        "Image": NOTEBOOK,
        "Env": ["JUPYTERHUB_API_TOKEN=secret", "NVIDIA_VISIBLE_DEVICES=void"],  # no GPU, whatever the image says
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
    assert task["LogDriver"] == {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "3"}}
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
        (changed(["TaskTemplate", "Resources", "Limits", "MemoryBytes"], None, remove=True), "lacks MemoryBytes"),
        (changed(["TaskTemplate", "Resources", "Limits", "NanoCPUs"], None, remove=True), "lacks NanoCPUs"),
        (changed(["TaskTemplate", "Resources", "Reservations", "MemoryBytes"], None, remove=True), "lacks MemoryBytes"),
        (changed(["TaskTemplate", "Resources", "Reservations", "NanoCPUs"], None, remove=True), "lacks NanoCPUs"),
        (changed(["TaskTemplate", "Resources", "Limits"], None, remove=True), "lacks Limits"),
        (changed(["TaskTemplate", "Resources", "Reservations"], None, remove=True), "lacks Reservations"),
        (changed(["TaskTemplate", "ContainerSpec", "Image"], None, remove=True), "lacks Image"),
        (changed(["TaskTemplate", "ContainerSpec", "Mounts"], None, remove=True), "lacks Mounts"),
        (changed(["TaskTemplate", "ContainerSpec"], None, remove=True), "lacks ContainerSpec"),
        (changed(["TaskTemplate", "Networks"], None, remove=True), "lacks Networks"),
        (changed(["Name"], None, remove=True), "the service.Name must be"),
        (changed(["EndpointSpec"], None, remove=True), "lacks EndpointSpec"),
        (changed(["Labels"], None, remove=True), "lacks Labels"),
        (changed(["TaskTemplate", "Placement", "Constraints"], ["node.role == worker"] * 65), "at most 64"),
        (changed(["TaskTemplate", "ContainerSpec", "Args"], ["x"] * 65), "at most 64"),
        (changed(["TaskTemplate", "ContainerSpec", "Env"], [f"V{i}=x" for i in range(257)]), "at most 256"),
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


GPU_PLACEMENT = ("node.labels.gpu == true",)
PROFILED = dataclasses.replace(POLICY, shapes=POLICY.shapes | {Shape(NOTEBOOK, 512 * 1024**2, 5_000, 5 * 10**7, GPU_PLACEMENT)})


def placed(memory: int, cpus: int, constraints: list[str]) -> dict[str, Any]:
    body = spawner_body(constraints)
    resources = body["TaskTemplate"]["Resources"]
    resources["Limits"]["MemoryBytes"] = resources["Reservations"]["MemoryBytes"] = memory
    resources["Limits"]["NanoCPUs"] = resources["Reservations"]["NanoCPUs"] = cpus
    return body


@pytest.mark.parametrize(
    ("memory", "cpus", "constraints", "pinned"),
    [
        (2 * 1024**3, 10**9, ["node.role == worker"], None),
        (2 * 1024**3, 10**9, ["node.role == worker", "node.hostname==node-2"], "node-2"),
        (512 * 1024**2, 5 * 10**7, ["node.role == worker", *GPU_PLACEMENT], None),
        (512 * 1024**2, 5 * 10**7, ["node.role == worker", *GPU_PLACEMENT, "node.hostname==node-2"], "node-2"),
    ],
)
def test_a_service_of_a_profile_with_placement_has_exactly_that_placement(
    memory: int, cpus: int, constraints: list[str], pinned: str | None
) -> None:
    call = create_call(placed(memory, cpus, constraints), PROFILED)
    assert (call.spec["TaskTemplate"]["Placement"]["Constraints"], call.pinned_node) == (constraints, pinned)


@pytest.mark.parametrize(
    ("memory", "cpus", "constraints"),
    [
        (512 * 1024**2, 5 * 10**7, ["node.role == worker"]),  # the profile without its placement
        (2 * 1024**3, 10**9, ["node.role == worker", *GPU_PLACEMENT]),  # another profile with this one's placement
        (512 * 1024**2, 5 * 10**7, ["node.role == worker", "node.hostname==node-2", *GPU_PLACEMENT]),  # pin first
        (2 * 1024**3, 10**9, ["node.role == worker", "node.hostname==node-2", "node.hostname==node-3"]),  # two pins
    ],
)
def test_a_service_placed_other_than_its_profile_is_refused(memory: int, cpus: int, constraints: list[str]) -> None:
    with pytest.raises(RefusedError, match="not those of any profile"):
        create(placed(memory, cpus, constraints), PROFILED)


def test_with_shared_homes_no_pin_passes_not_even_a_profiles_own_constraint_as_one() -> None:
    shared = dataclasses.replace(
        PROFILED,
        shapes=PROFILED.shapes | {Shape(NOTEBOOK, 2 * 1024**3, 10**5, 10**8, ("node.hostname==gpu-1",))},
        swarm=dataclasses.replace(SWARM, sticky_homes=False),
    )
    assert create(placed(2 * 1024**3, 10**8, ["node.role == worker", "node.hostname==gpu-1"]), shared)  # the profile's own
    with pytest.raises(RefusedError, match="not those of any profile"):
        create(placed(2 * 1024**3, 10**9, ["node.role == worker", "node.hostname==gpu-1"]), shared)


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
        return HTTPStatus.OK, {}, answer if isinstance(answer, bytes) else json.dumps(answer).encode()


def test_only_this_deployments_user_services_are_inspected_or_removed() -> None:
    ours, hub = user_service(), user_service("jupyter-jh_hub", labels={}, service_id="h" * 25)
    engine = Engine({("GET", f"/v1.41/services/{SERVICE_ID}"): ours, ("GET", "/v1.41/services/jupyter-jh_hub"): hub,
                     ("DELETE", f"/v1.41/services/{SERVICE_ID}"): b""})  # fmt: skip  # the engine's removal: no body
    status, _, _ = perform(route(Request("DELETE", f"/v1.45/services/{SERVICE_ID}", {}, b"", True), POLICY), POLICY, engine)
    assert status == HTTPStatus.OK and engine.sent[-1] == Forward("DELETE", f"/v1.41/services/{SERVICE_ID}", {})
    # Another object answers as a missing one does: the hub learns nothing of it.
    status, _, payload = perform(
        route(Request("DELETE", "/v1.45/services/jupyter-jh_hub", {}, b"", True), POLICY), POLICY, engine
    )
    assert (status, json.loads(payload)) == (HTTPStatus.NOT_FOUND, {"message": "service jupyter-jh_hub not found"})
    assert engine.sent[-1].method == "GET"
    # A name that is no user's server, or a short ID (a prefix the engine may find ambiguous), is not even looked up.
    for ref in ("jh-hub-service", "a", "a" * 24, "jupyter-jh_"):
        with pytest.raises(RefusedError, match="not a call the spawner needs"):
            route(Request("GET", f"/v1.45/services/{ref}", {}, b"", True), POLICY)
    other = user_service(labels={"org.jupyterhub-docker.deployment": "other"})
    engine.answers[("GET", f"/v1.41/services/{SERVICE_ID}")] = other
    status, _, payload = perform(route(Request("GET", f"/v1.45/services/{SERVICE_ID}", {}, b"", True), POLICY), POLICY, engine)
    assert (status, json.loads(payload)) == (HTTPStatus.NOT_FOUND, {"message": f"service {SERVICE_ID} not found"})
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


# --- templates: Swarm expands some fields as Go templates ----------------------------


def test_every_field_swarm_expands_is_found_by_where_it_is() -> None:
    """swarmkit template/expand.go: ExpandContainerSpec (env values, hostname, mounts' source, target,
    volume labels and driver options) and ExpandNetworks (aliases, driver options)."""
    spec = {
        "TaskTemplate": {
            "ContainerSpec": {
                "Env": ["A=a", "B"],
                "Hostname": "h",
                "Mounts": [
                    {
                        "Source": "s",
                        "Target": "t",
                        "VolumeOptions": {"Labels": {"l": "lv"}, "DriverConfig": {"Options": {"o": "ov"}}},
                    }
                ],
            },
            "Networks": [{"Target": "jh", "Aliases": ["al"], "DriverOpts": {"d": "dv"}}],
        }
    }
    assert expanded_fields(spec) == [
        ("env A", "a"),
        ("env B", ""),
        ("the hostname", "h"),
        ("mount 0 source", "s"),
        ("mount 0 target", "t"),
        ("mount 0 label l", "lv"),
        ("mount 0 driver option o", "ov"),
        ("network 0 alias", "al"),
        ("network 0 driver option d", "dv"),
    ]


@pytest.mark.parametrize(
    "value",
    ["{{", "{{.Node.Hostname}}", "a{{printf `%0999999d` 1}}", "{{{", "x{{- /* */ -}}", "{{if .Task.ID}}x{{end}}"],
)
def test_an_env_value_swarm_would_run_as_a_template_is_refused(value: str) -> None:
    with pytest.raises(RefusedError, match=r"env PROBE holds '\{\{', which Swarm would run as a template"):
        create(changed(["TaskTemplate", "ContainerSpec", "Env"], ["JUPYTERHUB_API_TOKEN=secret", f"PROBE={value}"]))


NO_GPUS = "NVIDIA_VISIBLE_DEVICES=void"


def test_an_nvidia_toolkit_variable_from_the_hub_is_refused() -> None:
    for entry in ("NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_REQUIRE_CUDA=", "NVIDIA_X=1"):
        with pytest.raises(RefusedError, match="the filter sets them"):
            create(changed(["TaskTemplate", "ContainerSpec", "Env"], ["A=1", entry]))


def test_braces_that_start_no_template_pass_unchanged() -> None:
    env = ["JUPYTERHUB_USER=a{b}c", "X={ {", "Y=}}", "Z={"]
    forwarded = create(changed(["TaskTemplate", "ContainerSpec", "Env"], env))["TaskTemplate"]["ContainerSpec"]["Env"]
    assert forwarded == [*env, "NVIDIA_VISIBLE_DEVICES=void"]


def test_a_volume_driver_option_with_a_template_never_reaches_the_engine() -> None:
    """The operator's options pass the config check; the filter refuses them again, whatever the program sent."""
    driver = {"Name": "local", "Options": {"o": "addr={{.Node.Hostname}}"}}
    policy = Policy(**{**POLICY.__dict__, "swarm": SwarmPolicy(SWARM.constraints, True, driver)})
    driver_config = docker.types.DriverConfig("local", {"o": "addr={{.Node.Hostname}}"})
    mount = docker.types.Mount("/home/jovyan", "jh-home-ada", type="volume", labels=LABELS, driver_config=driver_config)
    with pytest.raises(RefusedError):  # the spawner's options are not the policy's (format reads '{{' as '{')
        create(changed(["TaskTemplate", "ContainerSpec", "Mounts"], [json.loads(json.dumps(mount))]), policy)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(env=st.lists(st.tuples(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), st.text(alphabet="{}.ab ", max_size=12))))
def test_no_spec_the_filter_forwards_holds_a_template_in_a_field_swarm_expands(env: list[tuple[str, str]]) -> None:
    body = changed(["TaskTemplate", "ContainerSpec", "Env"], [f"{name}={value}" for name, value in env])
    try:
        spec = create(body)
    except RefusedError:
        assert any("{{" in value or name.startswith("NVIDIA_") for name, value in env)
        return
    assert all("{{" not in text for _, text in expanded_fields(spec))
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == [*(f"{name}={value}" for name, value in env), NO_GPUS]


def test_a_spec_of_exactly_64_kib_is_the_largest_accepted() -> None:
    base = len(json.dumps(create(changed(["TaskTemplate", "ContainerSpec", "Env"], ["V=" + "x" * 60000]))))
    exact = changed(["TaskTemplate", "ContainerSpec", "Env"], ["V=" + "x" * (60000 + 65536 - base)])
    assert len(json.dumps(create(exact))) == 65536
    with pytest.raises(RefusedError, match="at most 65536 bytes"):
        create(changed(["TaskTemplate", "ContainerSpec", "Env"], ["V=" + "x" * (60000 + 65536 - base + 1)]))


def test_a_spec_is_at_most_64_kib() -> None:
    padding = "x" * 4000
    create(changed(["TaskTemplate", "ContainerSpec", "Env"], [f"V{i}={padding}" for i in range(15)]))
    with pytest.raises(RefusedError, match="at most 65536 bytes"):
        create(changed(["TaskTemplate", "ContainerSpec", "Env"], [f"V{i}={padding}" for i in range(17)]))


# --- the cap, the pin, and the home checked on the nodes -----------------------------

MANAGER, WORKER_1, WORKER_2, PAUSED, DOWN, OLD = "m" * 25, "1" * 25, "2" * 25, "p" * 25, "d" * 25, "o" * 25


def listed_node(node_id: str, hostname: str, role: str = "worker", availability: str = "active", state: str = "ready",
                engine: str = "26.1.5") -> dict[str, Any]:  # fmt: skip
    """A node as the engine's /nodes lists it."""
    return {
        "ID": node_id,
        "Description": {"Hostname": hostname, "Engine": {"EngineVersion": engine}},
        "Spec": {"Role": role, "Availability": availability},
        "Status": {"State": state},
    }


NODES = [
    listed_node(MANAGER, "node-1", role="manager"),
    listed_node(WORKER_1, "node-2"),
    listed_node(WORKER_2, "node-3"),
    listed_node(PAUSED, "node-4", availability="pause"),
    listed_node(DOWN, "node-5", state="down"),
    listed_node(OLD, "node-6", engine="19.03.15"),  # its engine ignores a service's capability drop
]
JOB_ID = "j" * 25


class SwarmEngine:
    """A fake manager: its services, its nodes, and a home-check job whose tasks end with the given exit codes."""

    def __init__(self, exit_codes: dict[str, int], services: list[dict[str, Any]] | None = None) -> None:
        self.exit_codes = exit_codes
        self.services = services or []
        self.sent: list[Forward] = []

    def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
        self.sent.append(forward)
        if (forward.method, forward.path) == ("GET", "/v1.41/services"):
            return HTTPStatus.OK, {}, json.dumps(self.services).encode()
        if (forward.method, forward.path) == ("GET", "/v1.41/nodes"):
            return HTTPStatus.OK, {}, json.dumps(NODES).encode()
        if (forward.method, forward.path) == ("POST", "/v1.41/services/create"):
            return (
                HTTPStatus.CREATED,
                {},
                json.dumps({"ID": JOB_ID if "Global" in (forward.body or {})["Mode"] else SERVICE_ID}).encode(),
            )
        if (forward.method, forward.path) == ("GET", "/v1.41/tasks"):
            tasks = [
                {
                    "NodeID": node,
                    "Status": {"State": "complete" if code == 0 else "failed", "ContainerStatus": {"ExitCode": code}},
                }
                for node, code in self.exit_codes.items()
            ]
            return HTTPStatus.OK, {}, json.dumps(tasks).encode()
        if forward.method == "GET" and forward.path.startswith("/v1.41/services/"):
            ref = forward.path.removeprefix("/v1.41/services/")
            found = [s for s in self.services if ref in (s["ID"], s["Spec"]["Name"])]
            return (HTTPStatus.OK, {}, json.dumps(found[0]).encode()) if found else (HTTPStatus.NOT_FOUND, {}, b"{}")
        return HTTPStatus.OK, {}, b"{}"

    def created(self) -> list[dict[str, Any]]:
        return [f.body for f in self.sent if f.path == "/v1.41/services/create" and f.body is not None]


@pytest.fixture(autouse=True)
def no_verified_homes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_filter, "verified_homes", set())
    monkeypatch.setattr(api_filter, "HOME_CHECK_NO_TASK_S", 0.3)  # a check no node runs: not 3 s per test


def spawn(engine: SwarmEngine, constraints: list[str] | None = None) -> tuple[int, dict[str, Any]]:
    status, _, _ = perform(create_call(spawner_body(constraints)), POLICY, engine)
    return status, engine.created()[-1]


def test_the_home_is_checked_on_the_nodes_by_a_job_of_the_servers_image_before_the_service_is_created() -> None:
    engine = SwarmEngine({WORKER_1: home_check.ABSENT, WORKER_2: home_check.OURS})
    status, service = spawn(engine)
    assert status == HTTPStatus.CREATED
    job, created = engine.created()
    spec = job["TaskTemplate"]["ContainerSpec"]
    assert job["Mode"] == {"Global": {}} and job["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}
    assert job["Labels"] == LABELS and job["Name"].startswith("jh-home-check-")
    assert job["TaskTemplate"]["Resources"] == {"Limits": {"MemoryBytes": 64 * 1024**2, "Pids": 32}}
    assert job["TaskTemplate"]["LogDriver"] == {"Name": "json-file"}
    assert spec["Image"] == NOTEBOOK and spec["User"] == "0" and spec["Dir"] == "/" and spec["CapabilityDrop"] == ["ALL"]
    assert spec["Command"][:4] == ["python3", "-I", "-S", "-c"] and spec["Command"][4] == api_filter.HOME_CHECK_SOURCE
    assert json.loads(spec["Command"][5]) == {
        "volume": "jh-home-ada", "driver": "local", "options": {}, "label": LABELS_KEY, "deployment": "jh",
    }  # fmt: skip
    assert spec["Mounts"] == [
        {"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock", "ReadOnly": True}
    ]
    assert "Networks" not in job["TaskTemplate"] and "Env" not in spec
    assert job["TaskTemplate"]["Placement"] == {"Constraints": ["node.role == worker"]}  # where the server may go
    assert Forward("DELETE", f"/v1.41/services/{JOB_ID}", {}) in engine.sent  # the job is removed
    # the paused and down nodes did not answer (no task there), the old one may not run servers: kept off them;
    # the manager is kept off by the placement itself
    assert service["TaskTemplate"]["Placement"]["Constraints"] == [
        "node.role == worker", f"node.id!={PAUSED}", f"node.id!={DOWN}", f"node.id!={OLD}",
    ]  # fmt: skip
    assert created == service and service["Name"] == "jupyter-jh_ada"
    written = create(spawner_body())  # the rest of the service is the spec the filter wrote
    assert {**service, "TaskTemplate": {**service["TaskTemplate"], "Placement": None}} == {
        **written,
        "TaskTemplate": {**written["TaskTemplate"], "Placement": None},
    }


def test_a_home_of_another_deployment_or_with_other_options_on_a_node_that_could_take_the_server_is_refused() -> None:
    engine = SwarmEngine({WORKER_1: home_check.ABSENT, WORKER_2: home_check.FOREIGN})
    with pytest.raises(RefusedError, match="node-3 holds a volume jh-home-ada that is not this deployment's home"):
        perform(create_call(spawner_body()), POLICY, engine)
    assert [body["Mode"] for body in engine.created()] == [{"Global": {}}]  # no user service


@pytest.mark.parametrize("answer", [home_check.UNKNOWN, 127, None])
def test_a_node_that_did_not_say_its_home_is_ours_or_absent_is_kept_off(answer: int | None) -> None:
    codes = {WORKER_1: home_check.ABSENT} | ({WORKER_2: answer} if answer is not None else {})
    status, service = spawn(SwarmEngine(codes))
    assert status == HTTPStatus.CREATED
    kept_off = [WORKER_2, PAUSED, DOWN, OLD]
    assert service["TaskTemplate"]["Placement"]["Constraints"] == ["node.role == worker", *(f"node.id!={n}" for n in kept_off)]


def test_a_pinned_home_is_checked_on_its_node_and_once_ours_is_not_asked_again() -> None:
    engine = SwarmEngine({WORKER_1: home_check.OURS})
    status, service = spawn(engine, ["node.role == worker", "node.hostname==node-2"])
    assert status == HTTPStatus.CREATED
    job = engine.created()[0]
    assert job["TaskTemplate"]["Placement"]["Constraints"] == ["node.role == worker", "node.hostname==node-2"]
    assert service["TaskTemplate"]["Placement"]["Constraints"] == ["node.role == worker", "node.hostname==node-2"]
    again = SwarmEngine({})
    spawn(again, ["node.role == worker", "node.hostname==node-2"])
    assert [body["Mode"] for body in again.created()] == [{"Replicated": {"Replicas": 1}}]  # no job this time


def test_a_home_that_was_absent_is_asked_again() -> None:
    spawn(SwarmEngine({WORKER_1: home_check.ABSENT}), ["node.role == worker", "node.hostname==node-2"])
    again = SwarmEngine({WORKER_1: home_check.ABSENT})
    spawn(again, ["node.role == worker", "node.hostname==node-2"])
    assert len(again.created()) == 2


UNUSABLE = r"your home's node {node} cannot run your server now \(down, paused, drained, not in the swarm, or not one"


@pytest.mark.parametrize(
    ("pin", "answers", "reason"),
    [
        ("node-9", {}, UNUSABLE.format(node="node-9")),
        ("node-1", {MANAGER: home_check.ABSENT}, UNUSABLE.format(node="node-1")),
        ("node-4", {}, UNUSABLE.format(node="node-4")),
        ("node-6", {OLD: home_check.OURS}, UNUSABLE.format(node="node-6")),
        ("node-5", {}, UNUSABLE.format(node="node-5")),
        ("node-2", {}, "your home on the node node-2 could not be checked"),
        ("node-2", {WORKER_1: home_check.UNKNOWN}, "your home on the node node-2 could not be checked"),
    ],
)
def test_a_pin_to_a_node_that_is_missing_a_manager_or_unchecked_is_refused(
    pin: str, answers: dict[str, int], reason: str
) -> None:
    engine = SwarmEngine(answers)
    with pytest.raises(RefusedError, match=reason):
        perform(create_call(spawner_body(["node.role == worker", f"node.hostname=={pin}"])), POLICY, engine)
    assert not [body for body in engine.created() if "Replicated" in body["Mode"]]


def test_managers_may_run_servers_when_the_operator_says_so() -> None:
    swarm = SwarmPolicy((), sticky_homes=True, volume_driver=None, managers_run_servers=True)
    policy = Policy(**{**POLICY.__dict__, "swarm": swarm})
    engine = SwarmEngine({MANAGER: home_check.ABSENT})
    status, _, _ = perform(create_call(spawner_body(["node.hostname==node-1"]), policy), policy, engine)
    assert status == HTTPStatus.CREATED


def test_the_cap_counts_this_deployments_user_services_pending_ones_too() -> None:
    ours = [user_service(f"jupyter-jh_u{i}", service_id=f"{i}" * 25) for i in range(3)]
    others = [user_service("jh-image-default", service_id="p" * 25), user_service("jupyter-jh_x", {"l": "other"})]
    engine = SwarmEngine({WORKER_1: home_check.ABSENT}, ours[:2] + others)
    assert spawn(engine)[0] == HTTPStatus.CREATED
    engine = SwarmEngine({WORKER_1: home_check.ABSENT}, ours + others)
    with pytest.raises(RefusedError, match=r"its most users' servers at once \(3, spawner.maxServers\)"):
        perform(create_call(spawner_body()), POLICY, engine)
    assert engine.created() == []


def test_a_home_check_that_cannot_start_creates_nothing() -> None:
    class NoJobs(SwarmEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            if forward.path == "/v1.41/services/create":
                self.sent.append(forward)
                return HTTPStatus.BAD_REQUEST, {}, b'{"message": "no jobs here\\x1b[2J"}'
            return super().__call__(forward)

    engine = NoJobs({})
    with pytest.raises(RefusedError, match=r"the home check could not start: .*no jobs here\\\\x1b"):
        perform(create_call(spawner_body()), POLICY, engine)
    assert len(engine.created()) == 1


# --- home_check.py: the verdict from the node's own engine ---------------------------

LABELS_KEY = "org.jupyterhub-docker.deployment"
BIND = {"type": "none", "o": "bind", "device": "/"}
EXPECTED = {"volume": "jh-home-ada", "driver": "local", "options": {}, "label": LABELS_KEY, "deployment": "jh"}


@pytest.mark.parametrize(
    ("status", "volume", "verdict"),
    [
        (404, None, home_check.ABSENT),
        (200, {"Name": "jh-home-ada", "Driver": "local", "Labels": LABELS, "Options": None}, home_check.OURS),
        (200, {"Name": "jh-home-ada", "Driver": "local", "Labels": LABELS, "Options": {}}, home_check.OURS),
        (200, {"Name": "jh-home-ada", "Driver": "local", "Labels": {LABELS_KEY: "jh-home"}}, home_check.FOREIGN),
        (200, {"Name": "jh-home-ada", "Driver": "local", "Labels": None}, home_check.FOREIGN),
        (200, {"Name": "jh-home-ada", "Driver": "local", "Labels": LABELS, "Options": BIND}, home_check.FOREIGN),
        (200, {"Name": "jh-home-ada", "Driver": "sshfs", "Labels": LABELS}, home_check.FOREIGN),
        (200, {"Name": "jh-home-bob", "Driver": "local", "Labels": LABELS}, home_check.UNKNOWN),
        (200, [], home_check.UNKNOWN),
        (500, None, home_check.UNKNOWN),
    ],
)  # fmt: skip
def test_the_nodes_engine_answer_is_read_strictly(status: int, volume: Any, verdict: int) -> None:
    assert home_check.verdict(status, json.dumps(volume).encode(), EXPECTED) == verdict
    assert home_check.verdict(200, b"not json", EXPECTED) == home_check.UNKNOWN


def test_shared_homes_are_ours_only_with_the_configured_driver_and_this_users_options() -> None:
    driver = {"Name": "local", "Options": {"type": "nfs", "device": ":/homes/{username}"}}
    swarm = SwarmPolicy((), sticky_homes=False, volume_driver=driver)
    policy = Policy(**{**POLICY.__dict__, "swarm": swarm})
    call = CreateUserService(create(spawner_body()), "jh-home-ada", None, "ada")
    job = home_check_service(call, policy, swarm, "jh-home-check-1", "source")
    expected = json.loads(job["TaskTemplate"]["ContainerSpec"]["Command"][-1])
    assert expected["options"] == {"type": "nfs", "device": ":/homes/ada"}


def test_creates_at_once_do_not_pass_the_cap_together() -> None:
    """Each create counts and creates under one lock: with one place left, one of two creates at once gets it."""
    ours = [user_service(f"jupyter-jh_u{i}", service_id=f"{i}" * 25) for i in range(2)]

    class Growing(SwarmEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            answer = super().__call__(forward)
            if forward.path == "/v1.41/services/create" and "Replicated" in (forward.body or {})["Mode"]:
                time.sleep(0.2)  # the engine takes its time; the other create must wait, not count meanwhile
                self.services.append(user_service(forward.body["Name"], service_id="n" * 25))  # type: ignore[index]
            return answer

    engine = Growing({WORKER_1: home_check.ABSENT}, ours)
    outcomes: list[str] = []

    def spawn_one(user: str) -> None:
        body = spawner_body()
        body["Name"] = f"jupyter-jh_{user}"
        body["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Source"] = f"jh-home-{user}"
        try:
            perform(create_call(body), POLICY, engine)
            outcomes.append("created")
        except RefusedError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=spawn_one, args=(user,)) for user in ("ada", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes)[0] == "created" and "spawner.maxServers" in sorted(outcomes)[1], outcomes


def test_the_home_checks_name_fits_a_service_name_whatever_the_deployments_name() -> None:
    policy = Policy(**{**POLICY.__dict__, "deployment": "d" * 50})
    engine = SwarmEngine({WORKER_1: home_check.ABSENT})
    perform(create_call(spawner_body(), POLICY), policy, engine)
    check = engine.created()[0]["Name"]
    assert check.startswith("d" * 40 + "-home-check-") and len(check) == 60  # a service name has at most 63


def test_a_taken_name_is_answered_without_its_holder_and_before_any_home_check() -> None:
    """The engine's conflict text would tell of another deployment's service (Swarm compares names
    without case): the same 409 for ours and others', and no one-off task on the nodes."""
    for holder in (user_service(), user_service(labels={"org.jupyterhub-docker.deployment": "other"})):
        engine = SwarmEngine({WORKER_1: home_check.ABSENT}, [holder])
        status, _, payload = perform(create_call(spawner_body()), POLICY, engine)
        assert (status, json.loads(payload)) == (HTTPStatus.CONFLICT, api_filter.NAME_IN_USE)
        assert engine.created() == []


def test_an_engines_conflict_on_create_is_answered_without_its_text() -> None:
    class Raced(SwarmEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            if forward.path == "/v1.41/services/create" and "Replicated" in (forward.body or {})["Mode"]:
                return HTTPStatus.CONFLICT, {}, b'{"message": "service jupyter-jh_ada already exists: ' + b"x" * 25 + b'"}'
            return super().__call__(forward)

    status, _, payload = perform(create_call(spawner_body()), POLICY, Raced({WORKER_1: home_check.ABSENT}))
    assert (status, json.loads(payload)) == (HTTPStatus.CONFLICT, api_filter.NAME_IN_USE)


def test_the_hub_never_reads_back_the_nodes_its_services_were_kept_off() -> None:
    placement = {"Constraints": ["node.role == worker", f"node.id!={PAUSED}", f"node.id!={DOWN}"]}
    inspected = {"ID": SERVICE_ID, "Spec": {"Name": "jupyter-jh_ada", "Labels": LABELS, "TaskTemplate": {"Placement": placement}},
                 "PreviousSpec": {"TaskTemplate": {"Placement": placement}}}  # fmt: skip
    task = {"ServiceID": SERVICE_ID, "NodeID": WORKER_1, "Spec": {"Placement": placement}}
    engine = Engine({("GET", f"/v1.41/services/{SERVICE_ID}"): inspected, ("GET", "/v1.41/services"): [inspected],
                     ("GET", "/v1.41/tasks"): [task]})  # fmt: skip
    _, _, payload = perform(route(Request("GET", f"/v1.45/services/{SERVICE_ID}", {}, b"", True), POLICY), POLICY, engine)
    shown = json.loads(payload)
    assert shown["Spec"]["TaskTemplate"]["Placement"] == shown["PreviousSpec"]["TaskTemplate"]["Placement"]
    assert shown["Spec"]["TaskTemplate"]["Placement"] == {"Constraints": ["node.role == worker"]}
    _, _, payload = perform(route(Request("GET", "/v1.45/tasks", {}, b"", True), POLICY), POLICY, engine)
    assert json.loads(payload) == [{**task, "Spec": {"Placement": {"Constraints": ["node.role == worker"]}}}]


def test_at_most_four_home_checks_run_at_once() -> None:
    running, most = [0], [0]
    guard = threading.Lock()

    class Slow(SwarmEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            check = forward.path == "/v1.41/services/create" and "Global" in (forward.body or {})["Mode"]
            if check:
                with guard:
                    running[0] += 1
                    most[0] = max(most[0], running[0])
                time.sleep(0.3)
            if forward.method == "DELETE":
                with guard:
                    running[0] -= 1
            return super().__call__(forward)

    engine = Slow({WORKER_1: home_check.ABSENT})
    policy = Policy(**{**POLICY.__dict__, "max_servers": 100})

    def spawn_one(index: int) -> None:
        body = spawner_body()
        body["Name"] = f"jupyter-jh_u{index}"
        body["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Source"] = f"jh-home-u{index}"
        perform(create_call(body, policy), policy, engine)

    threads = [threading.Thread(target=spawn_one, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert most[0] == 4


@pytest.mark.parametrize("state", ["running", "shutdown", "accepted"])
def test_a_task_listing_may_ask_for_each_desired_state_swarmspawner_uses(state: str) -> None:
    query = {"filters": json.dumps({"desired-state": [state]})}
    assert route(Request("GET", "/v1.45/tasks", query, b"", True), POLICY) == ListUserTasks(None, (state,))


def test_a_service_gets_exactly_one_profiles_limits() -> None:
    """The policy's profiles: 2 GiB with 1 CPU (10**9 nano-CPUs) and 512 MiB with 0.5 CPU."""
    cases = [
        (2 * 1024**3, 10**9, True), (512 * 1024**2, 5 * 10**8, True), (2 * 1024**3, 10**9 - 1, False),
        (2 * 1024**3, 5 * 10**8, False), (512 * 1024**2, 10**9, False), (6 * 1024**2, 10**7, False),
    ]  # fmt: skip
    for memory, cpus, allowed in cases:
        body = changed(["TaskTemplate", "Resources", "Limits", "NanoCPUs"], cpus)
        resources = body["TaskTemplate"]["Resources"]
        resources["Limits"]["MemoryBytes"] = resources["Reservations"]["MemoryBytes"] = memory
        resources["Reservations"]["NanoCPUs"] = cpus
        if allowed:
            assert create(body)["TaskTemplate"]["Resources"]["Limits"] == {"MemoryBytes": memory, "NanoCPUs": cpus, "Pids": 4096}
        else:
            with pytest.raises(RefusedError, match="not those of any profile"):
                create(body)
    body = changed(["TaskTemplate", "Resources", "Limits", "NanoCPUs"], 10**9 + 1)
    body["TaskTemplate"]["Resources"]["Reservations"]["NanoCPUs"] = 10**9 + 1
    with pytest.raises(RefusedError, match="NanoCPUs must be a whole number"):  # beyond the largest profile
        create(body)


@pytest.mark.parametrize(
    ("version", "ok"), [("20.10.0", True), ("26.1.5", True), ("20.9.9", False), ("19.03.15", False), ("", False), ("20", False)]
)
def test_a_node_with_an_engine_before_20_10_may_not_run_servers(version: str, ok: bool) -> None:
    assert node_facts(listed_node(WORKER_1, "node-2", engine=version)).engine_ok is ok


def test_service_and_node_reads_take_no_query() -> None:
    for path in (f"/v1.45/services/{SERVICE_ID}", "/v1.45/services/jupyter-jh_ada", f"/v1.45/nodes/{NODE_ID}"):
        with pytest.raises(RefusedError, match="takes no query"):
            route(Request("GET", path, {"insertDefaults": "true"}, b"", True), POLICY)


@pytest.mark.parametrize("found", [{"ID": "short"}, {"ID": 5}, {"ID": "A" * 25}, {}])
def test_an_engines_swarm_id_is_checked_before_it_goes_into_a_path(found: dict[str, Any]) -> None:
    with pytest.raises(RefusedError, match="did not give a Swarm ID"):
        swarm_id(found)


def test_the_policys_swarm_section_is_read_strictly() -> None:
    document = {"constraints": ["node.role == worker"], "stickyHomes": True, "volumeDriver": None, "managersRunServers": False}
    assert SwarmPolicy.from_document(document) == SWARM
    for broken in (
        {**document, "extra": 1},
        {k: v for k, v in document.items() if k != "managersRunServers"},
        {**document, "stickyHomes": "yes"},
        {**document, "volumeDriver": []},
    ):
        with pytest.raises(ValueError, match="swarm section"):
            SwarmPolicy.from_document(broken)


def test_shared_homes_mount_with_the_configured_driver_and_this_users_options() -> None:
    driver = {"Name": "local", "Options": {"type": "nfs", "device": ":/homes/{username}"}}
    policy = Policy(**{**POLICY.__dict__, "swarm": SwarmPolicy(SWARM.constraints, False, driver)})
    config = docker.types.DriverConfig("local", {"type": "nfs", "device": ":/homes/ada"})
    mount = docker.types.Mount("/home/jovyan", "jh-home-ada", type="volume", labels=LABELS, driver_config=config)
    spec = create(changed(["TaskTemplate", "ContainerSpec", "Mounts"], [json.loads(json.dumps(mount))]), policy)
    assert spec["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["VolumeOptions"] == {
        "Labels": LABELS,
        "DriverConfig": {"Name": "local", "Options": {"type": "nfs", "device": ":/homes/ada"}},
    }
