"""`spawner.*`: users' servers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.cluster import PLACEMENT_CONSTRAINT, PLACEMENT_PROBLEM
from components.config.registry import fail, setting
from components.config.values import IMAGE_REF, each, memory, memory_bytes, pattern

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
    groups: tuple[str, ...] = setting(
        (),
        "JupyterHub groups whose members may use it (from the admin page or the login's groups); empty: everyone",
        check=each(pattern(_GROUP_NAME, "not a group name", "use the group's name as JupyterHub shows it")),
        one_or_list=True,
    )
    placement: tuple[str, ...] = setting(
        (),
        "swarm: placement constraints its servers add to `cluster.userPlacement` (`node.labels.gpu == true`)",
        check=each(pattern(PLACEMENT_CONSTRAINT, PLACEMENT_PROBLEM, "e.g. 'node.labels.gpu == true'")),
        one_or_list=True,
    )


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

    named_servers: NamedServersConfig = setting(NamedServersConfig(), "")

    @property
    def mounts_host_homes(self) -> bool:
        """systemuser mounts /home/<user> of the host, which the Docker API filter refuses."""
        return self.type == "systemuser"

    @property
    def mem_limit_bytes(self) -> int:
        return memory_bytes(self.mem_limit)
