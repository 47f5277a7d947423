"""The JupyterHub container: DockerSpawner, through the Docker API proxy (or the socket).

Its config reaches the container as uploads: `jupyterhub_config.py` (the project's
mapping), the operator's `jupyterhub_config.d/*.py`, and `settings.json` (values
from stack config), so a change to any of them is a diff on this container only.
Secrets travel as environment variables and never enter those files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.docker_labels import retained_volume
from components.health import gated_container_options, service_container_inputs
from components.names import DOCKER_SOCKET, HUB_CONFIG_PATH, HUB_DATA_DIR, HUB_PORT, HUB_SETTINGS_ENV, HUB_SETTINGS_PATH

# A rollout waits this long for the new hub to answer /hub/health (a database upgrade
# on start included) before `pulumi up` reports it failed.
HUB_START_TIMEOUT_S = 60
# On delete (every replacement) the hub gets this long to stop cleanly after SIGTERM.
HUB_STOP_GRACE_S = 10
HUB_HEALTH_CHECK = [
    "python3",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{HUB_PORT}/hub/health', timeout=4)",
]


@dataclass(frozen=True)
class HubArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    network_name: pulumi.Input[str]
    data_volume_name: str
    config_files: dict[str, str]  # path in the container -> text (preflight read and checked them)
    settings: pulumi.Input[dict[str, Any]]  # an Output in swarm mode (images by digest)
    secret_envs: dict[str, pulumi.Input[str]]
    labels: dict[str, str]
    logs: LogsConfig
    # tcp://… of the Docker API proxy, on a network only the hub shares with it;
    # empty: the hub gets the Docker socket itself.
    docker_host: str = ""
    docker_api_network_name: pulumi.Input[str] | None = None
    metrics_network_name: pulumi.Input[str] | None = None  # with metrics.prometheus: Prometheus scrapes on it
    # The proxy must answer before the hub starts; the notebook image must exist
    # before the spawner is pointed at it.
    start_after: Sequence[pulumi.Resource] = ()


class Hub(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume

    def __init__(self, name: str, args: HubArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Hub", name, None, opts)
        # The database and cookie secret outlive the container, and a destroy of the
        # stack leaves them on the host so a re-deploy keeps users and logins.
        self.data_volume = retained_volume(f"{name}-data", args.data_volume_name, args.labels, self)
        settings_text = pulumi.Output.from_input(args.settings).apply(lambda s: json.dumps(s, indent=2, sort_keys=True) + "\n")
        plain_envs = [f"{HUB_SETTINGS_ENV}={HUB_SETTINGS_PATH}"] + (
            [f"DOCKER_HOST={args.docker_host}"] if args.docker_host else []
        )
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=["jupyterhub", "-f", HUB_CONFIG_PATH, "--upgrade-db"],
            envs=[pulumi.Output.concat(key, "=", value) for key, value in sorted(args.secret_envs.items())] + plain_envs,
            uploads=[
                *(docker.ContainerUploadArgs(file=path, content=text) for path, text in sorted(args.config_files.items())),
                docker.ContainerUploadArgs(file=HUB_SETTINGS_PATH, content=settings_text),
            ],
            mounts=None
            if args.docker_host
            else [docker.ContainerMountArgs(type="bind", source=DOCKER_SOCKET, target=DOCKER_SOCKET)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.data_volume.name, container_path=HUB_DATA_DIR)],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=network)
                for network in (args.network_name, args.docker_api_network_name, args.metrics_network_name)
                if network is not None
            ],
            **service_container_inputs(args.labels, args.logs, HUB_HEALTH_CHECK, HUB_START_TIMEOUT_S),
            destroy_grace_seconds=HUB_STOP_GRACE_S,
            opts=gated_container_options(self, args.start_after),
        )
        self.register_outputs({"containerName": args.container_name, "dataVolumeName": args.data_volume_name})
