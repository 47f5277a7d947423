"""Everything the program learns from the host, checked before a resource is declared.

The components are pure: they take what is read here (certificates, content tags,
hub config files) as arguments. A check that fails here stops `pulumi preview` with
the fix, and the running deployment is left as it is: fixed container names mean a
change deletes the old container before the new one starts, so a new one that
cannot start must be refused first.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pulumi

from components.built_image import content_tag, read_ca_certificates
from components.config import ConfigError, StackConfig
from components.hub_addons import HubAddOn, hub_addons, merged
from components.hub_settings import hub_secret_envs, hub_settings
from components.identity_provider import check_ldap_server, oidc_endpoints
from components.images import image_builds
from components.locks import lock_problem
from components.names import HUB_CONFIG_DIR, HUB_CONFIG_PATH, HUB_SETTINGS_ENV
from components.neighbours import check_neighbours
from components.public_port import check_public_port, provider_client, provider_engine
from components.swarm import check_profile_placement, check_swarm_manager, eligible_nodes, swarm_node
from components.user_servers import UserServerImages, user_server_images

HUB_CONFIG_SOURCE = Path("hub_config/jupyterhub_config.py")
HUB_CONFIG_D_SOURCE = Path("hub_config/jupyterhub_config.d")
LOAD_CHECK_TIMEOUT_S = 60


class BuildContextError(ValueError):
    """A build context is unusable (no Dockerfile)."""


class HubConfigError(ValueError):
    """hub_config/ cannot be used by the hub."""


@dataclass(frozen=True)
class HostFacts:
    extra_ca_certs: str  # PEM text, '' when none
    image_tags: dict[str, str]  # by image role: the content tag of its build context and args
    hub_config_files: dict[str, str]  # path in the hub container -> text
    # What the hub is told, built once: everything checked here is bound, the user-server images
    # (their registry digests, in swarm mode) are known only when the deployment applies.
    hub_settings: Callable[[UserServerImages], dict[str, Any]]
    swarm_nodes: tuple[str, ...] = ()  # cluster.mode swarm: the nodes users' servers may run on
    docker_volumes_dir: str = ""  # where the engine keeps volumes (with backup.enabled)


def image_tags(config: StackConfig, extra_ca_certs: str) -> dict[str, str]:
    tags = {}
    for role, build in image_builds(config, extra_ca_certs).items():
        if not (Path(build.context_dir) / "Dockerfile").is_file():
            raise BuildContextError(
                f"{build.context_dir}/Dockerfile is missing: the {role} image cannot be built. "
                f"Fix: restore it (git checkout -- {build.context_dir}/Dockerfile)"
            )
        problem = lock_problem(Path(build.context_dir))
        if problem:
            raise BuildContextError(f"the {role} image cannot be built: {problem}")
        tags[role] = content_tag(Path(build.context_dir), build.build_args)
    return tags


def read_hub_config_files(main: Path = HUB_CONFIG_SOURCE, extra_dir: Path = HUB_CONFIG_D_SOURCE) -> dict[str, str]:
    """jupyterhub_config.py and the operator's jupyterhub_config.d/*.py, each refused if it does not compile."""
    if not main.is_file():
        raise HubConfigError(f"{main} is missing. Fix: restore it (git checkout -- {main})")
    sources = {HUB_CONFIG_PATH: main, **{f"{HUB_CONFIG_DIR}/{p.name}": p for p in sorted(extra_dir.glob("*.py"))}}
    files = {}
    for path, source in sources.items():
        text = source.read_text()
        try:
            compile(text, str(source), "exec")
        except SyntaxError as error:
            raise HubConfigError(
                f"{source.name} line {error.lineno}: {error.msg}. The running hub is left as it is. "
                "Fix the file and run pulumi preview again"
            ) from None
        files[path] = text
    return files


# Runs the hub's config files as JupyterHub would (main file, which loads the .d files),
# with a stand-in config object on which any c.Section.trait = value is accepted.
_LOAD_CHECK = """
import runpy, sys
class AnyConfig:
    def __getattr__(self, name):
        value = AnyConfig()
        object.__setattr__(self, name, value)
        return value
    def __call__(self, *args, **kwargs):
        return AnyConfig()
config = AnyConfig()
try:
    runpy.run_path(sys.argv[1], init_globals={"c": config, "get_config": lambda: config})
except ModuleNotFoundError as error:
    print(error.name, end="")
    sys.exit(3)
except BaseException as error:
    print(f"{type(error).__name__}: {error}", end="")
    sys.exit(1)
"""


