"""The hub's database and users' files outlive their containers."""

from __future__ import annotations

from tests.e2e.deployed import E2E_NAME, Deployed
from tests.e2e.harness import CONTAINER
from tests.e2e.hub_user import HubUser


def test_users_servers_and_tokens_survive_a_recreated_hub(deployed: Deployed, alice: HubUser) -> None:
    deployed.client.containers.get(f"{E2E_NAME}-hub").remove(force=True)
    applied = deployed.apply()
    assert applied.action(CONTAINER, "hub") == "replace"

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
