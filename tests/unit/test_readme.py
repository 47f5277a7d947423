"""The README's stack config table is the key registry, key for key."""

from __future__ import annotations

import runpy

from components.config import StackConfig
from components.config.registry import registry
from testkit.program_runner import REPO_ROOT

HEADER = "| key | default | meaning |\n"


def readme_config_table() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index(HEADER)
    return readme[start : readme.index("\n\n", start) + 1]


def test_the_readme_config_table_is_the_registry() -> None:
    generated = runpy.run_path(str(REPO_ROOT / "scripts" / "config_table.py"))["config_table"]()
    assert readme_config_table() == generated, "README's stack config table is stale: run venv/bin/python scripts/config_table.py"
    rows = readme_config_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [key.key for key in registry(StackConfig)]


def test_every_key_has_a_one_line_doc_and_secrets_have_no_default() -> None:
    for key in registry(StackConfig):
        assert key.doc and "\n" not in key.doc and "|" not in key.doc, key.key
        assert not key.secret or key.default is None, key.key