def check_hub_config_loads(files: Mapping[str, str], settings: dict[str, Any], secret_env_names: Sequence[str]) -> None:
    """Load the config files with this stack's settings and stand-in secrets, in a process of their
    own and an environment holding only what the hub's has. A file that raises here would crash
    the new hub after the old one is gone, so it is refused first."""
    with tempfile.TemporaryDirectory(prefix="hub-config-check-") as scratch:
        root = Path(scratch)
        for path, text in files.items():
            local = root / path.lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_text(text)
        settings_file = root / "settings.json"
        local_settings = {**settings, "hub": {**settings["hub"], "configDir": str(root / HUB_CONFIG_DIR.lstrip("/"))}}
        settings_file.write_text(json.dumps(local_settings))
        environment = {
            "PATH": os.environ.get("PATH", ""),
            HUB_SETTINGS_ENV: str(settings_file),
            **dict.fromkeys(secret_env_names, "stand-in-for-a-secret"),
        }
        try:
            loaded = subprocess.run(
                [sys.executable, "-c", _LOAD_CHECK, str(root / HUB_CONFIG_PATH.lstrip("/"))],
                env=environment,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=LOAD_CHECK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise HubConfigError(
                f"the hub config did not finish loading within {LOAD_CHECK_TIMEOUT_S} s (a loop, or a wait on the network?). "
                "The running hub is left as it is. Fix the file and run pulumi preview again"
            ) from None
    if loaded.returncode == 3:
        pulumi.log.warn(f"the hub config imports {loaded.stdout}, which only the hub image has; not checked before deploy")
    elif loaded.returncode != 0:
        raise HubConfigError(
            f"the hub config raised {loaded.stdout or loaded.stderr.strip()[-300:]} when loaded with this stack's settings. "
            "The running hub is left as it is. Fix the file and run pulumi preview again"
        )


def check_backup_repository(repository: str) -> None:
    """A repository folder must exist on the Docker host (checked when the program runs there)."""
    if provider_engine().startswith("unix://") and repository.startswith("/") and not Path(repository).is_dir():
        raise ConfigError(
            f"config 'backup.repository' = {repository!r}: no such folder on the Docker host. "
            f"Fix: mkdir -p {repository} (on a disk other than Docker's), or set another one"
        )


def docker_volumes_dir() -> str:
    """Where the provider's engine keeps volumes: its data root's `volumes/` (the backup container reads them)."""
    try:
        root = provider_client().info()["DockerRootDir"]
    except docker.errors.DockerException as error:
        raise ConfigError(
            f"config 'backup.enabled' = True: the Docker engine could not be asked where it keeps volumes ({error}). "
            "Fix: make the engine reachable (docker:host stack config or DOCKER_HOST), or turn backups off"
        ) from None
    return f"{root}/volumes"


def docker_host_name() -> str:
    """The provider's engine's host name: a GPU server that cannot start names it (spawner.gpuDevices)."""
    try:
        return str(provider_client().info()["Name"])
    except docker.errors.DockerException as error:
        raise ConfigError(
            f"config 'spawner.gpuDevices': the Docker engine could not be asked its host's name ({error}). "
            "Fix: make the engine reachable (docker:host stack config or DOCKER_HOST)"
        ) from None


def swarm_nodes(config: StackConfig) -> tuple[str, ...]:
    """The provider's engine must be a Swarm manager; the nodes users' servers may run on."""
    try:
        client = provider_client()
        check_swarm_manager(client.info(), provider_engine())
        nodes = [swarm_node(node.attrs) for node in client.nodes.list()]
    except docker.errors.DockerException as error:
        raise ConfigError(
            f"config 'cluster.mode' = 'swarm': the Docker engine could not be asked about its swarm ({error}). "
            "Fix: make the manager reachable (docker:host stack config or DOCKER_HOST)"
        ) from None
    for index, profile in enumerate(config.spawner.profiles):
        if profile.placement:
            key = f"spawner.profiles[{index}].placement"
            check_profile_placement(nodes, config.cluster.server_placement, profile.placement, key)
    return eligible_nodes(nodes, config.cluster.server_placement)


def preflight(config: StackConfig) -> HostFacts:
    """Read and check what the deployment needs from this host, in the order a failure is cheapest."""
    names = config.names
    extra_ca_certs = read_ca_certificates(config.build.extra_ca_certs_path)
    tags = image_tags(config, extra_ca_certs)
    files = read_hub_config_files()
    addons: HubAddOn = merged(hub_addons(config))
    check_ldap_server(config)
    host_name = docker_host_name() if config.spawner.gpu_devices else ""
    settings_for = functools.partial(
        hub_settings, config, names, addons=addons, oidc_endpoints=oidc_endpoints(config), docker_host_name=host_name
    )
    settings = settings_for(user_server_images(config, names.image("notebook", tags["notebook"])))
    check_hub_config_loads(files, settings, list(hub_secret_envs(config, "", addons)))
    check_neighbours(names)
    if config.serves_tls:
        ours = (names.proxy_container, names.tls_container)
        check_public_port(config.public_ip, config.public_port, ours)
        if config.tls.http_port:
            check_public_port(config.public_ip, config.tls.http_port, ours, "tls.httpPort")
    else:
        check_public_port(config.public_ip, config.public_port, (names.proxy_container,), leaving=names.tls_container)
    facts = HostFacts(extra_ca_certs, tags, files, settings_for)
    if config.cluster.swarm:
        return dataclasses.replace(facts, swarm_nodes=swarm_nodes(config))
    if not config.backup.enabled:
        return facts
    check_backup_repository(config.backup.repository)
    return dataclasses.replace(facts, docker_volumes_dir=docker_volumes_dir())
