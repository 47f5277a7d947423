"""Backups: a destroyed deployment comes back from its snapshot, and one user's home goes back in time.

A deployment of its own with `backup.enabled` and a restic repository in a folder
on this host. Users sign up and write files; a backup runs; everything is destroyed,
volumes included; an empty deployment is made again and restored: old passwords,
tokens, login cookies and files. Then one user's home is restored to an earlier
snapshot while another user keeps working, and a backup runs during a spawn and a
hub reload.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from testkit.endpoints import wait_for
from testkit.hub_user import HubUser
from tests.e2e.deployed import Deployed, admin_command, deployment, measure, remove_leftovers, remove_user_containers

NAME = "jhe2e-backup"
FILES = {"notes.txt": b"first version\n", "data/blob.bin": secrets.token_bytes(300_000)}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("restic-repository")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def backed_up(engine: docker.DockerClient, repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    settings = {"backup": {"enabled": True, "repository": str(repository)}}
    password = {"backupPassword": secrets.token_hex(16)}
    with deployment(engine, tmp_path_factory.mktemp("backup-project"), NAME, settings, secrets=password) as deployed:
        yield deployed


def backup(deployed: Deployed, *command: str) -> tuple[int, str]:
    result = deployed.client.containers.get(deployed.names.backup_container).exec_run(["backup", *command])
    return result.exit_code, result.output.decode()


def backup_now(deployed: Deployed) -> dict[str, Any]:
    code, output = backup(deployed, "now")
    assert code == 0, output
    status: dict[str, Any] = json.loads(backup(deployed, "status")[1])
    return status


def restore(deployed: Deployed, *options: str) -> subprocess.CompletedProcess[str]:
    return admin_command(deployed.project_dir, "admin.restore", *options)


def signed_up_with_files(base_url: str, name: str) -> HubUser:
    user = HubUser(base_url, name, f"{name}-backup-password")
    user.sign_up()
    user.log_in()
    user.start_server()
    user.mkdir("data")
    for path, content in FILES.items():
        user.write_file(path, content)
    return user


def test_a_destroyed_deployment_is_restored_with_users_tokens_sessions_and_files(backed_up: Deployed) -> None:
    deployed = backed_up
    users = [signed_up_with_files(deployed.base_url, name) for name in ("ada", "bob")]
    status = backup_now(deployed)
    assert (status["result"], status["homes"]) == ("ok", 2), status
    assert backup(deployed, "health")[0] == 0
    measure(f"backup of the hub's data and 2 homes: {status['seconds']}s")
    cookies = {user.name: {c.name: c.value or "" for c in user.session.cookies} for user in users}

    remove_user_containers(deployed.client, deployed.names)
    deployed.harness.destroy()
    remove_leftovers(deployed.client, deployed.names)  # the volumes too: hub data, homes, backup state
    assert not [v.name for v in deployed.client.volumes.list() if v.name.startswith(f"{NAME}-")]

    deployed.harness.up()  # an empty deployment: a new database, a new cookie secret
    wait_for(f"{deployed.base_url}/hub/api/", 60)
    listed = restore(deployed, "--list")
    assert listed.returncode == 0 and "2 homes" in listed.stdout, listed.stdout + listed.stderr
    restored = restore(deployed, "--snapshot", "latest")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "restored 2 homes and the hub's data from snapshot" in restored.stdout
    wait_for(f"{deployed.base_url}/hub/api/", 60)

    for user in users:
        again = HubUser(deployed.base_url, user.name, user.password)
        again.log_in()  # the old password
        whoami = requests.get(f"{deployed.base_url}/hub/api/user", headers={"Authorization": f"token {user.token}"}, timeout=10)
        assert whoami.status_code == 200 and whoami.json()["name"] == user.name  # the old token
        home = requests.get(f"{deployed.base_url}/hub/home", cookies=cookies[user.name], timeout=10)
        assert home.status_code == 200 and home.url.endswith("/hub/home"), home.url  # the old login session
        again.start_server()
        for path, content in FILES.items():
            assert again.read_file(path) == content, (user.name, path)


def test_one_home_goes_back_to_an_earlier_snapshot_while_others_keep_working(backed_up: Deployed) -> None:
    deployed = backed_up
    ada, bob = (HubUser(deployed.base_url, name, f"{name}-backup-password") for name in ("ada", "bob"))
    for user in (ada, bob):
        user.log_in()
        if not user.model()["servers"]:
            user.start_server()
    earliest = restore(deployed, "--list").stdout.split()[0]  # taken before the destroy: the first versions
    ada.write_file("notes.txt", b"second version\n")
    assert backup_now(deployed)["result"] == "ok"
    ada.write_file("later.txt", b"made after every snapshot\n")

    failures: list[str] = []
    stop = threading.Event()

    def bob_keeps_working() -> None:
        while not stop.is_set():
            response = bob.api("GET", "/user/bob/api/contents/notes.txt")
            if response.status_code != 200:
                failures.append(str(response.status_code))
            time.sleep(0.1)

    worker = threading.Thread(target=bob_keeps_working)
    worker.start()
    try:
        refused = restore(deployed, "--snapshot", earliest, "--user", "ada")
        assert refused.returncode == 2 and "jupyter-jhe2e-backup_ada" in refused.stderr and "--stop-servers" in refused.stderr
        restored = restore(deployed, "--snapshot", earliest, "--user", "ada", "--stop-servers")
        assert restored.returncode == 0, restored.stdout + restored.stderr
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == [], f"bob's requests failed during ada's restore: {failures}"
    assert deployed.client.containers.get(deployed.names.hub_container).status == "running"
    ada.stop_server()  # the hub learns that the restore stopped it
    ada.start_server()
    assert ada.read_file("notes.txt") == FILES["notes.txt"]
    listing = ada.api("GET", "/user/ada/api/contents/").json()["content"]
    assert "later.txt" not in {entry["name"] for entry in listing}  # the home is exactly the snapshot's
    assert bob.read_file("notes.txt") == FILES["notes.txt"]


def test_a_backup_during_a_spawn_and_a_hub_reload_breaks_neither(backed_up: Deployed) -> None:
    deployed = backed_up
    outcome: dict[str, Any] = {}
    running = threading.Thread(target=lambda: outcome.update(status=backup_now(deployed)))
    running.start()
    try:
        carol = signed_up_with_files(deployed.base_url, "carol")
        reloaded = deployed.apply({"culler": json.dumps({"timeoutSeconds": 1800})})
        measure(f"hub reload during a backup applied in {reloaded.seconds:.1f}s")
    finally:
        running.join(timeout=600)
    assert outcome["status"]["result"] == "ok", outcome
    assert carol.read_file("notes.txt") == FILES["notes.txt"]
    assert carol.api("GET", "/hub/api/user").status_code == 200


def test_a_wrong_password_is_named_and_the_repository_is_left_alone(backed_up: Deployed) -> None:
    container = backed_up.client.containers.get(backed_up.names.backup_container)
    before = restore(backed_up, "--list").stdout
    wrong = container.exec_run(["backup", "now"], environment={"RESTIC_PASSWORD": "not-the-password"})
    assert wrong.exit_code == 1 and b"refuses this password (backupPassword)" in wrong.output, wrong.output
    assert json.loads(backup(backed_up, "status")[1])["result"] == "failed"
    assert backup(backed_up, "health")[0] == 1  # docker ps shows the backup container unhealthy
    assert restore(backed_up, "--list").stdout == before  # nothing made over the repository
    assert backup_now(backed_up)["result"] == "ok"  # with the right password again
