"""Named servers on the real engine, in a deployment of their own (the culler runs on all of
its servers): two servers of one user at once sharing their home, the culler stopping both,
and the filter holding a user to 1 + spawner.namedServers.limitPerUser servers from a shell
in the hub (judged by what the engine holds)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import docker
import pytest

from testkit.hub_user import HubUser
from tests.e2e.deployed import Deployed, deployment, raw_answers_from_the_hub
from tests.e2e.test_1_docker_api_attacks import spawner_body
from tests.e2e.test_hub_upgrade import CULL_ONCE

NAME = "jhe2e-named"
USER = "nia"  # nothing DockerSpawner escapes
SERVER_WAIT_S = 120


@pytest.fixture(scope="module")
def named(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployed, HubUser]]:
    settings = {"spawner": {"memLimit": "1G", "cpuLimit": "1.0", "namedServers": {"enabled": True, "limitPerUser": 1}}}
    with deployment(engine, tmp_path_factory.mktemp("named-project"), NAME, settings) as deployed:
        user = HubUser(deployed.base_url, USER, f"{USER}-e2e-password")
        user.sign_up()
        user.log_in()
        yield deployed, user


def start_named(user: HubUser, server: str) -> None:
    response = user.api("POST", f"/hub/api/users/{user.name}/servers/{server}")
    assert response.status_code in (201, 202), response.text
    deadline = time.monotonic() + SERVER_WAIT_S
    while time.monotonic() < deadline:
        if user.api("GET", f"/user/{user.name}/{server}/api/status").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{user.name}'s server {server} did not answer: {user.model()}")


def test_two_servers_of_one_user_run_at_once_and_share_the_home(named: tuple[Deployed, HubUser]) -> None:
    deployed, user = named
    user.start_server()
    start_named(user, "lab")
    names = {c.name for c in deployed.client.containers.list(filters={"name": deployed.names.user_server(USER)})}
    assert names == {deployed.names.user_server(USER), f"{deployed.names.user_server(USER)}--lab"}
    for name in names:
        assert deployed.client.containers.get(name).attrs["HostConfig"]["Binds"] == [
            f"{deployed.names.home_volume(USER)}:/home/jovyan:rw"
        ]
    user.write_file("from-default.txt", b"written by the default server")
    read = user.api("GET", f"/user/{USER}/lab/api/contents/from-default.txt", params={"content": "1", "format": "text"})
    assert read.json()["content"] == "written by the default server"


def test_the_filter_holds_a_user_to_one_plus_the_limit_servers_from_a_shell_in_the_hub(
    named: tuple[Deployed, HubUser],
) -> None:
    deployed, user = named
    assert len(user.model()["servers"]) == 2  # the default one and lab: limitPerUser 1
    third = f"{deployed.names.user_server(USER)}--extra"
    body = json.dumps(spawner_body(deployed, USER)).encode()
    head = f"POST /v1.41/containers/create?name={third} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
    request = f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    answer = raw_answers_from_the_hub(deployed.client, deployed.names, {"third": request})["third"]
    assert answer["codes"] == [403] and "the user runs their most servers at once (2" in answer["text"], answer
    assert deployed.client.containers.list(all=True, filters={"name": third}) == []


def test_the_idle_culler_stops_both_servers(named: tuple[Deployed, HubUser]) -> None:
    deployed, user = named
    time.sleep(3)  # idle longer than the culler's timeout
    culled = deployed.client.containers.get(deployed.names.hub_container).exec_run(["python3", "-c", CULL_ONCE])
    assert culled.exit_code == 0, culled.output.decode()[-2000:]
    output = culled.output.decode()
    assert f"Culling server {USER}" in output and f"Culling server {USER}/lab" in output, output[-2000:]
    assert deployed.client.containers.list(filters={"name": deployed.names.user_server(USER)}) == []
    assert all(not server["ready"] and not server["pending"] for server in user.model()["servers"].values())
