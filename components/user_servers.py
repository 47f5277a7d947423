"""Where users' servers run: the one place that knows each `spawner.type`.

A backend owns what differs between modes: the network driver, the spawner class and
traits (the hub applies them without knowing the mode), where homes live, and whether
the Docker API filter can pin its servers (and with which policy). `cluster.mode: swarm`
picks the swarm backend whatever the spawner type; otherwise `spawner.type` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.config import StackConfig
from components.config.spawner import BUILT_IMAGE_LABEL, Profile
from components.config.values import memory_bytes
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


def image_label(profile: Profile) -> str:
    return f"image-{profile.name}" if profile.image else BUILT_IMAGE_LABEL


def profile_images(config: StackConfig) -> dict[str, str]:
    """label -> name:tag of the images profiles name, each once (labelled by its first profile)."""
    labelled: dict[str, str] = {}
    for profile in config.spawner.profiles:
        if profile.image and profile.image not in labelled.values():
            labelled[image_label(profile)] = profile.image
    return labelled


def user_server_images(config: StackConfig, built_notebook_image: str) -> UserServerImages:
    default = config.notebook_rollback_image or built_notebook_image
    return UserServerImages(default, {BUILT_IMAGE_LABEL: default, **profile_images(config)})


@dataclass(frozen=True)
class ServerProfile:
    """A profile with its image and limits resolved: what a server of it gets, and the shape the filter allows."""

    name: str
    description: str
    image: str
    mem_limit_bytes: int
    cpu_limit: float
    groups: tuple[str, ...]
    placement: tuple[str, ...]  # swarm: constraints after cluster.userPlacement
    gpus: int  # each server's count of GPUs
    gpu_ids: tuple[str, ...]  # the GPUs they are taken from (profile.gpuIds: exactly these)
    gpus_shared: bool  # profile.gpuIds: every server gets them all; else each its own

    @property
    def hub_traits(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "image": self.image,
            "mem_limit": self.mem_limit_bytes, "cpu_limit": self.cpu_limit, "groups": list(self.groups),
            "placement": list(self.placement), "gpus": self.gpus, "gpu_ids": list(self.gpu_ids),
            "gpus_shared": self.gpus_shared,
        }  # fmt: skip

    @property
    def shape(self) -> dict[str, Any]:
        # The spawners' own arithmetic: DockerSpawner's CpuQuota, SwarmSpawner's NanoCPUs (hub_config/spawners.py).
        return {
            "image": self.image,
            "memoryBytes": self.mem_limit_bytes,
            "cpuQuota": int(self.cpu_limit * CPU_PERIOD_US),
            "nanoCpus": int(self.cpu_limit * 1e9),
            "constraints": list(self.placement),
            "gpus": self.gpus,
            "gpuIds": list(self.gpu_ids),
        }


def server_profiles(config: StackConfig, images: UserServerImages) -> list[ServerProfile]:
    """The configured profiles, or the one choice there is without them."""
    spawner = config.spawner
    profiles = spawner.profiles or (Profile(name=BUILT_IMAGE_LABEL),)

    def image_of(profile: Profile) -> str:
        first_with_it = next(other for other in profiles if other.image == profile.image)
        return images.choices[image_label(first_with_it)]

    return [
        ServerProfile(
            profile.name,
            profile.description,
            image_of(profile),
            memory_bytes(profile.mem_limit or spawner.mem_limit),
            profile.cpu_limit or spawner.cpu_limit,
            profile.groups,
            profile.placement,
            len(profile.gpu_ids) or profile.gpus,
            profile.gpu_ids or (spawner.gpu_devices if profile.gpus else ()),
            bool(profile.gpu_ids),
        )
        for profile in profiles
    ]


@dataclass(frozen=True)
class SharedMount:
    """A shared volume where servers get it (`spawner.sharedVolumes[]`, resolved)."""

    volume: str
    path: str
    read_only: bool
    groups: tuple[str, ...]

    @property
    def hub_traits(self) -> dict[str, Any]:
        return {"volume": self.volume, "path": self.path, "mode": "ro" if self.read_only else "rw", "groups": list(self.groups)}

    @property
    def allowed(self) -> dict[str, Any]:
        return {"volume": self.volume, "path": self.path, "readOnly": self.read_only}


def shared_mounts(config: StackConfig) -> list[SharedMount]:
    return [
        SharedMount(config.names.shared_volume(volume.name), volume.path, volume.mode == "ro", volume.groups)
        for volume in config.spawner.shared_volumes
    ]


def _server_traits(config: StackConfig, images: UserServerImages) -> dict[str, Any]:
    """What every backend's spawner is told: the image, names, network, limits and timeouts."""
    spawner, names = config.spawner, config.names
    traits: dict[str, Any] = {
        "image": images.default,
        # A named server's name adds `--<server>` (hub_config/spawners.py NamedServersMixin; the filter reads it).
        "name_template": names.user_server_template + ("{servername_suffix}" if spawner.named_servers.enabled else ""),
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
    traits["profiles"] = [profile.hub_traits for profile in server_profiles(config, images)]
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
        "shared_volumes": [mount.hub_traits for mount in shared_mounts(config)],
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


def _distinct(shapes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each shape once, in a stable order (the policy is a preview diff only when it changes)."""
    by_text = {json.dumps(shape, sort_keys=True): shape for shape in shapes}
    return [by_text[text] for text in sorted(by_text)]


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
        "shapes": _distinct(profile.shape for profile in server_profiles(config, images)),
        "cpuPeriod": CPU_PERIOD_US,
        "maxPids": spawner.pids_limit,
        "logConfig": {"Type": config.logs.driver, "Config": config.logs.options},
        "maxServers": spawner.max_servers,
        "serversPerUser": spawner.named_servers.servers_per_user,
        "sharedVolumes": [mount.allowed for mount in shared_mounts(config)],
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

    def hub_settings(self, config: StackConfig, images: UserServerImages, docker_host_name: str = "") -> dict[str, Any]:
        """docker_host_name: the engine's host, which a GPU server that cannot start is told (spawner.gpuDevices)."""
        # The hub turns away a start past the cap politely (429) before the filter refuses it.
        hub: dict[str, Any] = {"active_server_limit": config.spawner.max_servers}
        if (named := config.spawner.named_servers).enabled:
            hub |= {"allow_named_servers": True, "named_server_limit_per_user": named.limit_per_user}
        traitlets = self.traitlets(config, images)
        if config.spawner.gpu_devices:  # one host only (checks.py): DockerSpawner's
            traitlets["DockerSpawner"] |= {"gpu_host": docker_host_name}
        return {"class": self.spawner_class, "traitlets": traitlets | {"JupyterHub": hub}}


BACKENDS = {
    "docker": Backend("bridge", "spawners.PromptDockerSpawner", _docker_traitlets, _docker_policy),
    "systemuser": Backend("bridge", "spawners.PromptSystemUserSpawner", _systemuser_traitlets, None),
}
SWARM_BACKEND = Backend("overlay", "spawners.PromptSwarmSpawner", _swarm_traitlets, _swarm_policy)


def backend_of(config: StackConfig) -> Backend:
    return SWARM_BACKEND if config.cluster.swarm else BACKENDS[config.spawner.type]
