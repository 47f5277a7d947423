"""The hub's Docker API filter lets DockerSpawner manage user containers and nothing more.

Three layers, each driven with what a client really sends: the strict HTTP and JSON
readers (wire.py), the routing and the create allow-list (policy.py), and the request
handler on a socket, with a fake engine that records what would reach the socket.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import socket
import threading
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import docker
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from docker_api_proxy import filter as api_filter
from docker_api_proxy import wire
from docker_api_proxy.policy import (
    CreateUserContainer,
    Forward,
    ListUserContainers,
    OnUserContainer,
    Policy,
    Shape,
    SharedBind,
    container_action,
    listing_query,
    route,
)
from docker_api_proxy.wire import MAX_BODY_BYTES, RefusedError, Request, parse_json, read_request

NOTEBOOK = "jh-notebook:abc"
POLICY = Policy(
    deployment="jh",
    deployment_label="org.jupyterhub-docker.deployment",
    network="jh",
    user_container_template="jupyter-{username}",
    home_volume_template="jh-home-{username}",
    notebook_home="/home/jovyan",
    notebook_user="1000",
    notebook_port=8888,
    images=frozenset({NOTEBOOK, "quay.io/jupyter/base-notebook:2025-01-01"}),
    shapes=frozenset(
        {
            Shape(NOTEBOOK, 2 * 1024**3, 100_000, 10**9),
            Shape("quay.io/jupyter/base-notebook:2025-01-01", 2 * 1024**3, 100_000, 10**9),
            Shape(NOTEBOOK, 512 * 1024**2, 50_000, 5 * 10**8),  # a small profile
            Shape(NOTEBOOK, 4 * 1024**3, 100_000, 10**9, gpus=1, gpu_ids=("0", "1")),  # one GPU of two for each
        }
    ),
    cpu_period=100_000,
    max_pids=4096,
    log_config={"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    max_servers=3,
    servers_per_user=1,
    shared_volumes=(
        SharedBind("jh-shared-course", "/home/jovyan/course", True),
        SharedBind("jh-shared-team", "/srv/team", False),
    ),
)
COURSE, TEAM = "jh-shared-course:/home/jovyan/course:ro", "jh-shared-team:/srv/team:rw"
ADA_ID = "a" * 64
HUB_ID = "b" * 64


def dockerspawner_create_body(**host_config: Any) -> dict[str, Any]:
    """The body docker-py sends for DockerSpawner 14's create_object with this project's settings."""
    api = docker.APIClient(version="1.41")
    settings = {
        "auto_remove": False,
        "binds": {"jh-home-ada": {"bind": "/home/jovyan", "mode": "rw"}},
        "links": {},
        "mounts": [],
        "mem_limit": 2 * 1024**3,
        "cpu_period": 100_000,
        "cpu_quota": 100_000,
        "restart_policy": {"Name": "unless-stopped"},
        "pids_limit": 4096,
        "network_mode": "jh",
        "log_config": {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
    }
    host = api.create_host_config(**{**settings, **host_config})
    config = api.create_container_config(
        NOTEBOOK,
        ["jupyterhub-singleuser"],
        environment={"JUPYTERHUB_API_TOKEN": "secret-token", "JUPYTERHUB_USER": "ada"},
        volumes=["/home/jovyan"],
        ports={"8888/tcp": None},
        labels={"org.jupyterhub-docker.deployment": "jh"},
        host_config=host,
    )
    return {key: value for key, value in config.items() if value is not None}  # as docker-py's _post_json


def create(body: dict[str, Any] | bytes, query: dict[str, str] | None = None) -> Forward:
    """The container create a create request becomes (after its home volume)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    query = {"name": "jupyter-ada"} if query is None else query
    call = route(Request("POST", "/v1.41/containers/create", query, raw, True), POLICY)
    assert isinstance(call, CreateUserContainer)
    return call.container


EXPECTED_CREATE_BODY = {
    "Image": NOTEBOOK,
    "Cmd": ["jupyterhub-singleuser"],
    # The NVIDIA toolkit gives no GPU, whatever the image's variables say (where nvidia is the default runtime).
    "Env": ["JUPYTERHUB_API_TOKEN=secret-token", "JUPYTERHUB_USER=ada", "NVIDIA_VISIBLE_DEVICES=void"],
    "Labels": {"org.jupyterhub-docker.deployment": "jh"},
    "User": "1000",
    "ExposedPorts": {"8888/tcp": {}},
    "Volumes": {"/home/jovyan": {}},
    "HostConfig": {
        "NetworkMode": "jh",
        "Binds": ["jh-home-ada:/home/jovyan:rw"],
        "Memory": 2 * 1024**3,
        "CpuPeriod": 100_000,
        "CpuQuota": 100_000,
        "PidsLimit": 4096,
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "Privileged": False,
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    },
    "NetworkingConfig": {"EndpointsConfig": {"jh": {}}},
}


# --- wire.py: HTTP framing ----------------------------------------------------------


def read(raw: bytes) -> Request | None:
    return read_request(io.BytesIO(raw))


def test_a_request_as_docker_py_sends_it_is_read() -> None:
    raw = (
        b"GET /v1.41/containers/json?all=0&limit=-1&filters=%7B%22status%22%3A+%5B%22running%22%5D%7D HTTP/1.1\r\n"
        b"Host: jh-docker-api:2375\r\nUser-Agent: docker-sdk-python/7.2.0\r\nAccept-Encoding: gzip, deflate\r\n"
        b"Accept: */*\r\nConnection: keep-alive\r\n\r\n"
    )
    assert read(raw) == Request(
        "GET", "/v1.41/containers/json", {"all": "0", "limit": "-1", "filters": '{"status": ["running"]}'}, b"", True
    )


