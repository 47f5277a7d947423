"""A deployment under test: its names, where it answers, and how to apply changes to it.

`deployment()` deploys the dev stack under a name of its own from a copy of the
project, and removes everything it made afterwards; the session's shared deployment
is one, and a scenario that changes what cannot be undone (a database upgrade) makes
its own, so no scenario depends on the order the others run in.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import yaml

from components.locks import PINS, PYTHON_LOCK
from components.names import LABEL as DEPLOYMENT_LABEL
from components.names import USER_SERVER_PREFIX, DeploymentNames
from testkit.endpoints import free_loopback_port, wait_for
from testkit.harness import HARNESS_LABEL, ApplyResult, Harness
from testkit.program_runner import PROJECT, REPO_ROOT, copy_project

E2E_NAME = "jhe2e"
NAMES = DeploymentNames(E2E_NAME)  # every name the shared deployment gives things
ARTIFACTS = REPO_ROOT / "test-artifacts"
# The hub's pins and lock before JupyterHub 6 (the upgrade and adoption scenarios start there).
JUPYTERHUB_5_HUB = REPO_ROOT / "tests" / "e2e" / "hub-5.5.1"
MEASUREMENTS: list[str] = []


def measure(line: str) -> None:
    """Record a measured figure; the test log lists them all at the end of the run."""
    MEASUREMENTS.append(line)


@dataclass
class Deployed:
    harness: Harness
    first_apply: ApplyResult
    base_url: str
    port: int
    project_dir: Path
    client: docker.DockerClient
    names: DeploymentNames

    def apply(self, config: dict[str, str] | None = None) -> ApplyResult:
        """`pulumi up`, then wait until the hub answers again through the proxy."""
        result = self.harness.up(config)
        wait_for(f"{self.base_url}/hub/api/", 60)
        return result


# Run in the hub container: send each raw request to the filter; the status codes it answered.
SEND_RAW = """
import base64, json, re, socket, sys
outcome = {}
for name, raw in json.loads(sys.argv[1]):
    connection = socket.create_connection((sys.argv[2], 2375), timeout=30)
    connection.sendall(base64.b64decode(raw))
    connection.shutdown(socket.SHUT_WR)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        received += b" timed-out"
    connection.close()
    codes = [int(code) for code in re.findall(rb"HTTP/1\\.[01] ([0-9]{3}) ", received)]
    outcome[name] = {"codes": codes, "text": received[-1000:].decode(errors="replace")}
print(json.dumps(outcome))
"""


def raw_requests_from_the_hub(
    client: docker.DockerClient, names: DeploymentNames, requests: dict[str, bytes]
) -> dict[str, list[int]]:
    """An attacker with a shell in the hub: raw HTTP to the Docker API filter, by name; the status codes."""
    return {name: answer["codes"] for name, answer in raw_answers_from_the_hub(client, names, requests).items()}


def raw_answers_from_the_hub(
    client: docker.DockerClient, names: DeploymentNames, requests: dict[str, bytes]
) -> dict[str, dict[str, Any]]:
    """The same, with each answer's status codes ("codes") and the end of its text ("text")."""
    hub = client.containers.get(names.hub_container)
    payload = json.dumps([[name, base64.b64encode(raw).decode()] for name, raw in requests.items()])
    result = hub.exec_run(["python3", "-c", SEND_RAW, payload, names.docker_api_container])
    assert result.exit_code == 0, result.output.decode(errors="replace")
    answers: dict[str, dict[str, Any]] = json.loads(result.output.decode().strip().splitlines()[-1])
    return answers


def admin_command(project_dir: Path, module: str, *options: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """An operator's `venv/bin/python -m admin.<command> --stack dev ...` on the project copy's stack file."""
    command = [sys.executable, "-m", module, "--stack", "dev", "--project-dir", str(project_dir), *options]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)


