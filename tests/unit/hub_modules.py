"""The hub image's own modules (hub_config/*.py), loaded by path: the test process's import
path stays without them, as the preflight's load check of the hub config is."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from testkit.program_runner import REPO_ROOT


def hub_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hub_image_{name}", REPO_ROOT / "hub_config" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
