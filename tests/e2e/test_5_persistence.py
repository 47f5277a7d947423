"""The hub's database and users' files outlive their containers."""

from __future__ import annotations

from testkit.harness import CONTAINER
from testkit.hub_user import HubUser
from tests.e2e.deployed import NAMES, Deployed


def test_users_servers_and_tokens_survive_a_recreated_hub(deployed: Deployed, alice: HubUser) -> None:
    """A hub container removed by hand comes back on the next `pulumi up`, because every
    update refreshes first (Pulumi.yaml options.refresh: always)."""
    deployed.client.containers.get(NAMES.hub_container).remove(force=True)
    applied = deployed.apply()
    assert applied.refreshed_away(CONTAINER, "hub")
    assert applied.action(CONTAINER, "hub") == "create"

    who = alice.api("GET", "/hub/api/user")
    assert who.status_code == 200 and who.json()["name"] == "alice", "alice's API token is still in the hub DB"
    assert alice.model()["servers"][""]["ready"] is True, "the hub still knows alice's running server"
    assert alice.api("GET", "/user/alice/api/status").status_code == 200
    home = alice.session.get(f"{deployed.base_url}/hub/home", timeout=10)
    assert home.status_code == 200 and "/hub/login" not in home.url, "alice's login cookie still works"


def test_a_users_files_survive_their_server_stop_and_start(alice: HubUser) -> None:
    note = {"type": "file", "format": "text", "content": "kept across restarts\n"}
    assert alice.api("PUT", "/user/alice/api/contents/notes.txt", json=note).status_code in (200, 201)
    alice.stop_server()
    alice.start_server()
    saved = alice.api("GET", "/user/alice/api/contents/notes.txt")
    assert saved.status_code == 200
    assert saved.json()["content"] == "kept across restarts\n"


def test_a_container_stopped_by_hand_is_started_again_in_place(deployed: Deployed) -> None:
    """The refresh reads it stopped; without published ports the provider starts it
    (an update); a stopped proxy, which publishes ports, is replaced."""
    api_filter = deployed.client.containers.get(NAMES.docker_api_container)
    api_filter.stop(timeout=5)
    applied = deployed.apply()
    assert applied.action(CONTAINER, "docker-api-proxy") == "update"
    assert deployed.client.containers.get(NAMES.docker_api_container).id == api_filter.id
    assert deployed.client.containers.get(NAMES.docker_api_container).status == "running"

    proxy = deployed.client.containers.get(NAMES.proxy_container)
    proxy.stop(timeout=5)
    applied = deployed.apply()
    assert applied.action(CONTAINER, "proxy") == "replace"
    assert deployed.client.containers.get(NAMES.proxy_container).status == "running"


def test_without_a_refresh_a_removed_container_stays_removed(deployed: Deployed) -> None:
    """What the real `pulumi up` does without options.refresh (or --refresh): nothing."""
    project_file = deployed.project_dir / "Pulumi.yaml"
    with_refresh = project_file.read_text()
    project_file.write_text(with_refresh.split("\noptions:")[0] + "\n")
    try:
        deployed.client.containers.get(NAMES.docker_api_container).remove(force=True)
        applied = deployed.harness.up()
        assert applied.action(CONTAINER, "docker-api-proxy") == "same"
        assert not deployed.client.containers.list(all=True, filters={"name": NAMES.docker_api_container})
    finally:
        project_file.write_text(with_refresh)
    assert deployed.apply().action(CONTAINER, "docker-api-proxy") == "create"
