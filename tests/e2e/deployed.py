"""The deployment under test: its name, where it answers, and how to apply changes to it."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

from components.names import LABEL as DEPLOYMENT_LABEL
from components.names import USER_SERVER_PREFIX, DeploymentNames
from tests.e2e.harness import ApplyResult, Harness
from tests.program_runner import REPO_ROOT

E2E_NAME = "jhe2e"
NAMES = DeploymentNames(E2E_NAME)  # every name the deployment under test gives things
ARTIFACTS = REPO_ROOT / "test-artifacts"
MEASUREMENTS: list[str] = []


def measure(line: str) -> None:
    """Record a measured figure; the test log lists them all at the end of the run."""
    MEASUREMENTS.append(line)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout_s: float, verify: bool | str = True) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if requests.get(url, timeout=2, verify=verify).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s}s")


@dataclass
class Deployed:
    harness: Harness
    first_apply: ApplyResult
    base_url: str
    port: int
    project_dir: Path
    client: docker.DockerClient

    def apply(self, config: dict[str, str] | None = None) -> ApplyResult:
        """`pulumi up`, then wait until the hub answers again through the proxy."""
        result = self.harness.up(config)
        wait_for(f"{self.base_url}/hub/api/", 60)
        return result


def remove_user_containers(client: docker.DockerClient) -> None:
    """What an operator does before a destroy: user containers hold the network."""
    for container in client.containers.list(
        all=True, filters={"label": f"{DEPLOYMENT_LABEL}={E2E_NAME}", "name": USER_SERVER_PREFIX}
    ):
        container.remove(force=True)
