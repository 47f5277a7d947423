"""What a class needs, on the real engine: server profiles (the spawn form, the group rule at
the hub, each profile's limits on the container) and shared volumes (course material filled
by `admin.shared`, read-only to every server; a team folder writable by its group's members
and absent for others), with the Docker API filter refusing any other shape or mount from a
shell in the hub (judged by what the engine holds)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from testkit.hub_user import HubUser
from tests.e2e.deployed import NAMES, Deployed, admin_command, raw_requests_from_the_hub, set_stack_config
from tests.e2e.test_1_docker_api_attacks import create, spawner_body

DEV_SPAWNER = {"memLimit": "1G", "cpuLimit": "1.0"}  # Pulumi.dev.yaml
PROFILES = [
    {"name": "small", "description": "Exercises", "memLimit": "256M", "cpuLimit": "0.5"},
    {"name": "large", "description": "Projects", "memLimit": "768M", "cpuLimit": "1.0", "groups": ["staff"]},
    {"name": "gpu", "description": "Deep learning", "memLimit": "512M", "cpuLimit": "0.5", "gpus": 1, "groups": ["staff"]},
]
GPU_DEVICES = ["0"]  # this host has no GPU and no NVIDIA runtime: a GPU server fails to start
CONTAINER = "docker:index/container:Container"
STAFF, STUDENT = "profann", "profbob"  # no "-": DockerSpawner escapes it in container names
SHARED_VOLUMES = [{"name": "course"}, {"name": "team", "mode": "rw", "groups": ["staff"]}]  # in the home, by name
COURSE, TEAM = "/home/jovyan/course", "/home/jovyan/team"


def signed_up(deployed: Deployed, name: str) -> HubUser:
    user = HubUser(deployed.base_url, name, f"{name}-e2e-password")
    user.sign_up()
    user.log_in()
    return user


@dataclass
class Profiled:
    users: dict[str, HubUser]
    image: str  # the notebook image in use (other scenarios build new ones)
    spawner: Mapping[str, object]  # the spawner settings applied


@pytest.fixture(scope="module")
def profiled(deployed: Deployed) -> Iterator[Profiled]:
    """The shared deployment with two profiles, `large` for the group staff, and two shared volumes, `team` for
    staff; the dev stack's spawner again afterwards (admin commands read the stack file: it says so too)."""
    stack_file = deployed.project_dir / "Pulumi.dev.yaml"
    dev_stack = stack_file.read_text()
    spawner = {**DEV_SPAWNER, "profiles": PROFILES, "sharedVolumes": SHARED_VOLUMES, "gpuDevices": GPU_DEVICES}
    set_stack_config(deployed.project_dir, {"spawner": spawner})
    applied = deployed.apply({"spawner": json.dumps(spawner)})
    admin = signed_up(deployed, "admin")  # the dev stack's admin (auth.adminUsers)
    users = {name: signed_up(deployed, name) for name in (STAFF, STUDENT)}
    assert admin.api("POST", "/hub/api/groups/staff").status_code in (201, 409)
    assert admin.api("POST", "/hub/api/groups/staff/users", json={"users": [STAFF]}).status_code == 200
    try:
        yield Profiled(users, applied.run.exports["notebookImageInUse"], spawner)
    finally:
        for user in users.values():
            if user.model()["servers"]:
                user.stop_server()
        stack_file.write_text(dev_stack)
        deployed.apply()
        for volume in deployed.client.volumes.list(filters={"name": NAMES.shared_volume("")}):
            volume.remove(force=True)  # kept by `pulumi up` (retained): the operator's to remove


def remove_attacker(deployed: Deployed, user: str) -> None:
    """What an attack from the hub may have left: the user's container and the home the filter made for it."""
    for container in deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(user)}):
        container.remove(force=True)
    for volume in deployed.client.volumes.list(filters={"name": NAMES.home_volume(user)}):
        volume.remove(force=True)


def container_limits(client: docker.DockerClient, user: str) -> tuple[int, int, str]:
    host = client.containers.get(NAMES.user_server(user)).attrs["HostConfig"]
    return host["Memory"], host["CpuQuota"], client.containers.get(NAMES.user_server(user)).attrs["Config"]["Image"]


