"""Upgrading from a JupyterHub 5.5.1 hub to the project's pins (JupyterHub 6): the hub
upgrades the database on start and keeps everyone.

The deployment starts with the hub built from tests/e2e/hub-5.5.1's lock, then gets
the project's own hub_config lock, as an operator's checkout would. A database
upgraded to JupyterHub 6 cannot go back to 5, so this scenario has a deployment of its
own (beside the shared one: both have a user `alice`, and their names do not clash),
and the other scenarios may run before or after it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import docker
import pytest

from admin.hub_database import HUB_HEAD
from testkit.harness import CONTAINER, IMAGE
from testkit.hub_user import HubUser
from testkit.program_runner import REPO_ROOT
from tests.e2e.deployed import JUPYTERHUB_5_HUB, Deployed, deployment, measure, use_hub_pins

DB_REVISION = (
    "import sqlite3; "
    "print(sqlite3.connect('/srv/jupyterhub/jupyterhub.sqlite').execute('select version_num from alembic_version').fetchone()[0])"
)


@pytest.fixture(scope="module")
def own_deployment(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    project_dir = tmp_path_factory.mktemp("upgrade-project")
    with deployment(
        engine, project_dir, "jhe2e-upgrade", before_first_up=lambda: use_hub_pins(project_dir / "hub_config", JUPYTERHUB_5_HUB)
    ) as upgraded:
        yield upgraded


def hub_version(deployed: Deployed) -> str:
    hub = deployed.client.containers.get(deployed.names.hub_container)
    return str(hub.exec_run(["jupyterhub", "--version"]).output.decode().strip())


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
    assert hub_version(deployed) == "5.5.1"
    revision_before = db_revision(deployed)
    use_hub_pins(deployed.project_dir / "hub_config", REPO_ROOT / "hub_config")

    applied = deployed.apply()
    measure(f"hub upgrade to JupyterHub 6.1.1 (image build included) applied in {applied.seconds:.1f}s")
    assert applied.action(IMAGE, "hub-image") == "update"
    assert applied.action(CONTAINER, "hub") == "replace"
    assert applied.action(CONTAINER, "proxy") == "same"

    assert hub_version(deployed) == "6.1.1"
    assert revision_before != HUB_HEAD
    assert db_revision(deployed) == HUB_HEAD, "--upgrade-db migrated the database to JupyterHub 6's schema"
    who = alice.api("GET", "/hub/api/user")  # with the API token alice got from the 5.5.1 hub
    assert who.status_code == 200 and who.json()["name"] == "alice"
    assert alice.model()["servers"][""]["ready"] is True
    HubUser(deployed.base_url, "alice", "alice-upgrade-password").log_in()  # a new session: the login form on JupyterHub 6
    assert alice.api("GET", "/user/alice/api/status").status_code == 200
    assert deployed.client.containers.get(server.name).id == server.id  # the running server was kept


# The idle culler's own code and token (its managed service's), run once with a short
# timeout: the service the hub runs waits `culler.timeoutSeconds` (an hour by default).
CULL_ONCE = """
import os, pathlib, subprocess, sys
for proc in pathlib.Path('/proc').glob('[0-9]*'):
    try:
        command = (proc / 'cmdline').read_bytes()
    except OSError:
        continue
    if b'jupyterhub_idle_culler' in command:
        env = dict(entry.split('=', 1) for entry in (proc / 'environ').read_bytes().decode().split('\\0') if '=' in entry)
        break
else:
    sys.exit('no idle culler is running in the hub')
culler = ['python3', '-m', 'jupyterhub_idle_culler', '--timeout=2', '--cull-every=2', '--url=' + env['JUPYTERHUB_API_URL']]
ran = subprocess.run(['timeout', '12', *culler], env={**os.environ, 'JUPYTERHUB_API_TOKEN': env['JUPYTERHUB_API_TOKEN']})
sys.exit(0 if ran.returncode == 124 else ran.returncode)  # 124: stopped by timeout, as meant
"""


def test_on_jupyterhub_6_the_idle_culler_stops_an_idle_server(own_deployment: Deployed) -> None:
    deployed = own_deployment
    alice = HubUser(deployed.base_url, "alice", "alice-upgrade-password")
    alice.log_in()
    assert hub_version(deployed) == "6.1.1" and alice.model()["servers"], "the upgrade scenario left alice's server running"
    time.sleep(3)  # idle longer than the culler's timeout
    hub = deployed.client.containers.get(deployed.names.hub_container)
    culled = hub.exec_run(["python3", "-c", CULL_ONCE])
    assert culled.exit_code == 0, culled.output.decode()[-2000:]
    assert b"Culling server alice" in culled.output, culled.output.decode()[-2000:]
    assert alice.model()["servers"] == {}, "culled"
    assert deployed.client.containers.list(filters={"name": deployed.names.user_server("alice")}) == []