def test_a_body_is_read_by_its_single_content_length_and_the_next_request_is_left_on_the_connection() -> None:
    stream = io.BytesIO(b"POST /v1.41/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert read_request(stream) == Request("POST", "/v1.41/x", {}, b"{}", True)
    assert read_request(stream) == Request("GET", "/_ping", {}, b"", False)
    assert read_request(stream) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}", "content-length is repeated"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n{}", "content-length is repeated"),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding"),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", "Transfer-Encoding"),
        (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length must be"),
        (b"POST /x HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}", "Content-Length must be"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 0x2\r\n\r\n{}", "Content-Length must be"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}", "Content-Length must be"),
        (f"POST /x HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(), "Content-Length must be"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}", "before the body was complete"),
        (b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}", "Expect"),
        (b"GET /x HTTP/1.1\nHost: a\n\n", "request line"),
        (b"GET /x HTTP/1.1\r\nHost: a\n\r\n", "header line"),
        (b"GET /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "header line"),
        (b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n", "header line"),
        (b"GET /x HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", "header line"),
        (b"GET http://x/v1.20/containers/json HTTP/1.1\r\n\r\n", "request line"),
        (b"GET * HTTP/1.1\r\n\r\n", "request line"),
        (b"GET  /x HTTP/1.1\r\n\r\n", "request line"),
        (b"get /x HTTP/1.1\r\n\r\n", "request line"),
        (b"GET /x HTTP/2.0\r\n\r\n", "request line"),
        (b"GET /x\r\n\r\n", "request line"),
        (b"GET /x HTTP/1.1\r\n" + b"A: b\r\n" * 0 + b"X: " + b"a" * 9000 + b"\r\n\r\n", "longer than"),
        (b"GET /x HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(65)) + b"\r\n", "more than 64"),
        (b"GET /v1.41/containers/jupyter-ada%2Fexec HTTP/1.1\r\n\r\n", "path"),
        (b"GET /v1.41/containers/../images/json HTTP/1.1\r\n\r\n", "path"),
        (b"GET /v1.41//containers/json HTTP/1.1\r\n\r\n", "path"),
        (b"GET /v1.41/containers/json?all=1&all=0 HTTP/1.1\r\n\r\n", "all is repeated"),
        (b"GET /v1.41/containers/json?all HTTP/1.1\r\n\r\n", "malformed"),
        (b"GET /v1.41/containers/json?ALL=1 HTTP/1.1\r\n\r\n", "malformed"),
        (b"GET /v1.41/containers/json?filters=%ff HTTP/1.1\r\n\r\n", "not UTF-8"),
        (b"GET /v1.41/containers/json?filters=%zz HTTP/1.1\r\n\r\n", "malformed"),
    ],
)
def test_requests_two_parsers_could_read_differently_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        read(raw)


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    assert read(b"GET /_ping HTTP/1.0\r\n\r\n") == Request("GET", "/_ping", {}, b"", False)
    assert read(b"GET /_ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == Request("GET", "/_ping", {}, b"", True)


# --- wire.py: JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"HostConfig": {}, "HostConfig": {"Privileged": true}}', "repeated"),
        (b'{"HostConfig": {"Memory": 1, "Memory": null}}', "repeated"),
        (b'{"a": [{"b": 1, "b": 2}]}', "repeated"),
        (b'{"Memory": NaN}', "NaN"),
        (b'{"Memory": -Infinity}', "Infinity"),
        (b'\xef\xbb\xbf{"a": 1}', "not one JSON document"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        ('{"a": 1}'.encode("utf-16-le"), "not one JSON document"),
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b'{"a": 1} {"b": 2}', "not one JSON document"),
        (b'{"a": 1', "not one JSON document"),
        (b"[" * 100_000 + b"]" * 100_000, "not one JSON document"),
    ],
)
def test_json_that_go_could_read_differently_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        parse_json(body)


# --- policy.py: the create allow-list -----------------------------------------------


def test_dockerspawners_own_create_is_rebuilt_with_the_pinned_shape() -> None:
    forwarded = create(dockerspawner_create_body())
    assert forwarded == Forward("POST", "/v1.41/containers/create", {"name": "jupyter-ada"}, EXPECTED_CREATE_BODY)


def test_the_engine_gets_the_rebuilt_body_not_the_clients() -> None:
    body = dockerspawner_create_body()
    body["HostConfig"]["RestartPolicy"] = {"Name": "no"}
    body["ExposedPorts"] = {"8888/tcp": {}}
    del body["Cmd"]
    forwarded = create(body)
    assert forwarded.body is not None
    assert "Cmd" not in forwarded.body  # the image's own command
    assert forwarded.body["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert forwarded.body["User"] == "1000" and forwarded.body["HostConfig"]["CapDrop"] == ["ALL"]


def test_each_profiles_shape_is_allowed_and_nothing_between_or_across_them() -> None:
    small = dockerspawner_create_body(mem_limit=512 * 1024**2, cpu_quota=50_000)
    forwarded = create(small)
    assert forwarded.body is not None
    assert (forwarded.body["HostConfig"]["Memory"], forwarded.body["HostConfig"]["CpuQuota"]) == (512 * 1024**2, 50_000)
    other_image = {**dockerspawner_create_body(), "Image": "quay.io/jupyter/base-notebook:2025-01-01"}
    assert create(other_image).body["Image"] == "quay.io/jupyter/base-notebook:2025-01-01"  # type: ignore[index]
    outside = [
        dockerspawner_create_body(mem_limit=6 * 1024**2),  # less than a profile gives is another shape too
        dockerspawner_create_body(mem_limit=512 * 1024**2),  # the small memory with the large CPUs
        dockerspawner_create_body(cpu_quota=50_000),  # the large memory with the small CPUs
        {**small, "Image": "quay.io/jupyter/base-notebook:2025-01-01"},  # the small limits with the other profile's image
    ]
    for body in outside:
        with pytest.raises(RefusedError, match="not those of any profile"):
            create(body)


def with_change(path: str, value: Any) -> dict[str, Any]:
    """DockerSpawner's body with one field set (path "HostConfig.Privileged"), or removed (value DELETE)."""
    body = dockerspawner_create_body()
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = copy.deepcopy(value)
    return body


DELETE = object()
ATTACKS_ON_THE_BODY = [
    ("Privileged", True, "fields that are not allowed: 'Privileged'"),
    ("HostConfig.Privileged", True, "'Privileged'"),
    ("HostConfig.privileged", True, "'privileged'"),
    ("HostConfig.PRIVILEGED", True, "'PRIVILEGED'"),
    ("HostConfig.Priv\u0131leged", True, "not allowed"),  # a dotless i: Go folds case with Unicode rules
    ("hostconfig", {"Privileged": True}, "'hostconfig'"),
    ("HostConfig.CapAdd", ["SYS_ADMIN"], "'CapAdd'"),
    ("HostConfig.CapDrop", [], "'CapDrop'"),
    ("HostConfig.SecurityOpt", ["seccomp=unconfined"], "'SecurityOpt'"),
    ("HostConfig.Devices", [{"PathOnHost": "/dev/sda"}], "'Devices'"),
    ("HostConfig.PidMode", "host", "'PidMode'"),
    ("HostConfig.IpcMode", "host", "'IpcMode'"),
    ("HostConfig.UsernsMode", "host", "'UsernsMode'"),
    ("HostConfig.UTSMode", "host", "'UTSMode'"),
    ("HostConfig.CgroupnsMode", "host", "'CgroupnsMode'"),
    ("HostConfig.Sysctls", {"kernel.core_pattern": "|/x"}, "'Sysctls'"),
    ("HostConfig.VolumesFrom", ["jh-docker-api"], "'VolumesFrom'"),
    ("HostConfig.Runtime", "runc", "'Runtime'"),
    ("HostConfig.MaskedPaths", [], "'MaskedPaths'"),
    ("HostConfig.LogConfig", {"Type": "syslog"}, "HostConfig.LogConfig has a value that is not allowed"),
    ("HostConfig.LogConfig", {"Type": "json-file", "Config": {}}, "HostConfig.LogConfig has a value that is not allowed"),
    ("HostConfig.NetworkMode", "host", "NetworkMode has a value"),
    ("HostConfig.NetworkMode", "container:jh-hub", "NetworkMode has a value"),
    ("HostConfig.NetworkMode", None, "NetworkMode has a value"),
    ("HostConfig.NetworkMode", DELETE, "lacks NetworkMode"),
    ("HostConfig.Binds", ["/:/host"], "must start with the user's home"),
    ("HostConfig.Binds", ["/var/run/docker.sock:/var/run/docker.sock"], "must start with the user's home"),
    ("HostConfig.Binds", ["jh-hub-data:/home/jovyan:rw"], "must start with the user's home"),
    ("HostConfig.Binds", ["jh-home-bob:/home/jovyan:rw"], "must start with the user's home"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", "jh-home-ada:/x"], "may add only the shared volumes"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw,shared"], "must start with the user's home"),
    ("HostConfig.Binds", [], "must start with the user's home"),
    ("HostConfig.Binds", "jh-home-ada:/home/jovyan:rw", "must start with the user's home"),
    ("HostConfig.Binds", DELETE, "lacks Binds"),
    # The shared volumes: each with its own mode and path, once, after the home, and nothing else beside them.
    ("HostConfig.Binds", [COURSE, "jh-home-ada:/home/jovyan:rw"], "must start with the user's home"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", COURSE.replace(":ro", ":rw")], "may add only the shared"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", COURSE.removesuffix(":ro")], "may add only the shared"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", "jh-shared-team:/etc:rw"], "may add only the shared"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", "jh-shared-team:/home/jovyan/course:rw"], "may add only"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", TEAM, TEAM], "may add only the shared volumes"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", "jh-home-bob:/srv/team:rw"], "may add only the shared"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", "/srv:/srv/team:rw"], "may add only the shared volumes"),
    ("HostConfig.Binds", ["jh-home-ada:/home/jovyan:rw", ["jh-shared-team", "/srv/team"]], "may add only the shared"),
    ("Volumes", {"/home/jovyan": {}, "/srv/team": {}}, "must be the targets of its Binds"),
    ("Volumes", {"/home/jovyan": {}, "/srv/team": {"x": 1}}, "Volumes./srv/team has a value"),
    ("HostConfig.Mounts", [{"Type": "bind", "Source": "/", "Target": "/host"}], "Mounts has a value"),
    ("HostConfig.PortBindings", {"8888/tcp": [{"HostPort": "80"}]}, "PortBindings has a value"),
    ("HostConfig.PublishAllPorts", True, "'PublishAllPorts'"),
    ("HostConfig.Links", ["jh-docker-api:api"], "Links has a value"),
    ("HostConfig.Memory", 0, "Memory must be a whole number"),
    ("HostConfig.Memory", 6 * 1024**2 - 1, "Memory must be a whole number"),
    ("HostConfig.Memory", 4 * 1024**3 + 1, "Memory must be a whole number"),  # above the largest profile's
    ("HostConfig.Memory", 2 * 1024**3 + 1, "not those of any profile"),
    ("HostConfig.Memory", 2**70, "Memory must be a whole number"),
    ("HostConfig.Memory", -1, "Memory must be a whole number"),
    ("HostConfig.Memory", 1073741824.0, "Memory must be a whole number"),
    ("HostConfig.Memory", "1073741824", "Memory must be a whole number"),
    ("HostConfig.Memory", True, "Memory must be a whole number"),
    ("HostConfig.Memory", None, "Memory must be a whole number"),
    ("HostConfig.Memory", DELETE, "lacks Memory"),
    ("HostConfig.MemorySwap", -1, "'MemorySwap'"),
    ("HostConfig.CpuQuota", -1, "CpuQuota must be a whole number"),
    ("HostConfig.CpuQuota", 0, "CpuQuota must be a whole number"),
    ("HostConfig.CpuQuota", 999, "CpuQuota must be a whole number"),
    ("HostConfig.CpuQuota", 100_001, "CpuQuota must be a whole number"),
    ("HostConfig.CpuQuota", DELETE, "lacks CpuQuota"),
    ("HostConfig.CpuPeriod", 1000, "CpuPeriod has a value"),
    ("HostConfig.PidsLimit", 4097, "PidsLimit must be a whole number"),
    ("HostConfig.PidsLimit", 0, "PidsLimit must be a whole number"),
    ("HostConfig.PidsLimit", -1, "PidsLimit must be a whole number"),
    ("HostConfig.PidsLimit", DELETE, "lacks PidsLimit"),
    ("HostConfig.NanoCpus", 10**9, "'NanoCpus'"),
    ("HostConfig.RestartPolicy", {"Name": "always"}, "Name has a value"),
    ("HostConfig.RestartPolicy", {"Name": "on-failure", "MaximumRetryCount": 5}, "has a value"),
    ("HostConfig.AutoRemove", "yes", "AutoRemove must be true or false"),
    ("HostConfig", None, "HostConfig must be an object"),
    ("HostConfig", DELETE, "lacks HostConfig"),
    ("Image", "jh-hub:abc", "Image has a value"),
    ("Image", "debian:trixie-slim", "Image has a value"),
    ("Image", "JH-NOTEBOOK:ABC", "Image has a value"),
    ("Image", DELETE, "lacks Image"),
    ("User", "0", "User has a value"),
    ("User", "root", "User has a value"),
    ("User", "1000:0", "User has a value"),
    ("User", "", "User has a value"),
    ("Entrypoint", ["/bin/sh"], "'Entrypoint'"),
    ("WorkingDir", "/", "'WorkingDir'"),
    ("Healthcheck", {"Test": ["CMD", "true"]}, "'Healthcheck'"),
    ("Hostname", "jh-hub", "'Hostname'"),
    ("Domainname", "x", "'Domainname'"),
    ("MacAddress", "02:42:ac:11:00:02", "'MacAddress'"),
    ("StopSignal", "SIGKILL", "'StopSignal'"),
    ("Tty", True, "Tty has a value"),
    ("NetworkDisabled", None, "NetworkDisabled has a value"),
    ("Volumes", {"/home/jovyan": {}, "/etc": {}}, "Volumes has fields that are not allowed"),
    ("ExposedPorts", {"22/tcp": {}}, "ExposedPorts has a value"),
    ("Env", ["BAD NAME=1"], "Env[0] must be"),
    ("Env", "JUPYTERHUB_USER=ada", "Env must be a list"),
    ("Env", [None], "Env[0] must be"),
    ("Cmd", "jupyterhub-singleuser", "Cmd must be a list"),
    ("Labels", {}, "Labels has a value"),
    ("Labels", {"org.jupyterhub-docker.deployment": "other"}, "Labels has a value"),
    ("Labels", {"org.jupyterhub-docker.deployment": None}, "Labels has a value"),
    # Only the deployment's label: no other label for host tooling that acts on labels (a proxy's routing, a cleanup).
    ("Labels", {"org.jupyterhub-docker.deployment": "jh", "traefik.enable": "true"}, "Labels has a value"),
    ("Labels", {"org.jupyterhub-docker.deployment": "jh", "com.docker.compose.project": "jh"}, "Labels has a value"),
    ("NetworkingConfig", {"EndpointsConfig": {"bridge": {}}}, "NetworkingConfig has a value"),
    ("NetworkingConfig", {"EndpointsConfig": {"jh": {"Aliases": ["jh-hub"]}}}, "NetworkingConfig has a value"),
    ("NetworkingConfig", {"EndpointsConfig": {"jh": {"IPAMConfig": {"IPv4Address": "172.18.0.2"}}}}, "has a value"),
    ("NetworkingConfig", {"EndpointsConfig": {"jh": {}, "jh-docker-api": {}}}, "NetworkingConfig has a value"),
]


