"""Editing hub_config/jupyterhub_config.py replaces the hub only; users notice nothing."""

from __future__ import annotations

import json
import time

from components.names import HUB_CONFIG_DIR
from testkit.harness import CONTAINER, NETWORK
from testkit.hub_user import HubUser
from testkit.probe import Probe
from tests.e2e.deployed import NAMES, Deployed, measure

RESOLVER_TIMEOUT_S = 5.0  # glibc's default
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what Chromium sends for a page


def assert_the_proxy_answered_kindly_while_the_hub_was_down(hub_api: Probe, browser: Probe, base_url: str) -> None:
    """Every request got an answer: the proxy's 503 with Retry-After (a page that reloads itself
    for a browser, JSON for an API client) while the hub was away, or the hub's own; the page
    then lands on /hub/home. (The hub's own errors, such as a request cut off as it stops, are
    JupyterHub's: they are reported, not judged here.)"""
    api_answers = [outcome for outcome in hub_api.failed if outcome.detail == "503"]
    pages = [outcome for outcome in browser.failed if outcome.detail == "503"]
    for probe in (hub_api, browser):
        unanswered = [outcome for outcome in probe.failed if not outcome.detail.isdigit()]
        assert unanswered == [], unanswered[:3]
        hub_errors = [(outcome.detail, outcome.answer["bodyStart"][:200]) for outcome in probe.failed if outcome.detail != "503"]
        if hub_errors:
            measure(f"config reload: the hub's own error answers to {probe.url}: {hub_errors[:3]}")
    assert api_answers and pages, "the hub was down for a while during the reload"
    for outcome in api_answers:
        assert outcome.answer["retryAfter"] == "3" and outcome.answer["contentType"] == "application/json", outcome
        assert json.loads(outcome.answer["bodyStart"])["status"] == 503
    for page in pages:
        assert page.answer["contentType"].startswith("text/html") and page.answer["retryAfter"] == "3"
        assert "<title>JupyterHub is restarting</title>" in page.answer["bodyStart"]
        assert '<meta http-equiv="refresh" content="3">' in page.answer["bodyStart"]  # reloads the same address
    last = browser.outcomes[-1]
    assert last.ok and last.answer["url"] == f"{base_url}/hub/home", last  # logged in, where it asked to go


def test_config_reload_replaces_only_the_hub_without_a_failed_request(deployed: Deployed, alice: HubUser) -> None:
    proxy_id = deployed.client.containers.get(NAMES.proxy_container).id
    hub_id = deployed.client.containers.get(NAMES.hub_container).id
    # An operator's own config file (hub_config/jupyterhub_config.d), removed again at the end.
    operator_file = deployed.project_dir / "hub_config" / "jupyterhub_config.d" / "50-reload-test.py"
    operator_file.write_text("c.JupyterHub.template_vars = {'reload_test': 'loaded'}\n")

    notebook = Probe(f"{deployed.base_url}/user/alice/api/status", headers={"Authorization": f"token {alice.token}"})
    hub_api = Probe(f"{deployed.base_url}/hub/api/")
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in alice.session.cookies)
    browser = Probe(f"{deployed.base_url}/hub/home", headers={"Accept": BROWSER_ACCEPT, "Cookie": cookies}, interval_s=0.2)
    # (the hub answers /hub/api/ cheaply while it is up; while it is down, the proxy does)
    crowd = Probe(f"{deployed.base_url}/hub/api/", headers={"Accept": BROWSER_ACCEPT}, interval_s=0.1, clients=8)
    with notebook, hub_api, browser, crowd:
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
    assert_the_proxy_answered_kindly_while_the_hub_was_down(hub_api, browser, deployed.base_url)
    # Many users at once get the page at once too: no answer waits on a name lookup of
    # the missing hub (each used to wait out glibc's 5 s resolver timeout under load).
    restart_pages = [outcome for outcome in crowd.outcomes if outcome.detail == "503"]
    assert restart_pages, "the crowd saw the restart page"
    slowest = max(outcome.at_s - outcome.sent_s for outcome in restart_pages)
    measure(f"config reload: {len(restart_pages)} restart pages to 8 clients at once, slowest {slowest:.2f}s")
    assert slowest < RESOLVER_TIMEOUT_S, slowest

    # The login cookie and the running server survive the hub's replacement.
    home = alice.session.get(f"{deployed.base_url}/hub/home", timeout=10)
    assert home.status_code == 200 and "/hub/login" not in home.url
    assert alice.model()["servers"][""]["ready"] is True
    settings = deployed.client.containers.get(NAMES.hub_container).exec_run(["cat", f"{HUB_CONFIG_DIR}/50-reload-test.py"])
    assert settings.exit_code == 0 and b"reload_test" in settings.output

    operator_file.unlink()
    assert deployed.apply().action(CONTAINER, "hub") == "replace"  # removing it is a reload too
