"""A person in a real browser (Debian's chromium) logs in, starts a server and gets JupyterLab;
while the hub restarts, the browser shows the restart page and then the page it asked for."""

from __future__ import annotations

import shutil

from playwright.sync_api import sync_playwright

from testkit.endpoints import wait_for
from testkit.hub_user import HubUser
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, fill_login_form
from tests.e2e.deployed import ARTIFACTS, NAMES, Deployed

HUB_BACK_WAIT_MS = 90_000  # the hub's start, and the page's next reload (every 3 s)


def test_browser_login_starts_a_server_and_jupyterlab_loads(deployed: Deployed) -> None:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium (the test command does)"
    carol = HubUser(deployed.base_url, "carol", "carol-e2e-password")
    carol.sign_up()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            fill_login_form(page, deployed.base_url, carol.name, carol.password)
            page.screenshot(path=str(ARTIFACTS / "1-login.png"))
            page.click("input[type=submit], button[type=submit]")
            # The hub sends a fresh user on to spawn a server, then to JupyterLab.
            page.wait_for_url("**/user/carol/lab**", timeout=120_000)
            page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
            page.wait_for_selector(".jp-Launcher", timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "2-jupyterlab.png"))
            assert "JupyterLab" in page.title()
        finally:
            browser.close()
    assert deployed.client.containers.get(NAMES.user_server("carol")).status == "running"


def test_while_the_hub_restarts_the_browser_shows_the_restart_page_then_where_it_was_going(deployed: Deployed) -> None:
    hub = deployed.client.containers.get(NAMES.hub_container)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            fill_login_form(page, deployed.base_url, "carol", "carol-e2e-password")
            page.click("input[type=submit], button[type=submit]")
            page.wait_for_url("**/user/carol/**", timeout=60_000)
            hub.stop(timeout=10)
            try:
                answer = page.goto(f"{deployed.base_url}/hub/home", timeout=30_000)
                assert answer is not None and answer.status == 503
                assert page.title() == "JupyterHub is restarting"
                page.screenshot(path=str(ARTIFACTS / "3-hub-restarting.png"))
            finally:
                hub.start()
            # Nobody clicks: the page reloads itself until the hub answers.
            page.wait_for_function("document.title !== 'JupyterHub is restarting'", timeout=HUB_BACK_WAIT_MS, polling=500)
            page.wait_for_load_state("load")
            assert page.url == f"{deployed.base_url}/hub/home"
            page.screenshot(path=str(ARTIFACTS / "4-hub-back.png"))
            assert "restarting" not in page.content()
        finally:
            browser.close()
    wait_for(f"{deployed.base_url}/hub/api/", 60)