@pytest.mark.parametrize(("path", "value", "reason"), ATTACKS_ON_THE_BODY, ids=[a[0] for a in ATTACKS_ON_THE_BODY])
def test_a_create_outside_the_pinned_shape_is_refused(path: str, value: Any, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        create(with_change(path, value))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"name": "jh-hub"}, "must name a user container"),
        ({"name": "jupyter-"}, "must name a user container"),
        ({"name": "jupyter-Ada"}, "must name a user container"),
        ({"name": "jupyter-a/b"}, "must name a user container"),
        ({"name": "jupyter-a b"}, "must name a user container"),
        ({"name": "jupyter-ada\n"}, "must name a user container"),
        ({"name": "jupyter-ada", "platform": "linux/amd64"}, "and nothing else"),
        ({}, "must name a user container"),
    ],
)
def test_a_create_must_name_exactly_one_user_container(query: dict[str, str], reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        create(dockerspawner_create_body(), query)


def test_the_shared_volumes_a_start_asks_for_are_mounted_each_with_its_own_mode() -> None:
    binds = {"jh-home-ada": {"bind": "/home/jovyan", "mode": "rw"}, "jh-shared-team": {"bind": "/srv/team", "mode": "rw"}}
    binds |= {"jh-shared-course": {"bind": "/home/jovyan/course", "mode": "ro"}}  # DockerSpawner's order: its volumes dict
    body = dockerspawner_create_body(binds=binds)
    body["Volumes"] = {"/home/jovyan": {}, "/srv/team": {}, "/home/jovyan/course": {}}
    forwarded = create(body)
    assert forwarded.body is not None
    assert forwarded.body["HostConfig"]["Binds"] == ["jh-home-ada:/home/jovyan:rw", COURSE, TEAM]  # the policy's order
    assert forwarded.body["Volumes"] == {"/home/jovyan": {}, "/home/jovyan/course": {}, "/srv/team": {}}
    alone = dockerspawner_create_body(binds={**binds, "jh-shared-course": {"bind": "/home/jovyan/course", "mode": "ro"}})
    del alone["HostConfig"]["Binds"][1]  # the team folder is not this user's
    del alone["Volumes"]
    forwarded = create(alone)
    assert forwarded.body is not None and forwarded.body["HostConfig"]["Binds"] == ["jh-home-ada:/home/jovyan:rw", COURSE]
    assert forwarded.body["Volumes"] == {"/home/jovyan": {}, "/home/jovyan/course": {}}


def gpu_body(*device_ids: str, memory: int = 4 * 1024**3, **request: Any) -> dict[str, Any]:
    """DockerSpawner's create for the GPU profile: docker-py's DeviceRequest of hub_config/spawners.py GpuMixin."""
    device = docker.types.DeviceRequest(driver="nvidia", device_ids=list(device_ids), capabilities=[["gpu"]])
    return dockerspawner_create_body(mem_limit=memory, device_requests=[{**device, **request}])


def test_a_gpu_profiles_create_gets_its_gpus_in_a_request_the_filter_writes() -> None:
    forwarded = create(gpu_body("1"))
    assert forwarded.body is not None
    assert forwarded.body["HostConfig"]["DeviceRequests"] == [
        {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert forwarded.body["Env"][-1] == "NVIDIA_DRIVER_CAPABILITIES=compute,utility"  # not the image's (all, graphics, …)
    assert "DeviceRequests" not in (create(dockerspawner_create_body()).body or {})["HostConfig"]


@pytest.mark.parametrize("entry", ["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_MIG_CONFIG_DEVICES=0"])
def test_an_nvidia_toolkit_variable_from_the_hub_is_refused_with_or_without_gpus(entry: str) -> None:
    for body in (dockerspawner_create_body(), gpu_body("0")):
        body["Env"] = ["JUPYTERHUB_USER=ada", entry]
        with pytest.raises(RefusedError, match="the filter sets them"):
            create(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (gpu_body("0", "1"), "not those of any profile"),  # two GPUs, the profile gives one
        (gpu_body("2"), "not those of any profile"),  # not the profile's GPU
        (gpu_body(), "not those of any profile"),  # the GPU profile's limits without its GPU
        (gpu_body("0", memory=2 * 1024**3), "not those of any profile"),  # a GPU with another profile's limits
        (gpu_body("0", Count=-1), "Count has a value"),  # docker --gpus all
        (gpu_body("0", Driver="cdi"), "Driver has a value"),
        (gpu_body("0", Capabilities=[["gpu", "compute", "utility", "display"]]), "Capabilities has a value"),
        (gpu_body("0", Options={"visible": "all"}), "Options has a value"),
        (gpu_body("0; rm -rf /"), "must be a string of the allowed form"),
        (gpu_body("0", "0", memory=4 * 1024**3), "not those of any profile"),
    ],
)
def test_a_gpu_request_other_than_a_profiles_is_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        create(body)


def test_a_second_device_request_is_refused() -> None:
    body = gpu_body("0")
    body["HostConfig"]["DeviceRequests"] *= 2
    with pytest.raises(RefusedError, match="DeviceRequests must be a list of at most 1"):
        create(body)


def test_a_device_request_is_read_strictly_before_its_gpus_are_matched() -> None:
    body = gpu_body(*(str(n) for n in range(17)))
    with pytest.raises(RefusedError, match="DeviceIDs must be a list of at most 16"):
        create(body)
    without_driver = gpu_body("0")
    del without_driver["HostConfig"]["DeviceRequests"][0]["Driver"]
    with pytest.raises(RefusedError, match="lacks Driver"):
        create(without_driver)
    with pytest.raises(RefusedError, match=r"DeviceIDs.0. must be a string"):
        create(gpu_body("GPU-" + "a" * 81))


def test_the_home_volume_is_the_named_users_own() -> None:
    body = dockerspawner_create_body()
    body["HostConfig"]["Binds"] = ["jh-home-bob:/home/jovyan:rw"]
    forwarded = create(body, {"name": "jupyter-bob"})
    assert forwarded.body is not None and forwarded.body["HostConfig"]["Binds"] == ["jh-home-bob:/home/jovyan:rw"]


# --- policy.py: the other calls -------------------------------------------------------


def call_of(method: str, target: str, body: bytes = b"", policy: Policy = POLICY) -> Any:
    raw = f"{method} {target} HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    request = read(raw)
    assert request is not None
    return route(request, policy)


@pytest.mark.parametrize(
    ("method", "target", "call"),
    [
        ("GET", "/_ping", Forward("GET", "/_ping", {})),
        ("GET", "/version", Forward("GET", "/version", {})),
        ("GET", "/v1.41/version", None),
        ("GET", f"/v1.41/images/{NOTEBOOK}/json", Forward("GET", f"/v1.41/images/{NOTEBOOK}/json", {})),
        (
            "GET",
            "/v1.45/images/quay.io/jupyter/base-notebook:2025-01-01/json",
            Forward("GET", "/v1.41/images/quay.io/jupyter/base-notebook:2025-01-01/json", {}),
        ),
        ("GET", "/v1.41/images/debian:trixie-slim/json", None),
        ("GET", "/v1.41/containers/jupyter-ada/json", OnUserContainer("inspect", "jupyter-ada", {})),
        ("GET", f"/v1.41/containers/{ADA_ID}/json", OnUserContainer("inspect", ADA_ID, {})),
        ("POST", f"/v1.41/containers/{ADA_ID}/start", OnUserContainer("start", ADA_ID, {})),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop", OnUserContainer("stop", ADA_ID, {})),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop?t=10", OnUserContainer("stop", ADA_ID, {"t": "10"})),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop?t=-1", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop?t=1000", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop?signal=SIGKILL", None),
        (
            "DELETE",
            f"/v1.41/containers/{ADA_ID}?v=True&link=False&force=False",
            OnUserContainer("remove", ADA_ID, {"v": "1", "force": "0"}),
        ),
        ("DELETE", f"/v1.41/containers/{ADA_ID}?link=True", None),
        ("DELETE", f"/v1.41/containers/{ADA_ID}?v=maybe", None),
        ("GET", "/v1.41/containers/jupyter-ada/json?size=1", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/start?detachKeys=x", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/exec", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/kill", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/restart", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/update", None),
        ("PUT", f"/v1.41/containers/{ADA_ID}/archive?path=/", None),
        ("GET", f"/v1.41/containers/{ADA_ID}/archive?path=/", None),
        ("POST", f"/v1.41/containers/{ADA_ID}/attach", None),
        ("GET", "/v1.41/containers/jupyter-ada/logs", None),
        ("POST", "/v1.23/containers/jupyter-ada/start", None),
        ("POST", "/containers/jupyter-ada/start", None),
        ("POST", "/v2.0/containers/jupyter-ada/start", None),
        ("POST", "/v1.41/build", None),
        ("POST", "/v1.41/images/create?fromImage=debian", None),
        ("POST", "/v1.41/volumes/create", None),
        ("POST", "/v1.41/networks/jh/connect", None),
        ("GET", "/v1.41/info", None),
        ("POST", "/v1.41/swarm/init", None),
        ("POST", "/v1.41/services/create", None),
        ("POST", "/v1.41/plugins/pull", None),
        ("POST", "/v1.41/containers/prune", None),
        ("GET", "/v1.41/containers/json?all=1", ListUserContainers(True, ())),
        (
            "GET",
            "/v1.41/containers/json?all=0&limit=-1&size=0&trunc_cmd=0&filters=%7B%22status%22%3A+%5B%22running%22%5D%7D",
            ListUserContainers(False, ("running",)),
        ),
        ("GET", "/v1.41/containers/json?filters=%7B%22label%22%3A+%5B%22x%22%5D%7D", None),
        ("GET", "/v1.41/containers/json?filters=%7B%22status%22%3A+%5B%22bogus%22%5D%7D", None),
        ("GET", "/v1.41/containers/json?all=2", None),
        ("GET", "/v1.41/containers/json?limit=5", None),
        ("GET", "/v1.41/containers/json?before=x", None),
    ],
)
def test_only_the_calls_dockerspawner_makes_are_routed(method: str, target: str, call: Any) -> None:
    if call is None:
        with pytest.raises(RefusedError):
            call_of(method, target)
    else:
        assert call_of(method, target) == call


def test_only_a_create_may_carry_a_body() -> None:
    with pytest.raises(RefusedError, match="only a container or service create may carry a body"):
        call_of("POST", f"/v1.41/containers/{ADA_ID}/start", json.dumps({"Privileged": True}).encode())


POLICY_DOCUMENT = {
    "deployment": "jh", "deploymentLabel": "org.jupyterhub-docker.deployment", "network": "jh",
    "userContainerTemplate": "jupyter-{username}", "homeVolumeTemplate": "jh-home-{username}", "notebookHome": "/home/jovyan",
    "notebookUser": "1000", "notebookPort": 8888, "images": [NOTEBOOK, "quay.io/jupyter/base-notebook:2025-01-01"],
    "shapes": [
        {"image": NOTEBOOK, "memoryBytes": 2 * 1024**3, "cpuQuota": 100_000, "nanoCpus": 10**9, "constraints": [],
         "gpus": 0, "gpuIds": []},
        {"image": "quay.io/jupyter/base-notebook:2025-01-01", "memoryBytes": 2 * 1024**3, "cpuQuota": 100_000,
         "nanoCpus": 10**9, "constraints": [],
         "gpus": 0, "gpuIds": []},
        {"image": NOTEBOOK, "memoryBytes": 512 * 1024**2, "cpuQuota": 50_000, "nanoCpus": 5 * 10**8,
         "constraints": [], "gpus": 0, "gpuIds": []},
        {"image": NOTEBOOK, "memoryBytes": 4 * 1024**3, "cpuQuota": 100_000, "nanoCpus": 10**9, "constraints": [],
         "gpus": 1, "gpuIds": ["0", "1"]},
    ],
    "cpuPeriod": 100_000, "maxPids": 4096,
    "logConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}, "maxServers": 3, "serversPerUser": 1,
    "sharedVolumes": [
        {"volume": "jh-shared-course", "path": "/home/jovyan/course", "readOnly": True},
        {"volume": "jh-shared-team", "path": "/srv/team", "readOnly": False},
    ],
    "swarm": {},
}  # fmt: skip


def test_the_policy_document_is_read_strictly() -> None:
    document = POLICY_DOCUMENT
    assert Policy.from_document(document) == POLICY
    shape: dict[str, Any] = document["shapes"][0]  # type: ignore[index]
    broken_shapes = [
        [], [{**shape, "image": "other:1"}], [{**shape, "extra": 1}], [{**shape, "memoryBytes": "1"}],
        [{**shape, "constraints": [1]}], [{k: v for k, v in shape.items() if k != "constraints"}], ["shape"],
        [{**shape, "gpus": 1}], [{**shape, "gpus": 1, "gpuIds": ["0; x"]}], [{**shape, "gpuIds": [0]}],
        [{**shape, "gpus": -1}],
    ]  # fmt: skip
    course: dict[str, Any] = document["sharedVolumes"][0]  # type: ignore[index]
    broken_shared = [
        [{**course, "readOnly": "true"}], [{**course, "extra": 1}], [{**course, "path": "/home/jovyan"}],
        [{**course, "volume": "jh-home-ada"}], [{**course, "path": "/home/jovyan/../../etc"}], [{**course, "path": "etc"}],
        [{**course, "volume": "-x"}], [course, {**course, "path": "/srv/other"}], [course, {**course, "volume": "jh-x"}],
        ["course"],
    ]  # fmt: skip
    for broken in (
        {**document, "extra": 1}, {**document, "notebookPort": "8888"}, {**document, "images": []},
        *({**document, "shapes": shapes} for shapes in broken_shapes),
        *({**document, "sharedVolumes": shared} for shared in broken_shared),
    ):  # fmt: skip
        with pytest.raises(ValueError):
            Policy.from_document(broken)


# --- filter.py: the handler on a socket, with a fake engine ---------------------------


class FakeEngine:
    """Records every call that would reach the socket. Knows jupyter-ada (a user
    container of this deployment), jh-hub (this deployment's, not a user container)
    and jupyter-eve (another deployment's)."""

    CONTAINERS: ClassVar[dict[str, dict[str, Any]]] = {
        "jupyter-ada": {"Id": ADA_ID, "Name": "/jupyter-ada", "Config": {"Labels": {POLICY.deployment_label: "jh"}}},
        "jh-hub": {"Id": HUB_ID, "Name": "/jh-hub", "Config": {"Labels": {POLICY.deployment_label: "jh"}}},
        "jupyter-eve": {"Id": "c" * 64, "Name": "/jupyter-eve", "Config": {"Labels": {POLICY.deployment_label: "other"}}},
    }

    # jh-home-ada is this deployment's; jh-home-old an adopted one (no label); jh-home-mal another deployment's;
    # jh-home-bnd (no label) and jh-home-lbd (this deployment's label) are local volumes with bind options.
    BIND: ClassVar[dict[str, str]] = {"type": "none", "o": "bind", "device": "/"}
    VOLUMES: ClassVar[dict[str, dict[str, Any]]] = {
        "jh-home-ada": {"Name": "jh-home-ada", "Driver": "local", "Labels": {POLICY.deployment_label: "jh"}, "Options": None},
        "jh-home-old": {"Name": "jh-home-old", "Driver": "local", "Labels": None, "Options": {}},
        "jh-home-mal": {"Name": "jh-home-mal", "Driver": "local", "Labels": {POLICY.deployment_label: "jh-home"}},
        "jh-home-bnd": {"Name": "jh-home-bnd", "Driver": "local", "Labels": None, "Options": BIND},
        "jh-home-lbd": {"Name": "jh-home-lbd", "Driver": "local", "Labels": {POLICY.deployment_label: "jh"}, "Options": BIND},
        "jh-home-plg": {"Name": "jh-home-plg", "Driver": "vieux/sshfs", "Labels": None, "Options": None},
    }

    def __init__(self) -> None:
        self.calls: list[Forward] = []

    def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
        self.calls.append(forward)
        if forward.method == "GET" and forward.path.startswith("/v1.41/volumes/"):
            volume = self.VOLUMES.get(forward.path.removeprefix("/v1.41/volumes/"))
            if volume is None:
                return 404, {"Content-Type": "application/json"}, b'{"message": "no such volume"}'
            return 200, {"Content-Type": "application/json"}, json.dumps(volume).encode()
        by_ref = {ref: c for c in self.CONTAINERS.values() for ref in (c["Name"][1:], c["Id"])}
        if forward.path == "/v1.41/containers/json":
            listed = [{"Id": c["Id"], "Names": [c["Name"]], "Labels": c["Config"]["Labels"]} for c in self.CONTAINERS.values()]
            return 200, {"Content-Type": "application/json"}, json.dumps(listed).encode()
        parts = forward.path.split("/")
        if forward.method == "GET" and len(parts) == 5 and parts[2] == "containers" and parts[4] == "json":
            found = by_ref.get(parts[3])
            if found is None:
                return 404, {"Content-Type": "application/json"}, b'{"message": "No such container"}'
            return 200, {"Content-Type": "application/json", "Set-Cookie": "x"}, json.dumps(found).encode()
        return 204 if forward.method != "POST" or "create" not in forward.path else 201, {}, b""


def exchange_raw(raw: bytes, engine: FakeEngine | None = None) -> tuple[bytes, FakeEngine, list[str]]:
    """Send raw bytes to a handler over a socket; the bytes it answered, what reached the engine, the log."""
    recorder = engine or FakeEngine()
    logged: list[str] = []

    class Handler(api_filter.FilterHandler):
        policy = POLICY
        send_to_engine = staticmethod(recorder)

        @staticmethod
        def server_log(line: str) -> None:
            logged.append(line)

    client, served = socket.socketpair()

    def serve() -> None:
        Handler(served, ("test", 0), None)  # type: ignore[arg-type]
        served.close()  # as the server does when a handler returns

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    client.sendall(raw)
    client.shutdown(socket.SHUT_WR)
    received = b""
    client.settimeout(10)
    while chunk := client.recv(65536):
        received += chunk
    worker.join(10)
    client.close()
    return received, recorder, logged


def exchange(raw: bytes, engine: FakeEngine | None = None) -> tuple[list[tuple[int, bytes]], FakeEngine, list[str]]:
    """Send raw bytes to a handler over a socket; the answers, what reached the engine, the log."""
    received, recorder, logged = exchange_raw(raw, engine)
    answers = []
    stream = io.BytesIO(received)
    while status_line := stream.readline():
        headers = {}
        while (line := stream.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        answers.append((int(status_line.split()[1]), stream.read(int(headers["content-length"]))))
        assert set(headers) <= {"content-type", "content-length", "connection", "api-version", "ostype", "docker-experimental"}
    return answers, recorder, logged


def http(method: str, target: str, body: bytes = b"", extra: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: jh-docker-api:2375\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body


CAP_CHECK = Forward(
    "GET", "/v1.41/containers/json", {"all": "1", "filters": json.dumps({"label": ["org.jupyterhub-docker.deployment=jh"]})}
)


def test_a_spawn_and_a_stop_reach_the_engine_as_built_by_the_filter() -> None:
    body = json.dumps(dockerspawner_create_body()).encode()
    answers, engine, _ = exchange(
        http("GET", "/v1.41/containers/jupyter-ada/json")
        + http("POST", "/v1.41/containers/create?name=jupyter-ada", body)
        + http("POST", f"/v1.41/containers/{ADA_ID}/start")
        + http("POST", f"/v1.41/containers/{ADA_ID}/stop")
        + http("DELETE", f"/v1.41/containers/{ADA_ID}?v=True&link=False&force=False", extra="Connection: close\r\n")
    )
    assert [status for status, _ in answers] == [200, 201, 204, 204, 204]
    inspect = Forward("GET", f"/v1.41/containers/{ADA_ID}/json", {})
    assert engine.calls == [
        Forward("GET", "/v1.41/containers/jupyter-ada/json", {}),
        CAP_CHECK,
        Forward("GET", "/v1.41/volumes/jh-home-ada", {}),
        Forward("POST", "/v1.41/volumes/create", {}, {"Name": "jh-home-ada", "Labels": {POLICY.deployment_label: "jh"}}),
        Forward("POST", "/v1.41/containers/create", {"name": "jupyter-ada"}, EXPECTED_CREATE_BODY),
        inspect,
        Forward("POST", f"/v1.41/containers/{ADA_ID}/start", {}),
        inspect,
        Forward("POST", f"/v1.41/containers/{ADA_ID}/stop", {}),
        inspect,
        Forward("DELETE", f"/v1.41/containers/{ADA_ID}", {"v": "1", "force": "0"}),
    ]


@pytest.mark.parametrize("target", [HUB_ID, "jupyter-eve"])
@pytest.mark.parametrize("action", [("GET", "json"), ("POST", "start"), ("POST", "stop"), ("DELETE", "")])
def test_no_other_container_is_inspected_started_stopped_or_removed(target: str, action: tuple[str, str]) -> None:
    method, verb = action
    answers, engine, logged = exchange(http(method, f"/v1.41/containers/{target}" + (f"/{verb}" if verb else "")))
    # as the engine answers a container that does not exist: the hub learns nothing of others
    assert answers == [(404, json.dumps({"message": f"No such container: {target}"}).encode())]
    assert [call.method for call in engine.calls] == ["GET"]  # the look-up, and nothing after it
    assert logged == [f"{method} /v1.41/containers/{target}{f'/{verb}' if verb else ''} -> 404"]


@pytest.mark.parametrize("target", ["jh-hub", "b", "bbbbbbbbbbbb", "b" * 63, "7f", "jupyter-"])
def test_a_container_is_named_only_by_its_full_id_or_a_user_servers_name(target: str) -> None:
    """A short ID is a prefix: the engine's "multiple IDs found" would tell the hub of other containers."""
    answers, engine, _ = exchange(http("GET", f"/v1.41/containers/{target}/json"))
    assert answers[0][0] == 403 and b"not a call the spawner needs" in answers[0][1]
    assert engine.calls == []


def test_a_listing_shows_only_this_deployments_user_containers_and_asks_the_engine_for_them_by_label() -> None:
    answers, engine, _ = exchange(http("GET", "/v1.41/containers/json?all=0&filters=%7B%22status%22%3A+%5B%22running%22%5D%7D"))
    assert [c["Names"] for c in json.loads(answers[0][1])] == [["/jupyter-ada"]]
    filters = json.dumps({"label": ["org.jupyterhub-docker.deployment=jh"], "status": ["running"]}, sort_keys=True)
    assert engine.calls == [Forward("GET", "/v1.41/containers/json", {"all": "0", "filters": filters})]


def test_a_smuggled_request_is_read_as_a_request_of_its_own_and_refused() -> None:
    inner = http("POST", "/v1.41/containers/create?name=jupyter-ada", json.dumps({"HostConfig": {"Privileged": True}}).encode())
    # The inner request sits where a parser trusting the second Content-Length would see body.
    outer = http("POST", f"/v1.41/containers/{ADA_ID}/start", extra=f"X-Len: {len(inner)}\r\n")
    answers, engine, _ = exchange(outer + inner)
    assert [status for status, _ in answers] == [204, 403]
    assert not [call for call in engine.calls if "create" in call.path]


def test_a_malformed_request_closes_the_connection_and_nothing_after_it_is_read() -> None:
    answers, engine, _ = exchange(
        b"POST /v1.41/containers/create?name=jupyter-ada HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}"
        + http("GET", "/v1.41/containers/jupyter-ada/json")
    )
    assert [status for status, _ in answers] == [403]
    assert engine.calls == []


def test_refusals_log_one_escaped_line_and_never_a_body() -> None:
    body = json.dumps(with_change("HostConfig.Privileged", True)).encode()
    answers, _, logged = exchange(
        http("POST", "/v1.41/containers/create?name=jupyter-ada", body) + b"GET /\x1b[31m\r\n HTTP/1.1\r\n\r\n"
    )
    assert [status for status, _ in answers] == [403, 403]
    assert all("\n" not in line and "\x1b" not in line and "secret-token" not in line for line in logged)
    assert "refused POST /v1.41/containers/create: the container.HostConfig has fields that are not allowed" in logged[0]


def test_a_client_that_opens_too_many_connections_is_turned_away() -> None:
    class Full(api_filter.FilterHandler):
        slots = threading.BoundedSemaphore(1)

    assert Full.slots.acquire(blocking=False)
    client, served = socket.socketpair()
    Full(served, ("test", 0), None)  # type: ignore[arg-type]
    answer = client.recv(1024)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"\r\nConnection: close\r\n" in answer
    assert answer.endswith(b'{"message": "too many connections"}')
    client.close()
    served.close()


# --- fuzzing: no input makes the filter forward what its checks did not see ------------

SAFE_HOST_CONFIG_KEYS = {
    "NetworkMode", "Binds", "Memory", "CpuPeriod", "CpuQuota", "PidsLimit", "RestartPolicy", "AutoRemove", "Privileged",
    "CapDrop", "SecurityOpt", "LogConfig",
}  # fmt: skip


def assert_safe(forward: Forward) -> None:
    """What may reach the engine, stated apart from policy.py's own rules."""
    path, body = forward.path, forward.body
    allowed_image_paths = {f"/v1.41/images/{image}/json" for image in POLICY.images}
    if forward.method == "GET":
        assert body is None
        home_of = path.removeprefix("/v1.41/volumes/jh-home-")
        assert (
            path in {"/_ping", "/version", "/v1.41/containers/json", *allowed_image_paths}
            or (path.startswith("/v1.41/containers/") and path.endswith("/json") and path.count("/") == 4)
            or (home_of != path and POLICY.user_of(f"jupyter-{home_of}") is not None)
        ), path
        if path == "/v1.41/containers/json":
            assert json.loads(forward.query["filters"])["label"] == ["org.jupyterhub-docker.deployment=jh"]
        return
    if path == "/v1.41/volumes/create":
        assert forward.method == "POST" and body is not None and not forward.query
        user = body["Name"].removeprefix("jh-home-")
        assert body == {"Name": f"jh-home-{user}", "Labels": {POLICY.deployment_label: "jh"}} and POLICY.user_of(
            f"jupyter-{user}"
        )
        return
    if path == "/v1.41/containers/create":
        assert forward.method == "POST" and body is not None and set(forward.query) == {"name"}
        user = forward.query["name"].removeprefix("jupyter-")
        host = body["HostConfig"]
        assert set(host) <= SAFE_HOST_CONFIG_KEYS
        home, *shared = host["Binds"]
        assert home == f"jh-home-{user}:/home/jovyan:rw" and "/" not in user
        assert shared in ([], [COURSE], [TEAM], [COURSE, TEAM]), shared
        assert set(body["Volumes"]) == {"/home/jovyan", *(bind.split(":")[1] for bind in shared)}
        assert (host["Privileged"], host["CapDrop"], host["SecurityOpt"]) == (False, ["ALL"], ["no-new-privileges"])
        assert host["NetworkMode"] == "jh" and body["NetworkingConfig"] == {"EndpointsConfig": {"jh": {}}}
        gpus = [gpu for request in host.get("DeviceRequests", []) for gpu in request["DeviceIDs"]]
        shape = Shape(body["Image"], host["Memory"], host["CpuQuota"], host["CpuQuota"] * 10_000, gpus=len(gpus))
        assert any(
            (shape.image, shape.memory_bytes, shape.cpu_quota, shape.gpus) == (s.image, s.memory_bytes, s.cpu_quota, s.gpus)
            and set(gpus) <= set(s.gpu_ids)
            for s in POLICY.shapes
        )
        assert 0 < host["PidsLimit"] <= POLICY.max_pids
        assert host["LogConfig"] == POLICY.log_config
        assert body["User"] == "1000" and body["Image"] in POLICY.images
        assert set(body) <= {"Image", "Cmd", "Env", "Labels", "User", "ExposedPorts", "Volumes", "HostConfig", "NetworkingConfig"}
        return
    # start, stop, remove: only of the one user container, by its full ID
    assert (forward.method, path) in {
        ("POST", f"/v1.41/containers/{ADA_ID}/start"),
        ("POST", f"/v1.41/containers/{ADA_ID}/stop"),
        ("DELETE", f"/v1.41/containers/{ADA_ID}"),
    }, (forward.method, path)
    assert body is None


DOCKER_KEYS = [
    "Privileged", "privileged", "HostConfig", "hostConfig", "Binds", "CapAdd", "PidMode", "NetworkMode", "Image", "User",
    "Memory", "CpuQuota", "Mounts", "Devices", "Labels", "Env", "Cmd", "EndpointsConfig", "Aliases", "DeviceRequests",
    "DeviceIDs", "Driver", "Count",
]  # fmt: skip
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from(
        [
            "host",
            "/:/host",
            "0",
            "root",
            "jh-home-ada:/home/jovyan:rw",
            NOTEBOOK,
            "jh",
            "ALL",
            "jh-hub",
            COURSE,
            TEAM,
            COURSE.replace(":ro", ":rw"),
            "jh-shared-team:/etc:rw",
            "/home/jovyan/course",
            "/srv/team",
            "NVIDIA_VISIBLE_DEVICES=all",
            "0",
        ]
    )
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(DOCKER_KEYS), children, max_size=3),
    max_leaves=6,
)
spots = st.sampled_from([(), ("HostConfig",), ("HostConfig", "RestartPolicy"), ("NetworkingConfig",), ("Labels",)])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(spots, st.sampled_from(DOCKER_KEYS), json_values), max_size=3), st.sampled_from(["ada", "bob"]))
def test_a_mutated_spawner_body_is_refused_or_forwarded_in_the_pinned_shape(
    mutations: list[tuple[tuple[str, ...], str, Any]], user: str
) -> None:
    body = dockerspawner_create_body()
    for spot, key, value in mutations:
        target: Any = body
        for part in spot:
            target = target.setdefault(part, {}) if isinstance(target, dict) else {}
        if isinstance(target, dict):
            target[key] = value
    try:
        forwarded = create(body, {"name": f"jupyter-{user}"})
    except RefusedError:
        return
    assert_safe(forwarded)


