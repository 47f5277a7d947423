"""The baseline arrangement (jupyterhub-deploy-docker): configurable-http-proxy inside the hub container.

Same images, same hub config and settings as ours, except that the baseline uses the
plain DockerSpawner (as jupyterhub-deploy-docker does, not our PromptDockerSpawner),
applied to the engine by the same harness code (its engine mocks create and delete
each resource).
The arrangement differs: JupyterHub starts CHP itself (ConfigurableHTTPProxy.should_start),
the hub container publishes the port, and it holds the Docker socket directly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import docker

from bench.common import BASELINE, BENCH_DIR, DEPLOYMENT_LABEL, OURS, Scope
from bench.ours import RELOAD_EDIT, OurStack
from testkit.harness import CONTAINER, NETWORK, VOLUME, ApplyError, EngineMocks

DOCKERFILE_DIR = BENCH_DIR / "baseline"
PUBLIC_PORT = 8000
DOCKER_SOCKET = "/var/run/docker.sock"
BASELINE_CONFIG = f"""
# --- bench baseline: JupyterHub starts configurable-http-proxy in its own container ---
get_config().ConfigurableHTTPProxy.should_start = True  # noqa: F821
get_config().ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"  # noqa: F821
get_config().JupyterHub.bind_url = "http://:{PUBLIC_PORT}"  # noqa: F821
# The proxy's pid file defaults to the working directory, which here is the persistent
# data volume: a replaced hub would find the old pid and fail to stop "its" proxy.
get_config().ConfigurableHTTPProxy.pid_file = "/tmp/jupyterhub-proxy.pid"  # noqa: F821
get_config().JupyterHub.spawner_class = "dockerspawner.DockerSpawner"  # noqa: F821
"""


def build_image(client: docker.DockerClient, ours: OurStack, scope: Scope) -> tuple[str, float]:
    """Our hub image with node and CHP copied in from our proxy image; (tag, seconds)."""
    tag = f"{BASELINE}-hub:{scope.run_id}"
    started = time.monotonic()
    args = {"HUB_IMAGE": ours.image_ref("hubImage"), "PROXY_IMAGE": ours.image_ref("proxyImage")}
    for chunk in client.api.build(
        path=str(DOCKERFILE_DIR), buildargs=args, tag=tag, labels=scope.labels, rm=True, forcerm=True, decode=True
    ):
        if "error" in chunk:
            raise ApplyError(f"building {tag}: {chunk['error'].strip()}")
    return tag, time.monotonic() - started


def _renamed(value: Any) -> Any:
    """Settings values with our deployment's name replaced by the baseline's (image refs kept)."""
    if isinstance(value, dict):
        return {key: _renamed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    if isinstance(value, str) and not value.startswith(f"{OURS}-notebook:"):
        return value.replace(OURS, BASELINE)
    return value


def _uploads(ours_inputs: dict[str, Any]) -> list[dict[str, str]]:
    uploads = []
    for upload in ours_inputs["uploads"]:
        content = upload["content"]
        if upload["file"].endswith(".json"):
            content = json.dumps(_renamed(json.loads(content)), indent=2, sort_keys=True) + "\n"
        elif upload["file"].endswith("jupyterhub_config.py"):
            content += BASELINE_CONFIG
        uploads.append({"file": upload["file"], "content": content})
    return uploads


def hub_inputs(ours_inputs: dict[str, Any], image: str, port: int) -> dict[str, Any]:
    """Our hub container's inputs, rearranged the jupyterhub-deploy-docker way."""
    data_path = ours_inputs["volumes"][0]["containerPath"]
    return {
        **ours_inputs,
        "name": f"{BASELINE}-hub",
        "image": image,
        "envs": [env for env in ours_inputs.get("envs", []) if not env.startswith("DOCKER_HOST=")],
        "labels": [{"label": DEPLOYMENT_LABEL, "value": BASELINE}],
        "ports": [{"internal": PUBLIC_PORT, "external": port, "ip": "127.0.0.1"}],
        "mounts": [{"type": "bind", "source": DOCKER_SOCKET, "target": DOCKER_SOCKET}],
        "volumes": [{"volumeName": f"{BASELINE}-hub-data", "containerPath": data_path}],
        "networksAdvanced": [{"name": BASELINE}],
        "uploads": _uploads(ours_inputs),
    }


@dataclass
class BaselineStack:
    mocks: EngineMocks
    inputs: dict[str, Any]
    port: int
    resources: dict[str, dict[str, Any]]  # type -> {"id", "inputs"} as the harness keeps them

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _create(self, typ: str, inputs: dict[str, Any]) -> None:
        resource_id, _ = self.mocks.create(typ, inputs)
        self.resources[typ] = {"id": resource_id, "inputs": inputs}

    def reload(self) -> float:
        """The same config edit as ours, applied as the harness replaces a container."""
        started = time.monotonic()
        config = next(u for u in self.inputs["uploads"] if u["file"].endswith("jupyterhub_config.py"))
        config["content"] += RELOAD_EDIT
        self.mocks.delete(CONTAINER, self.resources[CONTAINER])
        self._create(CONTAINER, self.inputs)
        return time.monotonic() - started

    def destroy(self) -> None:
        for typ in (CONTAINER, VOLUME, NETWORK):
            if typ in self.resources:
                self.mocks.delete(typ, self.resources.pop(typ))


def deploy(ours: OurStack, image: str, port: int) -> BaselineStack:
    mocks = ours.engine_mocks()
    stack = BaselineStack(mocks, hub_inputs(ours.hub_inputs(), image, port), port, {})
    stack._create(NETWORK, {"name": BASELINE, "driver": "bridge"})
    stack._create(VOLUME, {"name": f"{BASELINE}-hub-data", "labels": [{"label": DEPLOYMENT_LABEL, "value": BASELINE}]})
    stack._create(CONTAINER, stack.inputs)
    return stack
