"""One real deployment of the dev stack, shared by the e2e scenarios in this folder.

The engine and base image are made by scripts/bootstrap-engine.sh when missing. An
e2e test that cannot run fails: it is never skipped.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from testkit.endpoints import free_loopback_port
from testkit.hub_user import HubUser
from testkit.program_runner import REPO_ROOT
from testkit.swarm_cluster import SwarmCluster, down, remove_images, up
from tests.e2e.deployed import E2E_NAME, MEASUREMENTS, Deployed, deployment, measure

SWARM_NAME = "jhe2e-swarm"
SWARM_PUBLIC_PORT = 8000  # the swarm deployment's publicPort on the manager (published on this host's loopback)

E2E_DIR = Path(__file__).resolve().parent

# A failed apply leaves the Pulumi runtime's pending futures unretrieved; asyncio logs
# each at exit. The failure itself is raised by the harness and asserted by the test.
logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not e2e"` runs the fast suite."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


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
    # Metrics on, with Prometheus: the other scenarios run beside them (tests/e2e/test_metrics.py).
    metrics = {"enabled": True, "prometheus": True, "proxyPort": free_loopback_port(), "prometheusPort": free_loopback_port()}
    with deployment(engine, tmp_path_factory.mktemp("project"), E2E_NAME, {"metrics": metrics}) as shared:
        yield shared


@pytest.fixture(scope="session")
def alice(deployed: Deployed) -> HubUser:
    """A user signed up, logged in and with a running server, for the scenarios that follow."""
    user = HubUser(deployed.base_url, "alice", "alice-e2e-password")
    user.sign_up()
    user.log_in()
    spawn_s = user.start_server()
    measure(f"alice's first spawn: POST server -> API answers through the proxy in {spawn_s:.2f}s")
    return user


@pytest.fixture(scope="session")
def swarm_cluster(engine: docker.DockerClient) -> Iterator[SwarmCluster]:
    """A 3-node test Swarm (testkit/swarm_cluster.py), its manager's public port reachable on loopback."""
    started = time.monotonic()
    try:
        made = up(SWARM_NAME, nodes=3, publish=[SWARM_PUBLIC_PORT])
        measure(f"test swarm: 3 nodes Ready, base image on the manager in {time.monotonic() - started:.1f}s")
        yield made
    finally:
        down(SWARM_NAME)
        remove_images(SWARM_NAME)