request_lines = st.sampled_from(
    [
        "GET /v1.41/containers/jupyter-ada/json",
        "GET /v1.41/containers/jh-hub/json",
        f"POST /v1.41/containers/{ADA_ID}/start",
        f"POST /v1.41/containers/{HUB_ID}/start",
        "POST /v1.41/containers/jh-hub/stop?t=1",
        "DELETE /v1.41/containers/jupyter-ada?v=1&force=1",
        *["POST /v1.41/containers/create?name=jupyter-ada"] * 4,
        "POST /v1.41/containers/create?name=jupyter-ada&name=jh-hub",
        "POST /v1.20/containers/create?name=jupyter-ada",
        "POST http://x/v1.41/containers/create?name=jupyter-ada",
        "GET /v1.41/containers/json?all=1",
        f"GET /v1.41/images/{NOTEBOOK}/json",
        "POST /v1.41/containers/jupyter-ada/exec",
    ]
)
header_lines = st.sampled_from(
    ["Content-Length: 0", "Transfer-Encoding: chunked", "Connection: close",
     "Content-Type: application/json", "X: a\n", " folded", "Host: x"]
)  # fmt: skip
bodies = st.one_of(
    st.sampled_from([b"", json.dumps(with_change("HostConfig.Privileged", True)).encode()]),
    st.binary(max_size=60),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.just(json.dumps(dockerspawner_create_body()).encode()),
    st.just(json.dumps(dockerspawner_create_body()).encode()),
)


