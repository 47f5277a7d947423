"""Unit-test mocks: each resource echoes its inputs plus the outputs its provider computes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
from program_runner import REPO_ROOT, ProgramRun, run_program

FAKE_TOKEN = "t0ken-for-unit-tests-only"


class ProviderEchoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = FAKE_TOKEN
        if args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = "sha256:" + hashlib.sha256(args.inputs["imageName"].encode()).hexdigest()
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@pytest.fixture
def run_dev() -> ProgramRun:
    return run_program(ProviderEchoMocks())


PROJECT_FILES = (
    "__main__.py",
    "Pulumi.yaml",
    "Pulumi.dev.yaml",
    "Pulumi.prod.yaml",
    "components",
    "hub_config",
    "build.proxy",
    "build.notebook",
)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project that a test may edit."""
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path
