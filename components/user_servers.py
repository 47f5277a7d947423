"""Where users' servers run: the one place that knows each `spawner.type`.

A backend owns what differs between modes: the network driver, the spawner class and
traits (the hub applies them without knowing the mode), where homes live, and whether
the Docker API filter can pin its servers (and with which policy). `cluster.mode: swarm`
picks the swarm backend whatever the spawner type; otherwise `spawner.type` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig
from components.config.spawner import BUILT_IMAGE_LABEL
from components.names import NOTEBOOK_HOME, NOTEBOOK_PORT, NOTEBOOK_UID

Traitlets = dict[str, dict[str, Any]]
CPU_PERIOD_US = 100_000  # DockerSpawner's: the CPU limit is a quota of this period


@dataclass(frozen=True)
class UserServerImages:
    default: str  # the image new servers get (the built one, or the rollback)
    choices: Mapping[str, str]  # label -> image, the default's label included

    @property
    def all(self) -> list[str]:
        return sorted(set(self.choices.values()))


def user_server_images(config: StackConfig, built_notebook_image: str) -> UserServerImages:
    default = config.notebook_rollback_image or built_notebook_image
    return UserServerImages(default, {BUILT_IMAGE_LABEL: default, **config.spawner.extra_images})


def _server_traits(config: StackConfig, images: UserServerImages) -> dict[str, Any]:
    """What every backend's spawner is told: the image, names, network, limits and timeouts."""
    spawner, names = config.spawner, config.names
    traits: dict[str, Any] = {
        "image": images.default,
        "name_template": names.user_server_template,
        "port": NOTEBOOK_PORT,
        "network_name": names.network,
        "use_internal_ip": True,
        # A container is routed to by name: its IP may change after a Docker daemon
        # restart. (A Swarm server is routed to by its task's address: spawners.py.)
        "use_internal_hostname": True,
        "mem_limit": spawner.mem_limit,
        "cpu_limit": spawner.cpu_limit,
        "start_timeout": spawner.start_timeout_seconds,
        "http_timeout": spawner.start_timeout_seconds,
        "extra_create_kwargs": {"labels": names.labels},
    }
    if len(images.choices) > 1:
        traits["allowed_images"] = dict(images.choices)
    return traits


def _docker_spawner_traitlets(config: StackConfig, images: UserServerImages) -> Traitlets:
    """What DockerSpawner and SystemUserSpawner share."""
    spawner = config.spawner
    traits = _server_traits(config, images) | {
        # A user's container comes back after a Docker daemon restart (restart policy;
        # Docker refuses one together with AutoRemove, and remove=True still deletes the
        # container when its server stops).
        # A process limit keeps a fork bomb inside its own container.
        "extra_host_config": {
            "auto_remove": False,
            "restart_policy": {"Name": "unless-stopped"},
            "pids_limit": spawner.pids_limit,
            "log_config": {"type": config.logs.driver, "config": config.logs.options},
        },
        # A stopped server's container is removed, so the next start uses the
        # current image and settings; the user's files live in the home volume.
        "remove": True,
    }
    return {"DockerSpawner": traits}


def _docker_traitlets(config: StackConfig, images: UserServerImages) -> Traitlets:
    traits = _docker_spawner_traitlets(config, images)
    names = config.names
    traits["DockerSpawner"] |= {"notebook_dir": NOTEBOOK_HOME, "volumes": {names.home_volume_template: NOTEBOOK_HOME}}
    return traits


def _systemuser_traitlets(config: StackConfig, images: UserServerImages) -> Traitlets:
    return _docker_spawner_traitlets(config, images) | {
        "SystemUserSpawner": {
            "host_homedir_format_string": "/home/{username}",
            "image_homedir_format_string": "/home/{username}",
        }
    }


def _docker_policy(config: StackConfig, images: UserServerImages) -> dict[str, Any]:
    """What the Docker API filter lets the hub create (docker_api_proxy/policy.py reads it)."""
    spawner, names = config.spawner, config.names
    return {
        "deployment": names.deployment,
        "deploymentLabel": next(iter(names.labels)),
        "network": names.network,
        "userContainerTemplate": names.user_server_template,
        "homeVolumeTemplate": names.home_volume_template,
        "notebookHome": NOTEBOOK_HOME,
        "notebookUser": NOTEBOOK_UID,
        "notebookPort": NOTEBOOK_PORT,
        "images": images.all,
        "maxMemoryBytes": spawner.mem_limit_bytes,
        "cpuPeriod": CPU_PERIOD_US,
        "maxCpuQuota": int(spawner.cpu_limit * CPU_PERIOD_US),
        "maxPids": spawner.pids_limit,
        "logConfig": {"Type": config.logs.driver, "Config": config.logs.options},
        "maxServers": spawner.max_servers,
        "swarm": {},
    }


def _swarm_policy(config: StackConfig, images: UserServerImages) -> dict[str, Any]:
    """The container rules, and what a user's Swarm service is pinned to besides."""
    cluster = config.cluster
    shared = cluster.homes == "shared"
    driver = {"Name": cluster.home_volume_driver, "Options": dict(cluster.home_volume_options)} if shared else None
    swarm = {
        "constraints": list(cluster.server_placement),
        "stickyHomes": not shared,
        "volumeDriver": driver,
        "managersRunServers": cluster.managers_run_servers,
    }
    return _docker_policy(config, images) | {"swarm": swarm}


def _swarm_traitlets(config: StackConfig, images: UserServerImages) -> Traitlets:
    """SwarmSpawner's, with hub_config/spawners.py's own: one service per server."""
    cluster, names = config.cluster, config.names
    traits = _server_traits(config, images) | {
        "notebook_dir": NOTEBOOK_HOME,
        "volumes": {names.home_volume_template: NOTEBOOK_HOME},
        "home_volume_labels": names.labels,
        "pids_limit": config.spawner.pids_limit,
        "log_config": {"Name": config.logs.driver, "Options": config.logs.options},
        "user_constraints": list(cluster.server_placement),
        "sticky_homes": cluster.homes == "sticky",
    }
    if cluster.homes == "shared":
        traits |= {"volume_driver": cluster.home_volume_driver, "volume_driver_options": dict(cluster.home_volume_options)}
    return {"SwarmSpawner": traits}


@dataclass(frozen=True)
class Backend:
    network_driver: str  # of the network joining the proxy, the hub and the user servers
    spawner_class: str  # in hub_config/spawners.py, installed in the hub image
    traitlets: Callable[[StackConfig, UserServerImages], Traitlets]
    # The Docker API filter's policy, or None where the filter cannot pin the
    # containers (host home directories are bind mounts it refuses).
    docker_api_policy: Callable[[StackConfig, UserServerImages], dict[str, Any]] | None

    def hub_settings(self, config: StackConfig, images: UserServerImages) -> dict[str, Any]:
        # The hub turns away a start past the cap politely (429) before the filter refuses it.
        hub_limit = {"JupyterHub": {"active_server_limit": config.spawner.max_servers}}
        return {"class": self.spawner_class, "traitlets": self.traitlets(config, images) | hub_limit}


BACKENDS = {
    "docker": Backend("bridge", "spawners.PromptDockerSpawner", _docker_traitlets, _docker_policy),
    "systemuser": Backend("bridge", "spawners.PromptSystemUserSpawner", _systemuser_traitlets, None),
}
SWARM_BACKEND = Backend("overlay", "spawners.PromptSwarmSpawner", _swarm_traitlets, _swarm_policy)


def backend_of(config: StackConfig) -> Backend:
    return SWARM_BACKEND if config.cluster.swarm else BACKENDS[config.spawner.type]
