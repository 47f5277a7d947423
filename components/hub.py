"""The JupyterHub container: DockerSpawner, through the Docker API proxy (or the socket).

Its config reaches the container as two uploads, `jupyterhub_config.py` (the
mapping, from hub_config/) and `settings.json` (values from stack config), so a
change to either is a diff on this container only. Secrets travel as environment
variables and never enter those files.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import pulumi_docker as docker

from components.container_security import NO_NEW_PRIVILEGES, no_capabilities
from components.docker_api_proxy import DOCKER_SOCKET
from components.docker_labels import container_labels, volume_labels
from components.health import gated_container_options, healthcheck

CONFIG_SOURCE = Path("hub_config/jupyterhub_config.py")
CONFIG_PATH = "/etc/jupyterhub/jupyterhub_config.py"
SETTINGS_PATH = "/etc/jupyterhub/settings.json"
DATA_DIR = "/srv/jupyterhub"
HUB_PORT = 8081
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


class HubConfigError(ValueError):
    """hub_config/jupyterhub_config.py cannot be used; raised before the hub is touched."""


def read_hub_config(path: Path = CONFIG_SOURCE) -> str:
    """The config file's text, refused if it does not compile."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HubConfigError(f"{path} is missing. Fix: restore it (git checkout -- hub_config/jupyterhub_config.py)") from None
    try:
        compile(text, str(path), "exec")
    except SyntaxError as error:
        raise HubConfigError(
            f"{path.name} line {error.lineno}: {error.msg}. The running hub is left as it is. "
            "Fix the file and run pulumi preview again"
        ) from None
    return text


class _AnyConfig:
    """Stands in for JupyterHub's config object: any c.Section.trait = value is accepted."""

    def __getattr__(self, name: str) -> _AnyConfig:
        value = _AnyConfig()
        object.__setattr__(self, name, value)
        return value

    def __call__(self, *args: object, **kwargs: object) -> _AnyConfig:
        return _AnyConfig()


def check_hub_config_loads(text: str, settings: dict[str, Any], secret_env_names: Sequence[str]) -> None:
    """Run the config file as the hub would, with this stack's settings and stand-in secrets.

    A file that raises here would crash the new hub after the old one is gone
    (fixed container names mean delete-before-replace), so refuse it first.
    """
    settings_text = json.dumps(settings)

    def open_settings(path: str, *args: Any, **kwargs: Any) -> Any:
        return io.StringIO(settings_text) if path == SETTINGS_PATH else open(path, *args, **kwargs)

    config = _AnyConfig()
    # The names traitlets gives a config file: c, get_config, __file__.
    namespace = {"__file__": CONFIG_PATH, "c": config, "get_config": lambda: config, "open": open_settings}
    with mock.patch.dict(os.environ, dict.fromkeys(secret_env_names, "stand-in-for-a-secret")):
        try:
            exec(compile(text, CONFIG_PATH, "exec"), namespace)
        except ModuleNotFoundError as error:
            pulumi.log.warn(f"jupyterhub_config.py imports {error.name}, which only the hub image has; not checked before deploy")
        except Exception as error:
            raise HubConfigError(
                f"jupyterhub_config.py raised {type(error).__name__}: {error} when loaded with this stack's settings. "
                "The running hub is left as it is. Fix the file and run pulumi preview again"
            ) from None


@dataclass(frozen=True)
class HubArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    network_name: pulumi.Input[str]
    data_volume_name: str
    settings: dict[str, Any]
    secret_envs: dict[str, pulumi.Input[str]]
    labels: dict[str, str]
    # tcp://… of the Docker API proxy, on a network only the hub shares with it;
    # empty: the hub gets the Docker socket itself.
    docker_host: str = ""
    docker_api_network_name: pulumi.Input[str] | None = None
    # The proxy must answer before the hub starts; the notebook image must exist
    # before the spawner is pointed at it.
    start_after: Sequence[pulumi.Resource] = ()


class Hub(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume

    def __init__(self, name: str, args: HubArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Hub", name, None, opts)
        config_text = read_hub_config()
        check_hub_config_loads(config_text, args.settings, list(args.secret_envs))
        # The database and cookie secret outlive the container, and a destroy of the
        # stack leaves them on the host so a re-deploy keeps users and logins.
        self.data_volume = docker.Volume(
            f"{name}-data",
            name=args.data_volume_name,
            labels=volume_labels(args.labels),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=["jupyterhub", "-f", CONFIG_PATH, "--upgrade-db"],
            envs=[pulumi.Output.concat(key, "=", value) for key, value in sorted(args.secret_envs.items())]
            + ([f"DOCKER_HOST={args.docker_host}"] if args.docker_host else []),
            uploads=[
                docker.ContainerUploadArgs(file=CONFIG_PATH, content=config_text),
                docker.ContainerUploadArgs(
                    file=SETTINGS_PATH, content=json.dumps(args.settings, indent=2, sort_keys=True) + "\n"
                ),
            ],
            mounts=None
            if args.docker_host
            else [docker.ContainerMountArgs(type="bind", source=DOCKER_SOCKET, target=DOCKER_SOCKET)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.data_volume.name, container_path=DATA_DIR)],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=network)
                for network in (args.network_name, args.docker_api_network_name)
                if network is not None
            ],
            labels=container_labels(args.labels),
            restart="unless-stopped",
            capabilities=no_capabilities(),
            security_opts=NO_NEW_PRIVILEGES,
            healthcheck=healthcheck(HUB_HEALTH_CHECK),
            wait=True,
            wait_timeout=HUB_START_TIMEOUT_S,
            destroy_grace_seconds=HUB_STOP_GRACE_S,
            opts=gated_container_options(self, args.start_after),
        )
        self.register_outputs({"containerName": args.container_name})