def raw_request(line: str, headers: list[str], length: str, body: bytes) -> bytes:
    lengths = {"right": [len(body)], "missing": [], "off": [len(body) + 7], "twice": [len(body), len(body) + 7]}[length]
    lines = [f"{line} HTTP/1.1", *headers, *(f"Content-Length: {n}" for n in lengths)]
    return "".join(f"{text}\r\n" for text in lines).encode() + b"\r\n" + body


raw_requests = st.builds(
    raw_request,
    request_lines,
    st.lists(header_lines, max_size=3),
    st.sampled_from(["right", "right", "missing", "off", "twice"]),
    bodies,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_requests, min_size=1, max_size=4), st.binary(max_size=30))
def test_no_byte_stream_makes_the_filter_forward_something_its_checks_did_not_see(requests: list[bytes], tail: bytes) -> None:
    _, engine, logged = exchange(b"".join(requests) + tail)
    for forward in engine.calls:
        assert_safe(forward)
    event(f"creates forwarded: {sum(f.path.endswith('/create') for f in engine.calls)}")
    assert all("\n" not in line for line in logged)


# --- boundaries and defaults the mutation run found untested --------------------------


def test_the_readers_limits_are_exact() -> None:
    assert (MAX_BODY_BYTES, wire.MAX_LINE_BYTES, wire.MAX_HEADERS) == (1024 * 1024, 8192, 64)
    longest = b"GET /_ping HTTP/1.1\r\nX: " + b"a" * (8192 - 5) + b"\r\n\r\n"
    assert read(longest) is not None
    assert read(b"GET /_ping HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(64)) + b"\r\n") is not None
    body = b"x" * MAX_BODY_BYTES
    assert read(f"POST /x HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body) == Request(
        "POST", "/x", {}, body, True
    )
    assert read(b"") is None


@pytest.mark.parametrize("path", ["/v1.41/./containers/json", "/v1.41/containers/./json", "/v1.41/containers/jupyter-ada/.."])
def test_dot_segments_are_refused(path: str) -> None:
    with pytest.raises(RefusedError, match="path"):
        read(f"GET {path} HTTP/1.1\r\n\r\n".encode())


@pytest.mark.parametrize("body", [b'["\\ud800"]', b'{"a": ["ok", "\\udfff"]}', b'{"a": {"\\ud800": 1}}'])
def test_surrogates_are_refused_at_any_depth(body: bytes) -> None:
    with pytest.raises(RefusedError, match="surrogate"):
        parse_json(body)


@pytest.mark.parametrize("status", ["created", "restarting", "running", "removing", "paused", "exited", "dead"])
def test_a_listing_may_filter_by_any_container_status(status: str) -> None:
    filters = quote_plus(json.dumps({"status": [status]}))
    assert call_of("GET", f"/v1.41/containers/json?all=1&size=1&trunc_cmd=1&limit=-1&filters={filters}") == ListUserContainers(
        True, (status,)
    )


@pytest.mark.parametrize(
    ("query", "forwarded"),
    [
        ("v=1&force=0", {"v": "1", "force": "0"}),
        ("v=true&force=false", {"v": "1", "force": "0"}),
        ("v=True&force=True&link=0", {"v": "1", "force": "1"}),
        ("v=False&link=false", {"v": "0", "force": "0"}),
        ("", {"v": "0", "force": "0"}),
    ],
)
def test_a_remove_reads_every_boolean_spelling_docker_py_and_the_engine_use(query: str, forwarded: dict[str, str]) -> None:
    assert call_of("DELETE", f"/v1.41/containers/{ADA_ID}" + (f"?{query}" if query else "")) == OnUserContainer(
        "remove", ADA_ID, forwarded
    )


def test_the_oldest_accepted_api_version_is_1_24() -> None:
    assert call_of("POST", f"/v1.24/containers/{ADA_ID}/start") == OnUserContainer("start", ADA_ID, {})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("Cmd", ["x"] * 64),
        ("Cmd", ["x" * 4096]),
        ("Env", [f"V{i}=x" for i in range(256)]),
        ("HostConfig.PidsLimit", 1),
        ("HostConfig.RestartPolicy", {"Name": "no", "MaximumRetryCount": 0}),
    ],
)
def test_values_at_the_allowed_limits_are_accepted(path: str, value: Any) -> None:
    create(with_change(path, value))


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("Cmd", ["x"] * 65, "Cmd must be a list of at most 64"),
        ("Cmd", ["x" * 4097], "Cmd\\[0\\] must be a string"),
        ("Env", [f"V{i}=x" for i in range(257)], "Env must be a list of at most 256"),
        ("Labels", DELETE, "lacks Labels"),
        ("HostConfig.CpuPeriod", DELETE, "lacks CpuPeriod"),
        ("HostConfig.RestartPolicy", {"MaximumRetryCount": 0}, "lacks Name"),
    ],
)
def test_values_just_past_the_allowed_limits_are_refused(path: str, value: Any, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason):
        create(with_change(path, value))