def remove_user_containers(client: docker.DockerClient, names: DeploymentNames = NAMES) -> None:
    """What an operator does before a destroy: user containers hold the network."""
    for container in client.containers.list(
        all=True, filters={"label": f"{DEPLOYMENT_LABEL}={names.deployment}", "name": USER_SERVER_PREFIX}
    ):
        container.remove(force=True)


def remove_leftovers(client: docker.DockerClient, names: DeploymentNames) -> None:
    """Only this deployment's: others (a benchmark, an operator's stack) may share the engine."""
    for container in client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={names.deployment}"}):
        container.remove(force=True)
    for volume in client.volumes.list():
        if volume.name.startswith(f"{names.deployment}-"):
            volume.remove(force=True)
    for network in client.networks.list(
        names=[names.network, names.docker_api_network, names.metrics_network], filters={"label": HARNESS_LABEL}
    ):
        network.remove()


def _dump_logs(client: docker.DockerClient, names: DeploymentNames) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for container in client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={names.deployment}"}):
        (ARTIFACTS / f"{container.name}.log").write_bytes(container.logs(tail=400))


def _remove_images_except(client: docker.DockerClient, names: DeploymentNames, keep: set[str]) -> None:
    """Remove the images the scenarios built; the first deploy's stay as the next run's build cache."""
    for image in client.images.list(filters={"label": HARNESS_LABEL}):
        ours = any(tag.startswith(f"{names.deployment}-") for tag in image.tags)
        if ours and not keep & set(image.tags):
            client.images.remove(image.id, force=True)


def set_stack_config(project_dir: Path, values: Mapping[str, Any], stack: str = "dev") -> None:
    """`pulumi config set` in the copy: commands that read the stack file see what the program sees."""
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    for key, value in values.items():  # a section's keys are set one by one, as `--path` does
        existing = config.get(f"{PROJECT}:{key}")
        config[f"{PROJECT}:{key}"] = existing | value if isinstance(existing, dict) and isinstance(value, dict) else value
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))


def use_hub_pins(hub_config_dir: Path, source: Path) -> None:
    """Give a copy of hub_config/ the pins and lock in `source` (it then builds that hub)."""
    for name in (PINS, PYTHON_LOCK):
        shutil.copyfile(source / name, hub_config_dir / name)


@contextmanager
def deployment(
    client: docker.DockerClient,
    project_dir: Path,
    name: str,
    settings: Mapping[str, Any] | None = None,
    before_first_up: Callable[[], None] | None = None,
    secrets: dict[str, str] | None = None,
) -> Iterator[Deployed]:
    """The dev stack deployed as `name` from a fresh copy of the project in project_dir,
    with `settings` in its stack config; `before_first_up` runs just before the first apply."""
    names = DeploymentNames(name)
    copy_project(project_dir)
    remove_leftovers(client, names)
    port = free_loopback_port()
    # A secret is in the stack file encrypted (`pulumi config set --secret`); the harness gets its value.
    encrypted = {key: {"secure": "v1:set-by-pulumi-config-set-secret"} for key in secrets or {}}
    set_stack_config(project_dir, {"name": name, "publicPort": str(port), **(settings or {}), **encrypted})
    harness = Harness(project_dir, "dev", {}, run_id=uuid.uuid4().hex[:12], secrets=secrets or {})
    image_cache: set[str] = set()
    try:
        if before_first_up is not None:
            before_first_up()
        first = harness.up()
        image_cache = {value for key, value in first.run.exports.items() if key.endswith("Image")}  # proxyImage, …
        base_url = f"http://127.0.0.1:{port}"
        measure(f"{name}: first deploy (image builds included): {first.seconds:.1f}s")
        hub_ready = wait_for(f"{base_url}/hub/api/", 60)
        measure(f"{name}: hub API answering through the proxy {hub_ready:.1f}s after apply")
        yield Deployed(harness, first, base_url, port, project_dir, client, names)
    finally:
        _dump_logs(client, names)
        remove_user_containers(client, names)
        harness.destroy()
        remove_leftovers(client, names)
        _remove_images_except(client, names, keep=image_cache)
