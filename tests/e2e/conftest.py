"""One real deployment of the dev stack, shared by the e2e scenarios in this folder.

The engine and base image are made by scripts/bootstrap-engine.sh when missing. An
e2e test that cannot run fails: it is never skipped.
"""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Iterator

import docker
import pytest

from tests.e2e.deployed import (
    ARTIFACTS,
    DEPLOYMENT_LABEL,
    E2E_NAME,
    MEASUREMENTS,
    Deployed,
    free_loopback_port,
    measure,
    remove_user_containers,
    wait_for,
)
from tests.e2e.harness import HARNESS_LABEL, Harness
from tests.e2e.hub_user import HubUser
from tests.program_runner import REPO_ROOT, copy_project

# A failed apply leaves the Pulumi runtime's pending futures unretrieved; asyncio logs
# each at exit. The failure itself is raised by the harness and asserted by the test.
logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def _remove_leftovers(client: docker.DockerClient) -> None:
    """Only this suite's: other deployments (a benchmark, an operator's stack) may share the engine."""
    for container in client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={E2E_NAME}"}):
        container.remove(force=True)
    for volume in client.volumes.list():
        if volume.name.startswith(f"{E2E_NAME}-"):
            volume.remove(force=True)
    for network in client.networks.list(names=[E2E_NAME, f"{E2E_NAME}-docker-api"], filters={"label": HARNESS_LABEL}):
        network.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASUREMENTS:
        terminalreporter.section("measured (e2e)")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    bootstrap = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "bootstrap-engine.sh")], capture_output=True, text=True)
    assert bootstrap.returncode == 0, f"no Docker engine for the e2e tests:\n{bootstrap.stderr}"
    return docker.from_env(timeout=600)


@pytest.fixture(scope="session")
def deployed(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    project_dir = tmp_path_factory.mktemp("project")
    copy_project(project_dir)
    _remove_leftovers(engine)
    port = free_loopback_port()
    harness = Harness(project_dir, "dev", {"name": E2E_NAME, "publicPort": str(port)}, run_id=uuid.uuid4().hex[:12])
    image_cache: set[str] = set()
    try:
        first = harness.up()
        image_cache = {first.run.exports[key] for key in ("proxyImage", "hubImage", "notebookImage", "dockerApiImage")}
        base_url = f"http://127.0.0.1:{port}"
        measure(f"first deploy (image builds included): {first.seconds:.1f}s")
        hub_ready = wait_for(f"{base_url}/hub/api/", 60)
        measure(f"hub API answering through the proxy {hub_ready:.1f}s after apply")
        yield Deployed(harness, first, base_url, port, project_dir, engine)
    finally:
        _dump_logs(engine)
        # User containers hold the network: an operator stops servers before a destroy too.
        remove_user_containers(engine)
        harness.destroy()
        _remove_leftovers(engine)
        _remove_images_except(engine, keep=image_cache)


def _remove_images_except(client: docker.DockerClient, keep: set[str]) -> None:
    """Remove the images the scenarios built; the first deploy's stay as the next run's build cache."""
    for image in client.images.list(filters={"label": HARNESS_LABEL}):
        ours = any(tag.startswith(f"{E2E_NAME}-") for tag in image.tags)
        if ours and not keep & set(image.tags):
            client.images.remove(image.id, force=True)


def _dump_logs(client: docker.DockerClient) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for container in client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={E2E_NAME}"}):
        (ARTIFACTS / f"{container.name}.log").write_bytes(container.logs(tail=400))


@pytest.fixture(scope="session")
def alice(deployed: Deployed) -> HubUser:
    """A user signed up, logged in and with a running server, for the scenarios that follow."""
    user = HubUser(deployed.base_url, "alice", "alice-e2e-password")
    user.sign_up()
    user.log_in()
    spawn_s = user.start_server()
    measure(f"alice's first spawn: POST server -> API answers through the proxy in {spawn_s:.2f}s")
    return user
