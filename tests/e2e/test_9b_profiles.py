"""Server profiles on the real engine: the spawn form, the group rule at the hub, each
profile's limits on the container, and the Docker API filter refusing any other shape
from a shell in the hub (judged by what the engine holds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from testkit.hub_user import HubUser
from tests.e2e.deployed import NAMES, Deployed, raw_requests_from_the_hub
from tests.e2e.test_1_docker_api_attacks import create, spawner_body

DEV_SPAWNER = {"memLimit": "1G", "cpuLimit": "1.0"}  # Pulumi.dev.yaml
PROFILES = [
    {"name": "small", "description": "Exercises", "memLimit": "256M", "cpuLimit": "0.5"},
    {"name": "large", "description": "Projects", "memLimit": "768M", "cpuLimit": "1.0", "groups": ["staff"]},
]
STAFF, STUDENT = "profann", "profbob"  # no "-": DockerSpawner escapes it in container names


def signed_up(deployed: Deployed, name: str) -> HubUser:
    user = HubUser(deployed.base_url, name, f"{name}-e2e-password")
    user.sign_up()
    user.log_in()
    return user


@dataclass
class Profiled:
    users: dict[str, HubUser]
    image: str  # the notebook image in use (other scenarios build new ones)


@pytest.fixture(scope="module")
def profiled(deployed: Deployed) -> Iterator[Profiled]:
    """The shared deployment with two profiles, `large` for the group staff; the dev stack's spawner again afterwards."""
    applied = deployed.apply({"spawner": json.dumps({**DEV_SPAWNER, "profiles": PROFILES})})
    admin = signed_up(deployed, "admin")  # the dev stack's admin (auth.adminUsers)
    users = {name: signed_up(deployed, name) for name in (STAFF, STUDENT)}
    assert admin.api("POST", "/hub/api/groups/staff").status_code in (201, 409)
    assert admin.api("POST", "/hub/api/groups/staff/users", json={"users": [STAFF]}).status_code == 200
    try:
        yield Profiled(users, applied.run.exports["notebookImageInUse"])
    finally:
        for user in users.values():
            if user.model()["servers"]:
                user.stop_server()
        deployed.apply()


def container_limits(client: docker.DockerClient, user: str) -> tuple[int, int, str]:
    host = client.containers.get(NAMES.user_server(user)).attrs["HostConfig"]
    return host["Memory"], host["CpuQuota"], client.containers.get(NAMES.user_server(user)).attrs["Config"]["Image"]


def test_the_spawn_form_offers_a_user_the_profiles_of_their_groups(profiled: Profiled) -> None:
    form = profiled.users[STAFF].session.get(f"{profiled.users[STAFF].base_url}/hub/spawn", timeout=30)
    page = form.content.decode()  # UTF-8 (the hub's header names no charset, so requests' .text would guess Latin-1)
    assert form.status_code == 200
    assert 'value="small" checked' in page and 'value="large"' in page
    assert "(0.5 CPU, 256M memory) — Exercises" in page and "(1 CPU, 768M memory) — Projects" in page


def test_a_profile_of_another_group_is_refused_by_the_hub_and_nothing_is_created(deployed: Deployed, profiled: Profiled) -> None:
    student = profiled.users[STUDENT]
    refused = student.api("POST", f"/hub/api/users/{STUDENT}/server", json={"user_options": {"profile": "large"}})
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"] == "The profile large is for members of staff, and you are in none."
    assert deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(STUDENT)}) == []
    assert not student.model()["servers"]


def test_each_user_gets_their_profiles_limits_on_the_engine(deployed: Deployed, profiled: Profiled) -> None:
    image = profiled.image
    # No profile named: the first open to them (not the refused one JupyterHub kept from the last start).
    profiled.users[STUDENT].start_server()
    profiled.users[STAFF].start_server(user_options={"profile": "large"})
    assert container_limits(deployed.client, STUDENT) == (256 * 1024**2, 50_000, image)
    assert container_limits(deployed.client, STAFF) == (768 * 1024**2, 100_000, image)


def test_the_filter_creates_no_server_outside_every_profile_from_a_shell_in_the_hub(
    deployed: Deployed, profiled: Profiled
) -> None:
    user = "mallory-profile"
    body = {**spawner_body(deployed, user), "Image": profiled.image}
    shapes = {
        "between the profiles": {"Memory": 512 * 1024**2, "CpuQuota": 100_000},
        "small memory, large CPUs": {"Memory": 256 * 1024**2, "CpuQuota": 100_000},
        "the spawner's old limits": {"Memory": 1024**3, "CpuQuota": 100_000},
    }
    requests = {
        name: create(user, json.dumps({**body, "HostConfig": {**body["HostConfig"], **host}})) for name, host in shapes.items()
    }
    assert raw_requests_from_the_hub(deployed.client, NAMES, requests) == {name: [403] for name in shapes}
    assert deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(user)}) == []
    allowed = {
        "the large profile": create(user, json.dumps({**body, "HostConfig": {**body["HostConfig"], "Memory": 768 * 1024**2}}))
    }
    try:
        assert raw_requests_from_the_hub(deployed.client, NAMES, allowed) == {"the large profile": [201]}
        assert container_limits(deployed.client, user)[:2] == (768 * 1024**2, 100_000)
    finally:
        for container in deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(user)}):
            container.remove(force=True)
        for volume in deployed.client.volumes.list(filters={"name": NAMES.home_volume(user)}):
            volume.remove(force=True)
