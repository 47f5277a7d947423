"""Faults: a process dies, a build fails, the whole stack is re-deployed. Nothing is lost."""

from __future__ import annotations

import datetime
import os
import signal
import time

import pytest

from testkit.endpoints import wait_for
from testkit.harness import ApplyError
from testkit.hub_user import HubUser, KernelDiedError, user_with_a_server
from testkit.probe import Probe
from tests.e2e.deployed import NAMES, Deployed, measure, remove_user_containers

RECOVERY_WAIT_S = 60


def kill_main_process(deployed: Deployed, container_name: str) -> None:
    """SIGKILL the container's main process from the host, as a crash would (not `docker kill`,
    which Docker counts as a deliberate stop and does not restart)."""
    pid = deployed.client.containers.get(container_name).attrs["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)


def wait_until_reachable(user: HubUser, timeout_s: float = RECOVERY_WAIT_S) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if user.api("GET", f"/user/{user.name}/api/status").status_code == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{user.name}'s server not reachable within {timeout_s}s")


def test_killed_hub_comes_back_and_notebooks_stay_reachable(deployed: Deployed, alice: HubUser) -> None:
    hub = NAMES.hub_container
    restarts = deployed.client.containers.get(hub).attrs["RestartCount"]
    notebook = Probe(f"{deployed.base_url}/user/alice/api/status", headers={"Authorization": f"token {alice.token}"})
    hub_api = Probe(f"{deployed.base_url}/hub/api/")
    with notebook, hub_api:
        time.sleep(0.5)
        kill_main_process(deployed, hub)
        time.sleep(1)
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while time.monotonic() < deadline and not (hub_api.outcomes and hub_api.outcomes[-1].ok):
            time.sleep(0.2)
        time.sleep(1)
    measure(
        f"hub process killed: hub API down {hub_api.longest_outage_s():.2f}s, "
        f"notebook requests failed {len(notebook.failed)}/{len(notebook.outcomes)}"
    )
    assert deployed.client.containers.get(hub).attrs["RestartCount"] == restarts + 1
    assert hub_api.outcomes[-1].ok
    assert notebook.failed == []
    assert alice.model()["servers"][""]["ready"] is True


def test_a_restarted_hub_rechecks_all_servers_with_one_listing(deployed: Deployed, alice: HubUser) -> None:
    """The hub polls every server as it starts: the running ones are answered by one
    container listing, and a server that stopped while the hub was down is inspected,
    found stopped, and starts again when its user asks."""
    erin, frank = user_with_a_server(deployed.base_url, "erin"), user_with_a_server(deployed.base_url, "frank")
    try:
        hub = deployed.client.containers.get(NAMES.hub_container)
        hub.stop(timeout=10)
        deployed.client.containers.get(NAMES.user_server("frank")).stop(timeout=10)
        restarted_at = datetime.datetime.now(datetime.UTC)
        hub.start()
        wait_for(f"{deployed.base_url}/hub/api/", RECOVERY_WAIT_S)
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while frank.model()["servers"] and time.monotonic() < deadline:
            time.sleep(0.2)

        assert frank.model()["servers"] == {}
        for user in (alice, erin):
            assert user.model()["servers"][""]["ready"] is True
            assert user.api("GET", f"/user/{user.name}/api/status").status_code == 200
        calls = deployed.client.containers.get(NAMES.docker_api_container).logs(since=restarted_at).decode()
        assert calls.count("GET /v1.41/containers/json -> 200") == 1, calls
        assert f"/containers/{NAMES.user_server('frank')}/json" in calls
        assert (
            f"/containers/{NAMES.user_server('alice')}/json" not in calls
            and f"/containers/{NAMES.user_server('erin')}/json" not in calls
        ), calls
        frank.start_server()
        assert deployed.client.containers.get(NAMES.user_server("frank")).status == "running"
    finally:
        erin.stop_server()
        frank.stop_server()


def test_killed_proxy_comes_back_and_the_hub_restores_routes(deployed: Deployed, alice: HubUser) -> None:
    kill_main_process(deployed, NAMES.proxy_container)
    time.sleep(0.2)
    recovered_s = wait_until_reachable(alice)
    measure(f"proxy process killed: alice's server reachable again after {recovered_s:.2f}s (route check every 5s)")
    assert alice.run_code("21*2") == "42"


def test_failed_notebook_build_changes_nothing(deployed: Deployed, alice: HubUser) -> None:
    dockerfile = deployed.project_dir / "build.notebook" / "Dockerfile"
    good = dockerfile.read_text()
    hub_before = deployed.client.containers.get(NAMES.hub_container)
    dockerfile.write_text(good + "RUN exit 3\n")
    try:
        build_error = r"(?s)Image notebook-image: building jhe2e-notebook:\w+ failed:.*exit code: 3"
        with pytest.raises(ApplyError, match=build_error):
            deployed.harness.up()
    finally:
        dockerfile.write_text(good)
    hub_after = deployed.client.containers.get(NAMES.hub_container)
    assert hub_after.id == hub_before.id
    assert hub_after.attrs["State"]["StartedAt"] == hub_before.attrs["State"]["StartedAt"]
    assert alice.api("GET", "/user/alice/api/status").status_code == 200


def test_a_notebook_over_its_memory_limit_is_killed_alone(deployed: Deployed, alice: HubUser) -> None:
    dave = user_with_a_server(deployed.base_url, "dave")
    hub_started = deployed.client.containers.get(NAMES.hub_container).attrs["State"]["StartedAt"]
    since = int(time.time())
    with pytest.raises(KernelDiedError):
        alice.run_code("hog = b'x' * (1536 * 1024 * 1024)")  # 1.5 GiB against a 1 GiB limit
    events = deployed.client.events(since=since, until=int(time.time()) + 1, decode=True, filters={"event": "oom"})
    oom_killed = {event["Actor"]["Attributes"]["name"] for event in events}
    measure(f"memory limit: OOM kills reported by the engine for {sorted(oom_killed)}")
    assert oom_killed == {NAMES.user_server("alice")}
    assert alice.run_code("1+1") == "2", "alice gets a fresh kernel; her server survived"
    assert dave.run_code("2+2") == "4", "another user's server is unaffected"
    assert deployed.client.containers.get(NAMES.hub_container).attrs["State"]["StartedAt"] == hub_started
    assert alice.api("GET", "/hub/api/").status_code == 200
    dave.stop_server()


def test_a_full_redeploy_keeps_the_hub_database(deployed: Deployed, alice: HubUser) -> None:
    note = {"type": "file", "format": "text", "content": "kept across a redeploy\n"}
    assert alice.api("PUT", "/user/alice/api/contents/redeploy.txt", json=note).status_code in (200, 201)
    alice.stop_server()
    remove_user_containers(deployed.client)
    deployed.harness.destroy()
    assert not deployed.client.containers.list(all=True, filters={"name": NAMES.hub_container})
    assert deployed.client.volumes.get(NAMES.hub_data_volume), "the hub data volume outlives a destroy"

    deployed.apply()
    again = HubUser(deployed.base_url, "alice", alice.password)
    again.log_in()  # the account (and its password hash) came back with the volume
    again.start_server()
    saved = again.api("GET", "/user/alice/api/contents/redeploy.txt")
    assert saved.status_code == 200, "alice's home volume kept her file"
    assert saved.json()["content"] == "kept across a redeploy\n"
