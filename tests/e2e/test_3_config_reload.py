"""Editing hub_config/jupyterhub_config.py replaces the hub only; users notice nothing."""

from __future__ import annotations

import time

from components.names import HUB_CONFIG_DIR
from testkit.harness import CONTAINER, NETWORK
from testkit.hub_user import HubUser
from testkit.probe import Probe
from tests.e2e.deployed import NAMES, Deployed, measure


def test_config_reload_replaces_only_the_hub_without_a_failed_request(deployed: Deployed, alice: HubUser) -> None:
    proxy_id = deployed.client.containers.get(NAMES.proxy_container).id
    hub_id = deployed.client.containers.get(NAMES.hub_container).id
    # An operator's own config file (hub_config/jupyterhub_config.d), removed again at the end.
    operator_file = deployed.project_dir / "hub_config" / "jupyterhub_config.d" / "50-reload-test.py"
    operator_file.write_text("c.JupyterHub.template_vars = {'reload_test': 'loaded'}\n")

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
    assert deployed.client.containers.get(NAMES.proxy_container).id == proxy_id
    assert deployed.client.containers.get(NAMES.hub_container).id != hub_id
    assert len(notebook.outcomes) > 20
    assert notebook.failed == [], notebook.failed[:5]

    # The login cookie and the running server survive the hub's replacement.
    home = alice.session.get(f"{deployed.base_url}/hub/home", timeout=10)
    assert home.status_code == 200 and "/hub/login" not in home.url
    assert alice.model()["servers"][""]["ready"] is True
    settings = deployed.client.containers.get(NAMES.hub_container).exec_run(["cat", f"{HUB_CONFIG_DIR}/50-reload-test.py"])
    assert settings.exit_code == 0 and b"reload_test" in settings.output

    operator_file.unlink()
    assert deployed.apply().action(CONTAINER, "hub") == "replace"  # removing it is a reload too
