"""Fixtures for the unit tests: the dev stack evaluated under echo mocks, a project copy to edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import preflight
from testkit.program_runner import ProgramRun, copy_project, run_program
from tests.unit.echo_mocks import ProviderEchoMocks


@pytest.fixture(autouse=True)
def no_host_port_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests touch no host port and no Docker engine (test_public_port.py and test_neighbours.py test them)."""
    monkeypatch.setattr(preflight, "check_public_port", lambda *args, **named: None)
    monkeypatch.setattr(preflight, "check_neighbours", lambda *args: None)
    monkeypatch.setattr(preflight, "docker_volumes_dir", lambda: "/var/lib/docker/volumes")
    monkeypatch.setattr(preflight, "docker_host_name", lambda: "gpu-host-1")
    monkeypatch.setattr(preflight, "check_backup_repository", lambda repository: None)


@pytest.fixture(scope="session")
def run_dev() -> ProgramRun:
    """The dev stack, evaluated once: tests only read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preflight, "check_public_port", lambda *args, **named: None)
        patch.setattr(preflight, "check_neighbours", lambda *args: None)
        return run_program(ProviderEchoMocks())


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project that a test may edit."""
    copy_project(tmp_path)
    return tmp_path
