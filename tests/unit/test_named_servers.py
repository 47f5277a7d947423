"""spawner.namedServers: JupyterHub's named servers, each a container (or service) of its own named
`<the default server's name>--<server>`, sharing the user's home; the filter reads the names and
holds each user to 1 + limitPerUser servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest

from components.config import ConfigError, parse_config
from docker_api_proxy import filter as api_filter
from docker_api_proxy.policy import CreateUserContainer, Forward, RefusedError, Request, route
from tests.unit.test_docker_api_filter import DEPLOYMENT_POLICY, dockerspawner_create_body
from tests.unit.test_hub_config import hub_config

NAMED = {"spawner": {"namedServers": {"enabled": "true", "limitPerUser": "2"}}}
POLICY = DEPLOYMENT_POLICY.__class__(**{**DEPLOYMENT_POLICY.__dict__, "servers_per_user": 3, "max_servers": 10})


def test_named_servers_reach_jupyterhub_with_their_limit_and_a_name_per_server() -> None:
    c = hub_config(NAMED)
    assert (c.JupyterHub.allow_named_servers, c.JupyterHub.named_server_limit_per_user) == (True, 2)
    assert c.DockerSpawner.name_template == "jupyter-jupyterhub_{username}{servername_suffix}"
    assert c.DockerSpawner.volumes == {"jupyterhub-home-{username}": "/home/jovyan"}  # one home for all of a user's servers


def test_without_named_servers_nothing_changes() -> None:
    c = hub_config({})
    assert "allow_named_servers" not in c.JupyterHub and "named_server_limit_per_user" not in c.JupyterHub
    assert c.DockerSpawner.name_template == "jupyter-jupyterhub_{username}"


@pytest.mark.parametrize(
    ("raw", "key", "fix"),
    [
        ({"spawner": {"namedServers": {"enabled": "yes"}}}, "spawner.namedServers.enabled", "true"),
        ({"spawner": {"namedServers": {"limitPerUser": "0"}}}, "spawner.namedServers.limitPerUser", "--path"),
        ({"spawner": {"namedServers": {"limitPerUser": "21"}}}, "spawner.namedServers.limitPerUser", "1 to 20"),
        (
            {"cluster": {"mode": "swarm", "registry": "reg:5000"}, **NAMED},
            "spawner.namedServers.enabled",
            "cluster.homes shared",
        ),
    ],
)
def test_bad_named_server_settings_are_refused_naming_key_and_fix(raw: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=rf"^config '{key}'") as refused:
        parse_config(raw, {})
    assert fix in str(refused.value)


@pytest.mark.parametrize(
    ("name", "user"),
    [
        ("jupyter-jh_ada--lab", "ada"),
        ("jupyter-jh_a-2eb--gpu-2dx", "a-2eb"),  # users "a.b", server "gpu-x", as DockerSpawner escapes them
        ("jupyter-jh_ada", "ada"),
        ("jupyter-jh_ada--", None),
        ("jupyter-jh_ada--lab--x", None),
        ("jupyter-jh_ada---lab", None),
        ("jupyter-jh_--lab", None),
        ("jupyter-jh_ada--Lab", None),
        ("jupyter-jh_ada--" + "l" * 97, None),
    ],
)
def test_a_named_servers_name_is_its_users_default_name_then_one_escaped_server_name(name: str, user: str | None) -> None:
    assert POLICY.user_of(name) == user


def test_without_named_servers_no_name_with_a_server_part_is_a_users() -> None:
    assert (DEPLOYMENT_POLICY.user_of("jupyter-jh_ada--lab"), DEPLOYMENT_POLICY.user_of("jupyter-jh_ada")) == (None, "ada")


def test_a_named_server_mounts_its_users_home() -> None:
    body = json.dumps(dockerspawner_create_body()).encode()
    call = route(Request("POST", "/v1.41/containers/create", {"name": "jupyter-jh_ada--lab"}, body, True), POLICY)
    assert isinstance(call, CreateUserContainer) and (call.name, call.user) == ("jupyter-jh_ada--lab", "ada")
    assert call.container.body["HostConfig"]["Binds"] == ["jh-home-ada:/home/jovyan:rw"]  # type: ignore[index]


def listing(*names: str) -> Callable[[Forward], tuple[int, dict[str, str], bytes]]:
    labels = {POLICY.deployment_label: POLICY.deployment}
    listed = [{"Id": str(i), "Names": [f"/{name}"], "Labels": labels} for i, name in enumerate(names)]
    return lambda forward: (HTTPStatus.OK, {}, json.dumps(listed).encode())


def test_a_user_gets_at_most_one_plus_the_limit_servers_and_a_taken_name_is_left_to_the_engine() -> None:
    three = listing("jupyter-jh_ada", "jupyter-jh_ada--lab", "jupyter-jh_ada--gpu")
    with pytest.raises(RefusedError, match=r"the user runs their most servers at once \(3, 1 \+ spawner.namedServers"):
        api_filter._under_the_cap(POLICY, three, "jupyter-jh_ada--big", "ada")
    api_filter._under_the_cap(POLICY, three, "jupyter-jh_bob--lab", "bob")  # others are not held to ada's count
    api_filter._under_the_cap(POLICY, three, "jupyter-jh_ada--lab", "ada")  # the engine answers a taken name (409)
    api_filter._under_the_cap(POLICY, listing("jupyter-jh_ada", "jupyter-jh_ada--lab"), "jupyter-jh_ada--gpu", "ada")
