"""The documentation site says what the code does: its generated reference is the key
registry and the admin commands' parsers, its outputs table is the program's exports,
and the README is a short front page whose links lead somewhere."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import yaml

from components.config import StackConfig
from components.config.registry import registry
from testkit.program_runner import REPO_ROOT, run_program
from tests.unit.echo_mocks import ProviderEchoMocks

REFERENCE = runpy.run_path(str(REPO_ROOT / "scripts" / "docs_reference.py"))
DOCS = REPO_ROOT / "docs"
STALE = "stale: run venv/bin/python scripts/docs_reference.py"


def test_the_config_page_table_is_the_registry() -> None:
    page = (DOCS / "reference" / "config.md").read_text()
    assert REFERENCE["config_page"](page) == page, f"docs/reference/config.md is {STALE}"
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [key.key for key in registry(StackConfig)]


def test_every_key_has_a_one_line_doc_and_secrets_have_no_default() -> None:
    for key in registry(StackConfig):
        assert key.doc and "\n" not in key.doc and "|" not in key.doc, key.key
        assert not key.secret or key.default is None, key.key


def test_the_admin_commands_page_is_their_parsers() -> None:
    page = (DOCS / "reference" / "admin-commands.md").read_text()
    assert REFERENCE["admin_page"]() == page, f"docs/reference/admin-commands.md is {STALE}"
    commands = REFERENCE["admin_commands"]()
    assert {"admin.adopt", "admin.restore", "admin.prune_images", "admin.disk", "admin.swarm_home", "admin.lock"} <= set(commands)
    for command in commands:
        assert f"## `{command}`" in page
    assert "| `--stop-servers` | stop the servers of the users being restored |  |" in page
    assert "| `--list` | list the snapshots | one of `--list`, `--snapshot` |" in page


EVERYTHING_ON = {
    "backup": json.dumps({"enabled": True, "repository": "/srv/backups"}),
    "metrics": json.dumps({"enabled": True, "prometheus": True, "proxyPort": 9102}),
    "tls": json.dumps({"mode": "files"}),
}
EVERYTHING_ON_SECRETS = {"backupPassword": "p", "tlsCertificate": "c", "tlsKey": "k"}


def documented_outputs() -> dict[str, str]:
    page = (DOCS / "reference" / "outputs.md").read_text()
    return {match.group(1): match.group(2) for match in re.finditer(r"^\| `(\w+)`(?: \(secret\))? \| ([^|]+) \|", page, re.M)}


def test_the_outputs_page_lists_what_the_program_exports(monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setattr("components.preflight.check_backup_repository", lambda repository: None)
    monkeypatch.setattr("components.preflight.docker_volumes_dir", lambda: "/var/lib/docker/volumes")
    plain = run_program(ProviderEchoMocks()).exports
    everything = run_program(ProviderEchoMocks(), config=EVERYTHING_ON, secrets=EVERYTHING_ON_SECRETS).exports
    documented = documented_outputs()
    assert set(documented) == set(plain) | set(everything)
    assert {key for key, condition in documented.items() if condition.strip() == "always"} == set(plain) - {"dockerApiImage"}


README = REPO_ROOT / "README.md"


def test_the_readme_is_a_short_front_page_whose_links_lead_somewhere() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 150
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith("http")]
    assert local, "the README links into the site"
    assert [link for link in local if not (REPO_ROOT / link).exists()] == []
    assert "bash scripts/test.sh" in text and "pulumi up --stack dev" in text


def nav_pages(entries: list[Any], depth: int = 1) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for entry in entries:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            if isinstance(value, list):
                found += nav_pages(value, depth + 1)
            else:
                found.append((value, depth))
    return found


def test_every_page_is_in_the_navigation_at_most_a_tab_and_a_section_deep() -> None:
    site = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    pages = nav_pages(site["nav"])
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md") if "results" not in path.parts}
    assert {page for page, _ in pages} == on_disk
    # A tab, then the page in the tab's sidebar, where sections are headings, not folders to open.
    assert max(depth for _, depth in pages) <= 3 and "navigation.sections" in site["theme"]["features"]
    assert any(page == "how-to/restore-one-user.md" for page, _ in pages)
