"""Editing hub_config/jupyterhub_config.py replaces the hub only; users notice nothing."""

from __future__ import annotations

import time

from tests.e2e.deployed import E2E_NAME, Deployed, measure
from tests.e2e.harness import CONTAINER, NETWORK
from tests.e2e.hub_user import HubUser
from tests.e2e.probe import Probe


def test_config_reload_replaces_only_the_hub_without_a_failed_request(deployed: Deployed, alice: HubUser) -> None:
    proxy_id = deployed.client.containers.get(f"{E2E_NAME}-proxy").id
    hub_id = deployed.client.containers.get(f"{E2E_NAME}-hub").id
    config_file = deployed.project_dir / "hub_config" / "jupyterhub_config.py"
    config_file.write_text(config_file.read_text() + "\nget_config().JupyterHub.shutdown_on_logout = False  # reload test\n")

    notebook = Probe(f"{deployed.base_url}/user/alice/api/status", headers={"Authorization": f"token {alice.token}"})
    hub_api = Probe(f"{deployed.base_url}/hub/api/")
    with notebook, hub_api:
        time.sleep(1)
        applied = deployed.apply()
        time.sleep(1)

    measure(
        f"config reload: apply {applied.seconds:.2f}s, hub API down {hub_api.longest_outage_s():.2f}s, "
        f"notebook requests failed {len(notebook.failed)}/{len(notebook.outcomes)}"
    )
    assert applied.action(CONTAINER, "hub") == "replace"
    assert applied.action(CONTAINER, "proxy") == "same"
    assert applied.action(NETWORK, "network") == "same"
    assert deployed.client.containers.get(f"{E2E_NAME}-proxy").id == proxy_id
    assert deployed.client.containers.get(f"{E2E_NAME}-hub").id != hub_id
    assert len(notebook.outcomes) > 20
    assert notebook.failed == [], notebook.failed[:5]

    # The login cookie and the running server survive the hub's replacement.
    home = alice.session.get(f"{deployed.base_url}/hub/home", timeout=10)
    assert home.status_code == 200 and "/hub/login" not in home.url
    assert alice.model()["servers"][""]["ready"] is True
