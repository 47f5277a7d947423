"""A person's browser in the e2e tests: Debian's chromium under Playwright, and what several scenarios do with it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.e2e.deployed import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
# Without these, chromium keeps dialling Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def home_trusting(folder: Path, ca_file: Path, nickname: str) -> Path:
    """A HOME whose NSS database (what chromium trusts) holds ca_file besides the system's roots."""
    nss = folder / "home" / ".pki" / "nssdb"
    nss.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nss}", "-N", "--empty-password"], check=True, timeout=30)
    subprocess.run(
        ["certutil", "-d", f"sql:{nss}", "-A", "-t", "C,,", "-n", nickname, "-i", str(ca_file)], check=True, timeout=30
    )
    return folder / "home"


def fill_login_form(page: Page, base_url: str, name: str, password: str) -> None:
    """JupyterHub's own login form, filled in (not yet sent)."""
    page.goto(f"{base_url}/hub/login", timeout=30_000)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)


def jupyterlab_loads(page: Page, base_url: str, user: str, screenshot: str) -> None:
    """The user's JupyterLab (their server runs) shows its launcher; a screenshot in test-artifacts/ either way."""
    ARTIFACTS.mkdir(exist_ok=True)
    if not page.url.startswith(f"{base_url}/user/{user}/lab"):
        page.goto(f"{base_url}/user/{user}/lab", timeout=60_000)
    try:
        page.wait_for_selector(".jp-Launcher", timeout=120_000)
    except PlaywrightError as error:
        page.screenshot(path=str(ARTIFACTS / screenshot.replace(".png", "-failed.png")))
        raise AssertionError(f"no JupyterLab launcher at {page.url}") from error
    page.screenshot(path=str(ARTIFACTS / screenshot))
    assert "JupyterLab" in page.title()
