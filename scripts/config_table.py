"""Print the README's stack config table from the key registry (components/config/).

    venv/bin/python scripts/config_table.py

A unit test fails when the README's table differs from this output, so a new key is
one registry entry and this command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.config import StackConfig
from components.config.registry import registry


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
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key in registry(StackConfig):
        name = f"`{key.key}` (secret)" if key.secret else f"`{key.key}`"
        bounds = f" ({number(key.low)} to {number(key.high)})" if key.low is not None and key.high is not None else ""
        rows.append(f"| {name} | {shown(key.default)} | {key.doc}{bounds} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(config_table(), end="")