def test_what_the_client_leaves_out_is_forwarded_as_the_engines_safe_default() -> None:
    body = with_change("HostConfig.RestartPolicy", DELETE)
    body["HostConfig"].pop("AutoRemove", None)
    host = create(body).body["HostConfig"]  # type: ignore[index]
    assert (host["RestartPolicy"], host["AutoRemove"]) == ({"Name": "no", "MaximumRetryCount": 0}, False)
    assert create(with_change("HostConfig.AutoRemove", True)).body["HostConfig"]["AutoRemove"] is True  # type: ignore[index]


def test_an_action_needs_the_full_id_the_engine_reported() -> None:
    for details in ({}, {"Id": 7}, {"Id": "abc"}, {"Id": ADA_ID.upper()}):
        with pytest.raises(RefusedError, match="did not give a container ID"):
            container_action(OnUserContainer("start", "jupyter-ada", {}), details)
    assert container_action(OnUserContainer("stop", "jupyter-ada", {"t": "3"}), {"Id": ADA_ID}) == Forward(
        "POST", f"/v1.41/containers/{ADA_ID}/stop", {"t": "3"}
    )


def test_a_policy_needs_a_home_volume_template_naming_the_user() -> None:
    document = {
        "deployment": "jh", "deploymentLabel": "l", "network": "jh", "userContainerTemplate": "jupyter-{username}",
        "homeVolumeTemplate": "jh-home", "notebookHome": "/home/jovyan", "notebookUser": "1000", "notebookPort": 8888,
        "images": [NOTEBOOK],
        "shapes": [
            {"image": NOTEBOOK, "memoryBytes": 1, "cpuQuota": 1, "nanoCpus": 1, "constraints": [], "gpus": 0, "gpuIds": []}
        ],
        "cpuPeriod": 1, "maxPids": 1, "logConfig": {},
        "maxServers": 1, "serversPerUser": 1, "sharedVolumes": [], "swarm": {},
    }  # fmt: skip
    with pytest.raises(ValueError, match="username"):
        Policy.from_document(document)