def test_the_spawn_form_offers_a_user_the_profiles_of_their_groups(profiled: Profiled) -> None:
    form = profiled.users[STAFF].session.get(f"{profiled.users[STAFF].base_url}/hub/spawn", timeout=30)
    page = form.content.decode()  # UTF-8 (the hub's header names no charset, so requests' .text would guess Latin-1)
    assert form.status_code == 200
    assert 'value="small" checked' in page and 'value="large"' in page
    assert "(0.5 CPU, 256M memory) — Exercises" in page and "(1 CPU, 768M memory) — Projects" in page
    assert "(0.5 CPU, 512M memory, 1 GPU) — Deep learning" in page


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
        remove_attacker(deployed, user)


def test_the_volumes_owner_ran_once_and_its_stopped_container_is_no_change_at_the_next_up(
    deployed: Deployed, profiled: Profiled
) -> None:
    owner = deployed.client.containers.get(NAMES.shared_volumes_owner_container)
    assert (owner.attrs["State"]["Status"], owner.attrs["State"]["ExitCode"]) == ("exited", 0)
    again = deployed.apply({"spawner": json.dumps(profiled.spawner)})  # the same settings; refresh reads it stopped
    assert again.action(CONTAINER, "shared-volumes-owner") == "same"
    assert deployed.client.containers.get(NAMES.shared_volumes_owner_container).id == owner.id


def test_course_material_filled_by_admin_shared_is_readable_and_read_only_in_every_server(
    deployed: Deployed, profiled: Profiled, tmp_path: Path
) -> None:
    (tmp_path / "week1").mkdir()
    (tmp_path / "week1" / "exercise.py").write_text("print('week 1')\n")
    filled = admin_command(deployed.project_dir, "admin.shared", "fill", "course", str(tmp_path))
    assert filled.returncode == 0, filled.stderr
    assert filled.stdout.startswith("course: 1 files, 0.0 MB from ")
    for name in (STAFF, STUDENT):
        user = profiled.users[name]
        if not user.model()["servers"]:
            user.start_server()
        probe = (
            f"import os; text = open('{COURSE}/week1/exercise.py').read()\n"
            "try:\n"
            f"    open('{COURSE}/mine.txt', 'w')\n"
            "    wrote = 'written'\n"
            "except OSError as error:\n"
            "    wrote = error.strerror\n"
            "(os.getuid(), text, wrote)"
        )
        assert user.run_code(probe) == "(1000, \"print('week 1')\\n\", 'Read-only file system')"
    refilled = admin_command(deployed.project_dir, "admin.shared", "fill", "team", str(tmp_path))
    assert refilled.returncode == 1 and "team folder (mode rw): its members fill it" in refilled.stderr


def test_a_team_folder_is_writable_by_its_groups_members_and_absent_for_others(deployed: Deployed, profiled: Profiled) -> None:
    staff, student = profiled.users[STAFF], profiled.users[STUDENT]
    for user in (staff, student):
        if not user.model()["servers"]:
            user.start_server()
    staff.write_file("team/plan.md", b"team plan")  # through the contents API, as the file browser saves it
    assert staff.run_code(f"sorted(__import__('os').listdir('{TEAM}'))") == "['plan.md']"
    assert student.run_code(f"__import__('os').path.exists('{TEAM}')") == "False"
    mounts = {m["Destination"]: m for m in deployed.client.containers.get(NAMES.user_server(STUDENT)).attrs["Mounts"]}
    assert sorted(mounts) == ["/home/jovyan", COURSE] and mounts[COURSE]["RW"] is False


