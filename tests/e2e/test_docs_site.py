"""The operators' documentation, built as the test command builds it, searched in a real browser."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from testkit.program_runner import REPO_ROOT
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.deployed import ARTIFACTS


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site_url(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_searching_the_site_for_restore_finds_how_to_restore_one_user(site_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(site_url, timeout=30_000)
            assert "JupyterHub on a Docker host" in page.title()
            page.click("input.md-search__input")  # the header's search box
            page.keyboard.type("restore")
            # A locator, not an element: the result list is drawn again as each letter arrives.
            result = page.locator("a[href*='how-to/restore-one-user/']").first
            result.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "docs-search-restore.png"))
            result.click(timeout=30_000)
            page.wait_for_url("**/how-to/restore-one-user/**", timeout=30_000)
            assert page.locator("article h1").inner_text().startswith("Restore one user")
            assert "venv/bin/python -m admin.restore --stack" in page.locator("article").inner_text()
        finally:
            browser.close()