class UnixEngine:
    """A stand-in Docker engine on a Unix socket: records the raw request, sends a fixed reply."""

    def __init__(self, path: Path, reply: bytes):
        self.path, self.reply, self.received = path, reply, b""
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        connection.settimeout(5)
        while b"\r\n\r\n" not in self.received:
            self.received += connection.recv(65536)
        head, _, body = self.received.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: ([0-9]+)", head).group(1)) if b"Content-Length" in head else 0  # type: ignore[union-attr]
        while len(body) < length:
            body += connection.recv(65536)
        self.received = head + b"\r\n\r\n" + body
        connection.sendall(self.reply)
        connection.close()
        self.listener.close()


@pytest.fixture
def unix_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "docker.sock"
    monkeypatch.setattr(api_filter, "engine_socket", str(path))
    timeouts: list[float | None] = []  # each call's timeout, its socket's, then -1 once it is closed

    class Recording(api_filter._UnixConnection):
        def __init__(self, timeout: float) -> None:
            timeouts.append(timeout)
            super().__init__(timeout)

        def connect(self) -> None:
            super().connect()
            timeouts.append(self.sock.gettimeout())  # on the socket itself: a stuck engine cannot hang a thread

        def close(self) -> None:
            if self.sock is not None:
                timeouts.append(-1)  # the filter closed its connection to the engine
            super().close()

    monkeypatch.setattr(api_filter, "_UnixConnection", Recording)
    return lambda reply: (UnixEngine(path, reply), timeouts)


def test_the_engine_receives_only_the_request_the_filter_built(unix_engine: Any) -> None:
    reply = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nServer: Docker\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    engine, timeouts = unix_engine(reply)
    answer = api_filter.engine(Forward("POST", "/v1.41/containers/create", {"name": "jupyter-ada"}, {"Image": "x", "A": [1, 2]}))
    engine.thread.join(5)
    head, _, body = engine.received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1.41/containers/create?name=jupyter-ada HTTP/1.1"
    assert sorted(lines[1:]) == sorted(
        ["Host: docker", "Accept-Encoding: identity", "Content-Length: 23", "Content-Type: application/json"]
    )
    assert body == b'{"Image":"x","A":[1,2]}'
    assert answer == (
        201,
        {"Content-Type": "application/json", "Api-Version": "1.41", "Server": "Docker", "Content-Length": "2"},
        b"{}",
    )
    assert timeouts == [api_filter.ENGINE_TIMEOUT_S, api_filter.ENGINE_TIMEOUT_S, -1]


def test_an_engine_query_is_encoded_by_the_filter_and_a_stop_waits_for_its_grace_period(unix_engine: Any) -> None:
    engine, timeouts = unix_engine(b"HTTP/1.1 204 No Content\r\n\r\n")
    status, _, payload = api_filter.engine(Forward("POST", f"/v1.41/containers/{ADA_ID}/stop", {"t": "7", "x": '{"a": [1]}&'}))
    engine.thread.join(5)
    first_line = engine.received.split(b"\r\n")[0].decode()
    assert first_line == f"POST /v1.41/containers/{ADA_ID}/stop?t=7&x=%7B%22a%22%3A%20%5B1%5D%7D%26 HTTP/1.1"
    assert b"Content-Type" not in engine.received and engine.received.endswith(b"Content-Length: 0\r\n\r\n")
    assert (status, payload, timeouts) == (204, b"", [api_filter.ENGINE_TIMEOUT_S + 7, api_filter.ENGINE_TIMEOUT_S + 7, -1])