def test_the_filter_mounts_no_other_volume_or_mode_from_a_shell_in_the_hub(deployed: Deployed, profiled: Profiled) -> None:
    user = "mallory-shared"
    body = {**spawner_body(deployed, user), "Image": profiled.image, "Volumes": {"/home/jovyan": {}}}
    home = body["HostConfig"]["Binds"][0]
    course, team = NAMES.shared_volume("course"), NAMES.shared_volume("team")
    hub_data = NAMES.hub_data_volume
    binds = {
        "the course writable": [home, f"{course}:{COURSE}:rw"],
        "the course elsewhere": [home, f"{course}:/etc/jupyter:ro"],
        "the team folder at the course's place": [home, f"{team}:{COURSE}:rw"],
        "the hub's data as a shared volume": [home, f"{hub_data}:{TEAM}:rw"],
        "a host folder": [home, f"/etc:{TEAM}:ro"],
    }
    requests = {
        name: create(user, json.dumps({**body, "HostConfig": {**body["HostConfig"], "Binds": bound}}))
        for name, bound in binds.items()
    }
    assert raw_requests_from_the_hub(deployed.client, NAMES, requests) == {name: [403] for name in binds}
    assert deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(user)}) == []
    remove_attacker(deployed, user)


def test_the_filter_gives_gpus_only_as_a_profile_does_from_a_shell_in_the_hub(deployed: Deployed, profiled: Profiled) -> None:
    user = "mallory-gpu"
    base = {**spawner_body(deployed, user), "Image": profiled.image}
    gpu_host = {**base["HostConfig"], "Memory": 512 * 1024**2, "CpuQuota": 50_000}
    nvidia = {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["0"], "Capabilities": [["gpu"]], "Options": {}}
    refused = {
        "two GPUs": {**base, "HostConfig": {**gpu_host, "DeviceRequests": [{**nvidia, "DeviceIDs": ["0", "1"]}]}},
        "every GPU": {**base, "HostConfig": {**gpu_host, "DeviceRequests": [{**nvidia, "Count": -1, "DeviceIDs": []}]}},
        "a GPU on a profile without": {
            **base, "HostConfig": {**base["HostConfig"], "Memory": 256 * 1024**2, "CpuQuota": 50_000,
                                   "DeviceRequests": [nvidia]},
        },
        "the toolkit told by a variable": {
            **base, "Env": ["NVIDIA_VISIBLE_DEVICES=all"], "HostConfig": {**base["HostConfig"], "Memory": 256 * 1024**2,
                                                                          "CpuQuota": 50_000},
        },
    }  # fmt: skip
    requests = {name: create(user, json.dumps(body)) for name, body in refused.items()}
    assert raw_requests_from_the_hub(deployed.client, NAMES, requests) == {name: [403] for name in refused}
    assert deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(user)}) == []
    allowed = {"the gpu profile": create(user, json.dumps({**base, "HostConfig": {**gpu_host, "DeviceRequests": [nvidia]}}))}
    try:
        assert raw_requests_from_the_hub(deployed.client, NAMES, allowed) == {"the gpu profile": [201]}
        held = deployed.client.containers.get(NAMES.user_server(user)).attrs  # created; it could not start here
        assert held["HostConfig"]["DeviceRequests"] == [nvidia]
        toolkit = [entry for entry in held["Config"]["Env"] if entry.startswith("NVIDIA_")]  # the image's merged in
        assert toolkit == ["NVIDIA_DRIVER_CAPABILITIES=compute,utility"]
    finally:
        remove_attacker(deployed, user)


def test_a_gpu_server_on_this_gpu_less_host_fails_naming_the_host_and_leaves_nothing_behind(
    deployed: Deployed, profiled: Profiled
) -> None:
    staff = profiled.users[STAFF]
    if staff.model()["servers"]:
        staff.stop_server()
    host_name = deployed.client.info()["Name"]
    for attempt in range(2):  # the second is refused alike: the first left no GPU held
        failed = staff.api("POST", f"/hub/api/users/{STAFF}/server", json={"user_options": {"profile": "gpu"}})
        assert failed.status_code == 503, (attempt, failed.text)
        message = failed.json()["message"]
        assert f"the Docker host {host_name} cannot give them to containers" in message, message
        assert 'could not select device driver "nvidia"' in message and "docs/how-to/gpus.md" in message
        assert deployed.client.containers.list(all=True, filters={"name": NAMES.user_server(STAFF)}) == []
        assert not staff.model()["servers"]
    staff.start_server()  # the next plain start is the first profile again, not the GPU one
    assert container_limits(deployed.client, STAFF)[:2] == (256 * 1024**2, 50_000)
