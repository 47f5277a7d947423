"""`spawner.*`: users' servers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from components.config.registry import fail, setting
from components.config.values import IMAGE_REF, memory, memory_bytes, pattern

# A Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) with `{username}` in it once, and a
# fixed part beside it so that user names cannot pick arbitrary volumes of the host.
_HOME_VOLUME_TEMPLATE = re.compile(
    r"(?=.{1,200}$)(?=.*[a-zA-Z0-9_.-]\{username\}|.*\{username\}[a-zA-Z0-9_.-])"
    r"(?:[a-zA-Z0-9][a-zA-Z0-9_.-]*)?\{username\}[a-zA-Z0-9_.-]*"
)

MIN_CPU_LIMIT = 0.01  # DockerSpawner's quota int(limit * 100000) must be at least the engine's 1000
SPAWNER_TYPES = ("docker", "systemuser")  # components/user_servers.py has a backend for each
BUILT_IMAGE_LABEL = "default"  # the image built from build.notebook, among spawner.extraImages


def _extra_images(key: str, images: Mapping[str, str]) -> None:
    for label, ref in images.items():
        if label == BUILT_IMAGE_LABEL:
            raise fail(f"{key}.{label}", ref, "the label of the image built from build.notebook", "give it another label")
        if not IMAGE_REF.fullmatch(ref):
            raise fail(f"{key}.{label}", ref, "not an image reference", "use name:tag of an image on the host")


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
    extra_images: Mapping[str, str] = setting(
        {},
        "more images (`label: name:tag`) users pick from at spawn; each must be on the host (checked before the hub "
        "is replaced); `default` is the built image",
        check=_extra_images,
    )

    @property
    def mounts_host_homes(self) -> bool:
        """systemuser mounts /home/<user> of the host, which the Docker API filter refuses."""
        return self.type == "systemuser"

    @property
    def mem_limit_bytes(self) -> int:
        return memory_bytes(self.mem_limit)
