"""Write the site's generated reference: the stack config table (from the key registry,
components/config/) and the admin commands (from their argument parsers).

    venv/bin/python scripts/docs_reference.py

A unit test fails when docs/ differs from this output, so a new key or flag is one
registry entry or add_argument and this command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.config import StackConfig
from components.config.registry import registry

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PAGE = REPO_ROOT / "docs" / "reference" / "config.md"
ADMIN_PAGE = REPO_ROOT / "docs" / "reference" / "admin-commands.md"
CONFIG_TABLE_HEADER = "| key | default | meaning |\n"


def shown(default: Any) -> str:
    if default in ("", None):
        return "(none)"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, tuple):
        return "`[]`"
    return f"`{default}`"


def number(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else str(bound)


def config_table() -> str:
    rows = [CONFIG_TABLE_HEADER.rstrip("\n"), "|---|---|---|"]
    for key in registry(StackConfig):
        name = f"`{key.key}` (secret)" if key.secret else f"`{key.key}`"
        bounds = f" ({number(key.low)} to {number(key.high)})" if key.low is not None and key.high is not None else ""
        rows.append(f"| {name} | {shown(key.default)} | {key.doc}{bounds} |")
    return "\n".join(rows) + "\n"


def config_page(current: str) -> str:
    """The config page with its table replaced by the registry's."""
    start = current.index(CONFIG_TABLE_HEADER)
    end = current.index("\n\n", start) + 1
    return current[:start] + config_table() + current[end:]


def admin_commands() -> list[str]:
    """The admin modules that are commands: those with a parser()."""
    modules = sorted(path.stem for path in (REPO_ROOT / "admin").glob("*.py") if "\ndef parser() ->" in path.read_text())
    return [f"admin.{module}" for module in modules]


def _option(action: argparse.Action) -> str:
    takes_value = action.nargs != 0
    value = f" {action.metavar or action.dest.upper()}" if takes_value else ""
    return ", ".join(f"`{flag}{value}`" for flag in action.option_strings)


def command_section(module: str) -> str:
    parser: argparse.ArgumentParser = importlib.import_module(module).parser()
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    usage = parser.format_usage().removeprefix("usage: ").strip()
    lines = [f"## `{module}`", "", parser.description or "", "", "```", usage, "```", ""]
    lines += ["| option | meaning | required |", "|---|---|---|"]
    groups = {id(action): group for group in parser._mutually_exclusive_groups for action in group._group_actions}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        group = groups.get(id(action))
        if action.required:
            required = "yes"
        elif group is not None and group.required:
            required = "one of " + ", ".join(f"`{other.option_strings[0]}`" for other in group._group_actions)
        elif group is not None:
            required = "not with " + ", ".join(f"`{o.option_strings[0]}`" for o in group._group_actions if o is not action)
        else:
            required = ""
        help_text = (action.help or "").replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| {_option(action)} | {help_text} | {required} |")
    return "\n".join(lines) + "\n"


def admin_page() -> str:
    intro = (
        "# Admin commands\n\n"
        "Run from the project folder, with the project's virtualenv: `venv/bin/python -m admin.<command> …`, "
        "as a user who may use the Docker engine (root or the `docker` group); no `PULUMI_CONFIG_PASSPHRASE` is needed: "
        "secrets stay encrypted in the stack file and the commands take what they need from the running containers. "
        "Those with `--stack` read `Pulumi.<stack>.yaml` with the program's own parser, so they see the names "
        "the deployment uses; a config error ends them with its fix. This page is generated from their argument "
        "parsers (`venv/bin/python scripts/docs_reference.py`).\n"
    )
    return intro + "".join("\n" + command_section(module) for module in admin_commands())


def main() -> None:
    CONFIG_PAGE.write_text(config_page(CONFIG_PAGE.read_text()))
    ADMIN_PAGE.write_text(admin_page())


if __name__ == "__main__":
    main()
