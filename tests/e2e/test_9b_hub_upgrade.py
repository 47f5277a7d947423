"""A hub image with a newer JupyterHub upgrades the database on start and keeps everyone.

Runs last: a database upgraded to JupyterHub 6 cannot go back to 5.
"""

from __future__ import annotations

from tests.e2e.deployed import E2E_NAME, Deployed, measure
from tests.e2e.harness import CONTAINER, IMAGE
from tests.e2e.hub_user import HubUser

DB_REVISION = (
    "import sqlite3; "
    "print(sqlite3.connect('/srv/jupyterhub/jupyterhub.sqlite').execute('select version_num from alembic_version').fetchone()[0])"
)


def db_revision(deployed: Deployed) -> str:
    result = deployed.client.containers.get(f"{E2E_NAME}-hub").exec_run(["python3", "-c", DB_REVISION])
    assert result.exit_code == 0, result.output.decode()
    return str(result.output.decode().strip())


def test_newer_jupyterhub_upgrades_the_db_and_keeps_users_and_servers(deployed: Deployed, alice: HubUser) -> None:
    revision_before = db_revision(deployed)
    requirements = deployed.project_dir / "hub_config" / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("jupyterhub==5.5.1", "jupyterhub==6.1.1"))

    applied = deployed.apply()
    measure(f"hub upgrade to JupyterHub 6.1.1 (image build included) applied in {applied.seconds:.1f}s")
    assert applied.action(IMAGE, "hub-image") == "update"
    assert applied.action(CONTAINER, "hub") == "replace"
    assert applied.action(CONTAINER, "proxy") == "same"

    version = deployed.client.containers.get(f"{E2E_NAME}-hub").exec_run(["jupyterhub", "--version"]).output.decode()
    assert version.strip() == "6.1.1"
    assert db_revision(deployed) != revision_before, "--upgrade-db migrated the database"
    who = alice.api("GET", "/hub/api/user")
    assert who.status_code == 200 and who.json()["name"] == "alice"
    assert alice.model()["servers"][""]["ready"] is True
    assert alice.api("GET", "/user/alice/api/status").status_code == 200