def test_replies_pass_only_the_engines_api_headers_with_the_status_phrase() -> None:
    class HeaderEngine(FakeEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            headers = {"Api-Version": "1.41", "Ostype": "linux", "Docker-Experimental": "false", "Content-Type": "text/plain",
                       "Server": "Docker", "X-Evil": "1", "Content-Type\r\nX-Injected": "1"}  # fmt: skip
            return (599 if "images" in forward.path else 200), headers, b"ok"

    raw, _, _ = exchange_raw(http("GET", "/_ping") + http("GET", f"/v1.41/images/{NOTEBOOK}/json"), HeaderEngine())
    first, second = raw.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 OK\r\n") and second.startswith(b"599 Unknown\r\n")
    head = first.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    assert head == ["Api-Version: 1.41", "Ostype: linux", "Docker-Experimental: false", "Content-Type: text/plain",
                    "Content-Length: 2", "Connection: keep-alive"]  # fmt: skip


def test_an_unreachable_engine_is_a_502_that_closes_the_connection() -> None:
    class DownEngine(FakeEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            raise ConnectionRefusedError

    raw, _, logged = exchange_raw(http("GET", "/_ping") + http("GET", "/version"), DownEngine())
    assert raw.count(b"HTTP/1.1 ") == 1 and raw.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and b"Connection: close" in raw
    assert logged == ["GET /_ping -> engine unreachable: ConnectionRefusedError"]


def test_a_create_is_logged_with_the_container_it_names_and_a_malformed_request_closes() -> None:
    body = json.dumps(dockerspawner_create_body()).encode()
    raw, _, logged = exchange_raw(http("POST", "/v1.41/containers/create?name=jupyter-ada", body) + b"GET / HTTP/9\r\n\r\n")
    assert logged[0] == "POST /v1.41/containers/create name=jupyter-ada -> 201"
    assert logged[1].startswith("refused - -: the request line")
    assert raw.count(b"Connection: keep-alive") == 1 and raw.endswith(
        b"Connection: close\r\n\r\n" + raw.rsplit(b"\r\n\r\n", 1)[1]
    )


def test_the_filter_does_not_start_without_a_valid_policy(tmp_path: Path) -> None:
    args = [f"--policy={tmp_path / 'policy.json'}", "--port=0", "--engine=/nowhere.sock"]
    with pytest.raises(SystemExit, match="cannot read the policy"):
        api_filter.main(args)
    (tmp_path / "policy.json").write_text('{"deployment": "jh"}')
    with pytest.raises(SystemExit, match="exactly these keys"):
        api_filter.main(args)
    with pytest.raises(SystemExit):
        api_filter.main(args[:2])  # every path comes from the program: none is assumed


def test_the_filter_serves_the_policy_on_the_port_and_engine_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []

    class Server:
        def __init__(self, address: tuple, handler: type[api_filter.FilterHandler]) -> None:
            served.append((address, handler.policy))

        def __enter__(self) -> Server:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def serve_forever(self) -> None:
            served.append(api_filter.engine_socket)

    (tmp_path / "policy.json").write_text(json.dumps(POLICY_DOCUMENT))
    monkeypatch.setattr(api_filter, "FilterServer", Server)
    monkeypatch.setattr(api_filter, "engine_socket", "")
    api_filter.main([f"--policy={tmp_path / 'policy.json'}", "--port=2376", "--engine=/run/docker.sock"])
    assert served == [(("0.0.0.0", 2376), POLICY), "/run/docker.sock"]


def test_the_filters_limits() -> None:
    assert (api_filter.CLIENT_TIMEOUT_S, api_filter.ENGINE_TIMEOUT_S, api_filter.MAX_CONNECTIONS) == (30, 60, 32)


DEPLOYMENT_POLICY = dataclasses.replace(POLICY, user_container_template="jupyter-jh_{username}")


@pytest.mark.parametrize(
    ("name", "user"),
    [
        ("jupyter-jh_ada", "ada"),
        ("jupyter-jh_a-2eb", "a-2eb"),  # DockerSpawner's escape of "a.b"
        ("jupyter-jh_0", "0"),
        ("jupyter-jh_" + "a" * 192, "a" * 192),
        ("jupyter-jh_a_b", None),  # the user part never holds '_': this is deployment jh_a's user b
        ("jupyter-jh_", None),
        ("jupyter-jh_-ada", None),
        ("jupyter-jh_Ada", None),
        ("jupyter-jh_a.b", None),
        ("jupyter-jh_" + "a" * 193, None),
        ("jupyter-ada", None),
        ("jupyter-jhx_ada", None),
        ("xjupyter-jh_ada", None),
        ("jupyter-jh_ada ", None),
        ("jupyter-jh_ada\n", None),
    ],
)
def test_a_user_container_name_is_the_deployments_template_with_one_escaped_user(name: str, user: str | None) -> None:
    assert DEPLOYMENT_POLICY.user_of(name) == user


def test_a_template_with_a_suffix_is_read_both_ends() -> None:
    policy = dataclasses.replace(POLICY, user_container_template="u-{username}.jh")
    assert (policy.user_of("u-ada.jh"), policy.user_of("u-ada.jhx"), policy.user_of("u-.jh")) == ("ada", None, None)


def test_a_create_for_the_deployments_name_gets_that_users_home_and_nothing_else() -> None:
    call = call_of(
        "POST",
        "/v1.41/containers/create?name=jupyter-jh_ada",
        json.dumps(dockerspawner_create_body()).encode(),
        DEPLOYMENT_POLICY,
    )
    assert isinstance(call, CreateUserContainer) and call.container.query == {"name": "jupyter-jh_ada"}
    assert call.container.body is not None and call.container.body["HostConfig"]["Binds"] == ["jh-home-ada:/home/jovyan:rw"]
    assert call.home_volume == Forward(
        "POST", "/v1.41/volumes/create", {}, {"Name": "jh-home-ada", "Labels": {"org.jupyterhub-docker.deployment": "jh"}}
    )
    for other in ("jupyter-ada", "jupyter-jh_a_b", "jupyter-other_ada"):
        with pytest.raises(RefusedError, match=r"a create must name a user container, jupyter-jh_\{username\}, and nothing else"):
            call_of(
                "POST",
                f"/v1.41/containers/create?name={other}",
                json.dumps(dockerspawner_create_body()).encode(),
                DEPLOYMENT_POLICY,
            )


@pytest.mark.parametrize("template", ["jupyter-jh", "jupyter-{username}-{username}"])
def test_a_policy_needs_templates_naming_the_user_once(template: str) -> None:
    for key in ("userContainerTemplate", "homeVolumeTemplate"):
        with pytest.raises(ValueError, match="templates with \\{username\\}"):
            Policy.from_document({**POLICY_DOCUMENT, key: template})


def test_a_create_whose_home_volume_the_engine_refuses_creates_no_container() -> None:
    class VolumeRefused(FakeEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            if forward.path == "/v1.41/volumes/create":
                self.calls.append(forward)
                return 500, {"Content-Type": "application/json"}, b'{"message": "volume driver failed"}'
            return super().__call__(forward)

    body = json.dumps(dockerspawner_create_body()).encode()
    answers, engine, logged = exchange(http("POST", "/v1.41/containers/create?name=jupyter-ada", body), VolumeRefused())
    assert answers == [(500, b'{"message": "volume driver failed"}')]
    assert engine.calls[1:] == [Forward("GET", "/v1.41/volumes/jh-home-ada", {}), engine.calls[-1]]
    assert engine.calls[0] == CAP_CHECK and engine.calls[-1].path == "/v1.41/volumes/create"
    assert logged == ["POST /v1.41/containers/create name=jupyter-ada -> 500"]


def test_a_home_volume_of_another_deployment_is_refused_and_an_unlabelled_one_is_used() -> None:
    def body_for(user: str) -> bytes:
        return json.dumps(dockerspawner_create_body(binds={f"jh-home-{user}": {"bind": "/home/jovyan", "mode": "rw"}})).encode()

    for user in ("mal", "bnd", "lbd", "plg"):
        answers, engine, logged = exchange(http("POST", f"/v1.41/containers/create?name=jupyter-{user}", body_for(user)))
        assert answers[0][0] == 403 and b"not a home of this deployment" in answers[0][1], user
        assert engine.calls == [CAP_CHECK, Forward("GET", f"/v1.41/volumes/jh-home-{user}", {})]
        assert logged[0].startswith("refused POST /v1.41/containers/create")
    answers, engine, _ = exchange(http("POST", "/v1.41/containers/create?name=jupyter-old", body_for("old")))
    assert answers[0][0] == 201
    created = ["/v1.41/containers/json", "/v1.41/volumes/jh-home-old", "/v1.41/volumes/create", "/v1.41/containers/create"]
    assert [call.path for call in engine.calls] == created


def test_a_failed_home_volume_lookup_is_passed_back_and_nothing_is_created() -> None:
    class LookupFails(FakeEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            if not forward.path.startswith("/v1.41/volumes/"):
                return super().__call__(forward)
            self.calls.append(forward)
            return 500, {"Content-Type": "application/json"}, b'{"message": "engine trouble"}'

    body = json.dumps(dockerspawner_create_body()).encode()
    answers, engine, _ = exchange(http("POST", "/v1.41/containers/create?name=jupyter-ada", body), LookupFails())
    assert answers == [(500, b'{"message": "engine trouble"}')]
    assert engine.calls == [CAP_CHECK, Forward("GET", "/v1.41/volumes/jh-home-ada", {})]


def test_the_filter_runs_as_a_module_and_documents_its_arguments() -> None:
    import subprocess
    import sys

    from testkit.program_runner import REPO_ROOT

    shown = subprocess.run(
        [sys.executable, "-m", "docker_api_proxy.filter", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert text.startswith(
        "usage: docker_api_proxy.filter [-h] --policy POLICY --port PORT --engine ENGINE The Docker API filter."
    )
    for described in (
        "--policy POLICY policy.json, written by the Pulumi program",
        "--port PORT TCP port to listen on, on every address",
        "--engine ENGINE the Docker engine's Unix socket",
    ):
        assert described in text


@pytest.mark.parametrize("missing", ["--policy", "--port", "--engine"])
def test_every_argument_is_required(tmp_path: Path, missing: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(POLICY_DOCUMENT))
    given = {"--policy": str(tmp_path / "policy.json"), "--port": "0", "--engine": "/nowhere.sock"}
    with pytest.raises(SystemExit) as exit_:
        api_filter.main([f"{flag}={value}" for flag, value in given.items() if flag != missing])
    assert exit_.value.code == 2 and f"the following arguments are required: {missing}" in capsys.readouterr().err


def test_log_lines_are_one_line_ascii_and_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert api_filter._escaped("a" * 130) == "a" * 120
    assert api_filter._escaped("é\nx\x1b\\", 10) == "\\xe9\\nx\\x1b\\\\"
    api_filter.FilterHandler.server_log("GET /_ping -> 200")
    assert capsys.readouterr().err == "GET /_ping -> 200\n"


def test_the_server_lets_no_connection_keep_it_alive_and_rebinds_at_once() -> None:
    assert api_filter.FilterServer.daemon_threads is True  # a hung client never blocks a restart
    assert api_filter.FilterServer.allow_reuse_address is True  # the port is free again as soon as the old filter is gone


def test_a_listings_flags_are_0_or_1_and_its_status_filter_is_read() -> None:
    for flag in ("all", "size", "trunc_cmd"):
        with pytest.raises(RefusedError, match="must be 0 or 1"):
            call_of("GET", f"/v1.41/containers/json?{flag}=2")
    filters = quote(json.dumps({"status": ["running", "exited"]}))
    assert call_of("GET", f"/v1.41/containers/json?all=1&filters={filters}") == ListUserContainers(True, ("running", "exited"))
    assert listing_query(ListUserContainers(True, ("running",)), POLICY) == {
        "all": "1",
        "filters": json.dumps({"label": ["org.jupyterhub-docker.deployment=jh"], "status": ["running"]}),
    }


def test_a_name_must_end_with_the_templates_suffix() -> None:
    policy = dataclasses.replace(POLICY, user_container_template="u-{username}.jh")
    assert policy.user_of("u-adaxjh") is None


def test_allowed_values_compare_by_content_not_key_order() -> None:
    from docker_api_proxy.policy import _one_of

    check = _one_of({"a": 1, "b": 2})
    assert check({"b": 2, "a": 1}, "x") == {"b": 2, "a": 1}
    with pytest.raises(RefusedError):
        check({"a": 1, "b": 2.0}, "x")


def test_an_environment_entry_of_64_kib_is_the_longest_accepted() -> None:
    create(with_change("Env", ["V=" + "x" * (65536 - 2)]))
    with pytest.raises(RefusedError, match=r"Env\[0\] must be"):
        create(with_change("Env", ["V=" + "x" * (65536 - 1)]))


def test_an_unknown_container_is_answered_with_the_engines_404() -> None:
    answers, engine, logged = exchange(http("GET", "/v1.41/containers/jupyter-nobody/json"))
    assert answers == [(404, b'{"message": "No such container"}')]
    assert engine.calls == [Forward("GET", "/v1.41/containers/jupyter-nobody/json", {})]
    assert logged == ["GET /v1.41/containers/jupyter-nobody/json -> 404"]


def test_a_name_conflict_on_create_is_answered_without_the_holders_id() -> None:
    """The engine's 409 names the container that holds the name, by its full ID: another deployment's, maybe."""

    class Taken(FakeEngine):
        def __call__(self, forward: Forward) -> tuple[int, dict[str, str], bytes]:
            if forward.path == "/v1.41/containers/create":
                self.calls.append(forward)
                message = f'Conflict. The container name "/jupyter-ada" is already in use by container "{"c" * 64}".'
                return 409, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()
            return super().__call__(forward)

    answers, _, _ = exchange(
        http("POST", "/v1.41/containers/create?name=jupyter-ada", json.dumps(dockerspawner_create_body()).encode()), Taken()
    )
    assert answers == [(409, json.dumps(api_filter.NAME_IN_USE).encode())]
