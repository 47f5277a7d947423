"""`spawner.*`: users' servers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.cluster import PLACEMENT_CONSTRAINT, PLACEMENT_PROBLEM
from components.config.registry import fail, setting
from components.config.values import IMAGE_REF, each, memory, pattern
from components.names import NOTEBOOK_HOME

# A Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) with `{username}` in it once, and a
# fixed part beside it so that user names cannot pick arbitrary volumes of the host.
_HOME_VOLUME_TEMPLATE = re.compile(
    r"(?=.{1,200}$)(?=.*[a-zA-Z0-9_.-]\{username\}|.*\{username\}[a-zA-Z0-9_.-])"
    r"(?:[a-zA-Z0-9][a-zA-Z0-9_.-]*)?\{username\}[a-zA-Z0-9_.-]*"
)

MIN_CPU_LIMIT = 0.01  # DockerSpawner's quota int(limit * 100000) must be at least the engine's 1000
SPAWNER_TYPES = ("docker", "systemuser")  # components/user_servers.py has a backend for each
BUILT_IMAGE_LABEL = "default"  # the image built from build.notebook (or the rollback), among the users' images
MAX_PROFILES = 20
# JupyterHub 6's rule for a named server's name: short, and safe in URLs, container and service names.
PROFILE_NAME = re.compile(r"[a-z][a-z0-9-]{0,29}")
_GROUP_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
MAX_GPUS = 16
# A GPU as `nvidia-smi -L` names it: an index, or a GPU-/MIG- UUID.
GPU_DEVICE = re.compile(r"[0-9]{1,2}|(?:GPU|MIG)-[A-Za-z0-9/-]{1,80}")
MAX_SHARED_VOLUMES = 20
SHARED_VOLUME_MODES = ("ro", "rw")
# In the home (the file browser shows it) or under /srv, one to four plain folder names deep: never over the system.
_SHARED_MOUNT_PATH = re.compile(r"(?:/home/jovyan|/srv)(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._-]{1,64}){1,4}")


def _groups_setting(doc: str) -> tuple[str, ...]:
    return setting(
        (),
        doc,
        check=each(pattern(_GROUP_NAME, "not a group name", "use the group's name as JupyterHub shows it")),
        one_or_list=True,
    )


def _cpu_or_inherit(key: str, value: float) -> None:
    if value != 0 and value < MIN_CPU_LIMIT:
        raise fail(
            key,
            value,
            f"below the engine's smallest CPU limit ({MIN_CPU_LIMIT})",
            f"set 0 (spawner.cpuLimit) or ≥ {MIN_CPU_LIMIT}",
        )


@dataclass(frozen=True)
class Profile:
    """One server size or image users pick on the spawn page (`spawner.profiles[]`)."""

    name: str = setting(
        "",
        "what the spawn form and the API (`user_options: {profile: <name>}`) call it: 1 to 30 of `a-z0-9-`, from a letter",
        check=pattern(PROFILE_NAME, "not a profile name", "use 1 to 30 of a-z, 0-9 and '-', starting with a letter"),
    )
    description: str = setting("", "what the spawn form shows beside the name")
    image: str = setting(
        "",
        "name:tag of an image on the host (in swarm mode: pushed to `cluster.registry`); empty: the image built from "
        "`build.notebook` (or `notebookRollbackImage`)",
        check=pattern(IMAGE_REF, "not an image reference", "use name:tag of an image on the host", optional=True),
    )
    mem_limit: str = setting(
        "", "memory limit of its servers; empty: `spawner.memLimit`",
        check=lambda key, value: memory(key, value) if value else None,
    )  # fmt: skip
    cpu_limit: float = setting(0.0, "CPUs of its servers; 0: `spawner.cpuLimit`", low=0.0, high=256.0, check=_cpu_or_inherit)
    groups: tuple[str, ...] = _groups_setting(
        "JupyterHub groups whose members may use it (from the admin page or the login's groups); empty: everyone"
    )
    gpus: int = setting(
        0, "NVIDIA GPUs each of its servers gets, none shared with another running server, from `spawner.gpuDevices`",
        low=0, high=MAX_GPUS,
    )  # fmt: skip
    gpu_ids: tuple[str, ...] = setting(
        (),
        "instead of `gpus`: these GPUs of `spawner.gpuDevices` for each of its servers, shared by them all",
        check=each(pattern(GPU_DEVICE, "not a GPU as nvidia-smi -L names it", "use its index (0) or UUID (GPU-…)")),
        one_or_list=True,
    )
    placement: tuple[str, ...] = setting(
        (),
        "swarm: placement constraints its servers add to `cluster.userPlacement` (`node.labels.gpu == true`)",
        check=each(pattern(PLACEMENT_CONSTRAINT, PLACEMENT_PROBLEM, "e.g. 'node.labels.gpu == true'")),
        one_or_list=True,
    )


def _gpu_devices(key: str, devices: tuple[str, ...]) -> None:
    each(pattern(GPU_DEVICE, "not a GPU as nvidia-smi -L names it", "use its index (0) or UUID (GPU-…)"))(key, devices)
    if len(set(devices)) != len(devices) or len(devices) > MAX_GPUS:
        raise fail(key, list(devices), f"a GPU listed twice, or more than {MAX_GPUS}", "list each GPU of the host once")


def _profiles(key: str, profiles: tuple[Profile, ...]) -> None:
    if len(profiles) > MAX_PROFILES:
        raise fail(key, len(profiles), f"more than {MAX_PROFILES} profiles", "merge profiles that differ only in their groups")
    seen: set[str] = set()
    for index, profile in enumerate(profiles):
        if not profile.name or profile.name in seen:
            problem = "a profile without a name" if not profile.name else "a second profile of this name"
            raise fail(f"{key}[{index}].name", profile.name, problem, "give each profile its own name")
        seen.add(profile.name)


@dataclass(frozen=True)
class SharedVolume:
    """A Docker volume mounted into the servers of some or all users (`spawner.sharedVolumes[]`)."""

    name: str = setting(
        "",
        "its name: the volume is `<deployment>-shared-<name>` (1 to 30 of `a-z0-9-`, from a letter); "
        "`python -m admin.shared fill <name> <folder or git URL>` fills it",
        check=pattern(PROFILE_NAME, "not a shared volume name", "use 1 to 30 of a-z, 0-9 and '-', starting with a letter"),
    )
    mount_path: str = setting(
        "",
        f"where servers see it: under `{NOTEBOOK_HOME}` (the file browser shows it) or `/srv`; empty: `{NOTEBOOK_HOME}/<name>`",
        check=pattern(
            _SHARED_MOUNT_PATH,
            f"not a folder under {NOTEBOOK_HOME} or /srv",
            f"use e.g. {NOTEBOOK_HOME}/course or /srv/data (plain folder names, at most four deep)",
            optional=True,
        ),
    )
    mode: str = setting(
        "ro",
        "`ro`: servers read it (course material; `admin.shared` fills it); `rw`: servers read and write it (a team folder)",
        choices=SHARED_VOLUME_MODES,
    )
    groups: tuple[str, ...] = _groups_setting("JupyterHub groups whose members' servers get it; empty: everyone's")

    @property
    def path(self) -> str:
        return self.mount_path or f"{NOTEBOOK_HOME}/{self.name}"


def _shared_volumes(key: str, volumes: tuple[SharedVolume, ...]) -> None:
    if len(volumes) > MAX_SHARED_VOLUMES:
        raise fail(key, len(volumes), f"more than {MAX_SHARED_VOLUMES} shared volumes", "use folders inside fewer volumes")
    names: set[str] = set()
    paths: list[str] = []
    for index, volume in enumerate(volumes):
        if not volume.name or volume.name in names:
            problem = "a shared volume without a name" if not volume.name else "a second shared volume of this name"
            raise fail(f"{key}[{index}].name", volume.name, problem, "give each shared volume its own name")
        if clash := next((path for path in paths if _nested(path, volume.path)), None):
            raise fail(
                f"{key}[{index}].mountPath", volume.path, f"inside, over or the same as another shared volume's {clash}",
                "give each shared volume a folder of its own, none inside another",
            )  # fmt: skip
        names.add(volume.name)
        paths.append(volume.path)


def _nested(one: str, other: str) -> bool:
    return one == other or other.startswith(one + "/") or one.startswith(other + "/")


@dataclass(frozen=True)
class NamedServersConfig:
    enabled: bool = setting(
        False,
        "users may run several servers at once, each with a name (JupyterHub's named servers); a user's servers share their home",
    )
    limit_per_user: int = setting(2, "named servers a user may have besides the default one", low=1, high=20)

    @property
    def servers_per_user(self) -> int:
        return 1 + self.limit_per_user if self.enabled else 1


def extra_images_replaced(images: object) -> str:
    """The fix for a stack still setting `spawner.extraImages`, which profiles replaced: the exact commands."""
    labels = images.items() if isinstance(images, dict) else []
    commands = ["pulumi config rm --path spawner.extraImages", "pulumi config set --path 'spawner.profiles[0].name' default"]
    for index, (label, ref) in enumerate(labels, start=1):
        name = re.sub(r"[^a-z0-9-]", "-", str(label).lower())
        name = (name if PROFILE_NAME.fullmatch(name) and name != BUILT_IMAGE_LABEL else f"image-{name}")[:30].rstrip("-")
        commands += [
            f"pulumi config set --path 'spawner.profiles[{index}].{field}' {value}"
            for field, value in (("name", name), ("image", ref))
        ]
    return "replaced by spawner.profiles (each image a profile users pick on the spawn page). Fix: " + "; ".join(commands)


@dataclass(frozen=True)
class SpawnerConfig:
    type: str = setting(
        "docker",
        "`docker`, or `systemuser` (host `/home/<user>`; experimental, see below; needs `dockerApiProxy false`)",
        choices=SPAWNER_TYPES,
    )
    mem_limit: str = setting("2G", "memory limit per user server (`512M`, `2G`, …; at least `6M`)", check=memory)
    cpu_limit: float = setting(1.0, "CPUs per user server", low=MIN_CPU_LIMIT, high=256.0)
    pids_limit: int = setting(
        4096, "processes and threads per user server: a fork bomb stays inside its container", low=64, high=1_048_576
    )
    start_timeout_seconds: int = setting(120, "how long a spawn may take", low=5, high=3600)
    home_volume_template: str = setting(
        "",
        "each user's home volume; `{username}` is DockerSpawner's escaped user name. Empty: "
        "`<name>-home-{username}`. An adopted deployment's scheme (e.g. `jupyterhub-user-{username}`) "
        "mounts its volumes as they are",
        check=pattern(
            _HOME_VOLUME_TEMPLATE,
            "not a volume name with {username} once and a fixed prefix or suffix",
            "pulumi config set --path spawner.homeVolumeTemplate 'jupyterhub-user-{username}'",
            optional=True,
        ),
    )
    max_servers: int = setting(
        200,
        "users' servers at once (the hub turns more away; the Docker API filter refuses more, pending ones included)",
        low=1,
        high=100_000,
    )
    profiles: tuple[Profile, ...] = setting(
        (),
        "server profiles users pick from on the spawn page (sizes, images; some for some groups only); each image must "
        "be on the host (checked before the hub is replaced). The Docker API filter creates servers of these shapes only. "
        "None: one choice, the built image with `memLimit` and `cpuLimit`",
        check=_profiles,
    )

    gpu_devices: tuple[str, ...] = setting(
        (),
        "the host's NVIDIA GPUs that profiles may give servers, by index or UUID as `nvidia-smi -L` lists them "
        "(the host needs the NVIDIA container toolkit)",
        check=_gpu_devices,
        one_or_list=True,
    )
    shared_volumes: tuple[SharedVolume, ...] = setting(
        (),
        "volumes mounted into users' servers: course material read-only for everyone, team folders writable for a "
        "group. The Docker API filter mounts these only, each with its mode. One host only (not cluster.mode swarm)",
        check=_shared_volumes,
    )
    named_servers: NamedServersConfig = setting(NamedServersConfig(), "")

    @property
    def mounts_host_homes(self) -> bool:
        """systemuser mounts /home/<user> of the host, which the Docker API filter refuses."""
        return self.type == "systemuser"
