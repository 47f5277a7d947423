"""Builds install exactly their locks, and a lock that no longer matches its pins is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from admin.lock import NPM_CONTEXTS, PYTHON_CONTEXTS
from components.locks import lock_problem, pins_digest
from components.preflight import BuildContextError
from testkit.program_runner import REPO_ROOT, run_program
from tests.unit.echo_mocks import ProviderEchoMocks


@pytest.mark.parametrize("context", [*PYTHON_CONTEXTS, *NPM_CONTEXTS])
def test_every_lock_matches_its_pins(context: str) -> None:
    assert lock_problem(REPO_ROOT / context) is None


@pytest.mark.parametrize("context", ["hub_config", "build.notebook"])
def test_the_python_images_install_only_their_lock_with_hashes(context: str) -> None:
    dockerfile = (REPO_ROOT / context / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r /tmp/requirements.lock" in dockerfile
    assert "requirements.txt" in (REPO_ROOT / context / ".dockerignore").read_text().splitlines()


def test_the_proxy_installs_only_its_lock() -> None:
    dockerfile = (REPO_ROOT / "build.proxy" / "Dockerfile").read_text()
    assert "COPY package.json package-lock.json ./" in dockerfile and "npm ci --omit=dev" in dockerfile
    assert "npm install" not in dockerfile


@pytest.fixture
def hub_context(tmp_path: Path) -> Path:
    for name in ("requirements.txt", "requirements.lock"):
        shutil.copy(REPO_ROOT / "hub_config" / name, tmp_path / name)
    return tmp_path


def test_a_pin_changed_without_relocking_is_a_stale_lock(hub_context: Path) -> None:
    pins = hub_context / "requirements.txt"
    pins.write_text(pins.read_text().replace("dockerspawner==14.0.0", "dockerspawner==13.0.0"))
    assert lock_problem(hub_context) == (
        f"{hub_context}/requirements.lock is out of date with {pins}. Fix: run `venv/bin/python -m admin.lock`"
    )


def test_a_package_added_without_relocking_is_a_stale_lock(hub_context: Path) -> None:
    pins = hub_context / "requirements.txt"
    pins.write_text(pins.read_text() + "pandas==2.3.3\n")
    assert "out of date" in str(lock_problem(hub_context))


def test_comments_and_order_of_the_pins_do_not_make_a_lock_stale(hub_context: Path) -> None:
    pins = hub_context / "requirements.txt"
    lines = pins.read_text().splitlines()
    pins.write_text("# a new comment\n" + "\n".join(reversed(lines)) + "\n")
    assert lock_problem(hub_context) is None


def test_a_lock_edited_by_hand_to_another_version_is_refused(hub_context: Path) -> None:
    lock = hub_context / "requirements.lock"
    lock.write_text(lock.read_text().replace("\njupyterhub==6.1.1 ", "\njupyterhub==6.1.0 "))
    assert lock_problem(hub_context) == (f"{lock} does not install jupyterhub==6.1.1. Fix: run `venv/bin/python -m admin.lock`")


def test_a_pin_without_an_exact_version_is_refused(hub_context: Path) -> None:
    pins = hub_context / "requirements.txt"
    pins.write_text(pins.read_text().replace("dockerspawner==14.0.0", "dockerspawner>=14"))
    lock = hub_context / "requirements.lock"
    lock.write_text(lock.read_text().replace(lock.read_text().splitlines()[2], "# pins sha256: " + pins_digest(pins.read_text())))
    assert "`dockerspawner>=14` is not pinned (name==version)" in str(lock_problem(hub_context))


def test_a_missing_lock_is_refused(hub_context: Path) -> None:
    (hub_context / "requirements.lock").unlink()
    assert lock_problem(hub_context) == f"{hub_context}/requirements.lock is missing. Fix: run `venv/bin/python -m admin.lock`"


def test_an_npm_pin_changed_without_relocking_is_a_stale_lock(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(REPO_ROOT / "build.proxy" / name, tmp_path / name)
    package = json.loads((tmp_path / "package.json").read_text())
    package["dependencies"]["configurable-http-proxy"] = "5.2.0"
    (tmp_path / "package.json").write_text(json.dumps(package))
    assert "package-lock.json is out of date" in str(lock_problem(tmp_path))


def test_an_npm_range_instead_of_a_version_is_refused(tmp_path: Path) -> None:
    for name in ("package.json", "package-lock.json"):
        shutil.copy(REPO_ROOT / "build.proxy" / name, tmp_path / name)
    for name in ("package.json", "package-lock.json"):
        text = (tmp_path / name).read_text()
        (tmp_path / name).write_text(text.replace('"configurable-http-proxy": "5.3.0"', '"configurable-http-proxy": "^5.3.0"'))
    assert "does not install configurable-http-proxy@^5.3.0" in str(lock_problem(tmp_path))


def test_preview_refuses_a_stale_lock_before_anything_is_declared(project_copy: Path) -> None:
    pins = project_copy / "build.notebook" / "requirements.txt"
    pins.write_text(pins.read_text() + "pandas==2.3.3\n")
    with pytest.raises(BuildContextError, match=r"the notebook image cannot be built: .*out of date.*admin\.lock"):
        run_program(ProviderEchoMocks(), project_dir=project_copy)
