"""A hub image with a newer JupyterHub upgrades the database on start and keeps everyone.

A database upgraded to JupyterHub 6 cannot go back to 5, so this scenario has a
deployment of its own (beside the shared one: both have a user `alice`, and their
names do not clash), and the other scenarios may run before or after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from testkit.harness import CONTAINER, IMAGE
from testkit.hub_user import HubUser
from tests.e2e.deployed import Deployed, deployment, measure

DB_REVISION = (
    "import sqlite3; "
    "print(sqlite3.connect('/srv/jupyterhub/jupyterhub.sqlite').execute('select version_num from alembic_version').fetchone()[0])"
)


@pytest.fixture(scope="module")
def own_deployment(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with deployment(engine, tmp_path_factory.mktemp("upgrade-project"), "jhe2e-upgrade") as upgraded:
        yield upgraded


def db_revision(deployed: Deployed) -> str:
    result = deployed.client.containers.get(deployed.names.hub_container).exec_run(["python3", "-c", DB_REVISION])
    assert result.exit_code == 0, result.output.decode()
    return str(result.output.decode().strip())


def test_newer_jupyterhub_upgrades_the_db_and_keeps_users_and_servers(own_deployment: Deployed) -> None:
    deployed = own_deployment
    alice = HubUser(deployed.base_url, "alice", "alice-upgrade-password")
    alice.sign_up()
    alice.log_in()
    alice.start_server()
    server = deployed.client.containers.get(deployed.names.user_server("alice"))
    assert server.name == "jupyter-jhe2e-upgrade_alice"
    revision_before = db_revision(deployed)
    requirements = deployed.project_dir / "hub_config" / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("jupyterhub==5.5.1", "jupyterhub==6.1.1"))

    applied = deployed.apply()
    measure(f"hub upgrade to JupyterHub 6.1.1 (image build included) applied in {applied.seconds:.1f}s")
    assert applied.action(IMAGE, "hub-image") == "update"
    assert applied.action(CONTAINER, "hub") == "replace"
    assert applied.action(CONTAINER, "proxy") == "same"

    version = deployed.client.containers.get(deployed.names.hub_container).exec_run(["jupyterhub", "--version"]).output.decode()
    assert version.strip() == "6.1.1"
    assert db_revision(deployed) != revision_before, "--upgrade-db migrated the database"
    who = alice.api("GET", "/hub/api/user")
    assert who.status_code == 200 and who.json()["name"] == "alice"
    assert alice.model()["servers"][""]["ready"] is True
    assert alice.api("GET", "/user/alice/api/status").status_code == 200
    assert deployed.client.containers.get(server.name).id == server.id  # the running server was kept
