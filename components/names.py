"""Every name a deployment gives things, and the paths and ports its processes share.

Computed here once and handed to each consumer: the components, the hub (in its
settings), the Docker API filter (in its policy and command line), the tests and
the benchmark. Names start with the deployment's `name`, so two deployments on one
host never share one. User servers keep the `jupyter-` prefix operators grep for:
`jupyter-<name>_<user>`. The user part is DockerSpawner's escaped user name
(`[a-z0-9-]`, no `_`), so the last `_` always separates the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LABEL = "org.jupyterhub-docker.deployment"
BUILT_FOR_LABEL = "org.jupyterhub-docker.built-for"  # on the images a deployment builds (build arg DEPLOYMENT)
# The images a deployment builds, `<name>-<role>:<tag>`.
IMAGE_ROLES = ("proxy", "hub", "notebook", "docker-api", "backup", "prometheus", "tls")
IMAGE_ROLE_LABEL = "org.jupyterhub-docker.image"  # each Dockerfile's own: proxy, hub, notebook, docker-api-filter
USER_SERVER_PREFIX = "jupyter-"
# DockerSpawner's escaped user name: [a-z0-9], with '-' escaping everything else.
ESCAPED_USER = re.compile(r"[a-z0-9][a-z0-9-]{0,191}")

# Inside the hub container.
HUB_CONFIG_PATH = "/etc/jupyterhub/jupyterhub_config.py"
HUB_CONFIG_DIR = "/etc/jupyterhub/jupyterhub_config.d"  # operators' own config files
HUB_SETTINGS_PATH = "/etc/jupyterhub/settings.json"
HUB_SETTINGS_ENV = "JUPYTERHUB_DOCKER_SETTINGS"  # tells jupyterhub_config.py where the settings are
HUB_DATA_DIR = "/srv/jupyterhub"
HUB_PORT = 8081

# Inside the proxy container.
PROXY_PORT = 8000
PROXY_API_PORT = 8001
PROXY_METRICS_PORT = 8002  # with metrics.enabled

# Inside the TLS terminator's container (tls.mode files or acme): unprivileged ports.
TLS_HTTPS_PORT = 8443
TLS_HTTP_PORT = 8080
TLS_DATA_DIR = "/data"  # Caddy's ACME account and certificates

# Inside the Docker API filter's container.
FILTER_PORT = 2375
FILTER_POLICY_PATH = "/etc/docker-api-filter/policy.json"
DOCKER_SOCKET = "/var/run/docker.sock"

# Inside the backup container.
BACKUP_SETTINGS_PATH = "/etc/jupyterhub-backup/settings.json"
BACKUP_SETTINGS_ENV = "BACKUP_SETTINGS"  # tells build.backup/backup.py where its settings are
BACKUP_VOLUMES_DIR = "/volumes"  # Docker's volumes folder, read-only
BACKUP_STATE_DIR = "/var/lib/jupyterhub-backup"  # status, lock, restic's cache

# Inside the Prometheus container (metrics.prometheus).
PROMETHEUS_PORT = 9090
PROMETHEUS_CONFIG_PATH = "/etc/prometheus/prometheus.yml"
PROMETHEUS_HUB_TOKEN_PATH = "/etc/prometheus/hub-token"
PROMETHEUS_DATA_DIR = "/prometheus"
HUB_METRICS_PATH = "/hub/metrics"

# Inside a user server (what build.notebook/Dockerfile makes).
NOTEBOOK_UID = "1000"
NOTEBOOK_HOME = "/home/jovyan"
NOTEBOOK_PORT = 8888


@dataclass(frozen=True)
class DeploymentNames:
    deployment: str  # the stack's `name`
    # spawner.homeVolumeTemplate: an adopted deployment's scheme, e.g. `jupyterhub-user-{username}`
    home_volume_pattern: str = ""

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.deployment}

    @property
    def network(self) -> str:
        return self.deployment

    @property
    def docker_api_network(self) -> str:
        return f"{self.deployment}-docker-api"

    @property
    def proxy_container(self) -> str:
        return f"{self.deployment}-proxy"

    @property
    def tls_container(self) -> str:
        return f"{self.deployment}-tls"

    @property
    def tls_data_volume(self) -> str:
        return f"{self.deployment}-tls-data"

    @property
    def hub_container(self) -> str:
        return f"{self.deployment}-hub"

    @property
    def docker_api_container(self) -> str:
        return f"{self.deployment}-docker-api"

    @property
    def hub_data_volume(self) -> str:
        return f"{self.deployment}-hub-data"

    @property
    def backup_container(self) -> str:
        return f"{self.deployment}-backup"

    @property
    def backup_state_volume(self) -> str:
        return f"{self.deployment}-backup-state"

    @property
    def metrics_network(self) -> str:
        """Joins Prometheus to hub and proxy, and not to the users' servers."""
        return f"{self.deployment}-metrics"

    @property
    def prometheus_container(self) -> str:
        return f"{self.deployment}-prometheus"

    @property
    def prometheus_data_volume(self) -> str:
        return f"{self.deployment}-prometheus-data"

    def image(self, role: str, tag: str, registry: str = "") -> str:
        """`<name>-proxy:<tag>`, and likewise `-hub`, `-notebook`, `-docker-api`; `<registry>/…` for a pushed one."""
        return f"{registry}/{self.deployment}-{role}:{tag}" if registry else f"{self.deployment}-{role}:{tag}"

    def pre_pull_service(self, image_label: str) -> str:
        """Swarm mode: the service holding a users' image (by its picker label) on every node."""
        return f"{self.deployment}-image-{image_label}"

    @property
    def user_server_template(self) -> str:
        return f"{USER_SERVER_PREFIX}{self.deployment}_{{username}}"

    @property
    def home_volume_template(self) -> str:
        return self.home_volume_pattern or f"{self.deployment}-home-{{username}}"

    def user_server(self, escaped_user: str) -> str:
        return self.user_server_template.format(username=escaped_user)

    def home_volume(self, escaped_user: str) -> str:
        return self.home_volume_template.format(username=escaped_user)

    @property
    def shared_volumes_owner_container(self) -> str:
        return f"{self.deployment}-shared-volumes-owner"

    def shared_volume(self, name: str) -> str:
        """The Docker volume of `spawner.sharedVolumes[].name`."""
        return f"{self.deployment}-shared-{name}"

    def is_home_volume(self, volume: str) -> bool:
        """Whether some user's home volume would have this name."""
        prefix, suffix = self.home_volume_template.split("{username}")
        user = volume.removeprefix(prefix).removesuffix(suffix)
        return volume == f"{prefix}{user}{suffix}" and ESCAPED_USER.fullmatch(user) is not None

    @property
    def hub_url(self) -> str:
        return f"http://{self.hub_container}:{HUB_PORT}"

    @property
    def proxy_api_url(self) -> str:
        return f"http://{self.proxy_container}:{PROXY_API_PORT}"

    @property
    def docker_api_url(self) -> str:
        return f"tcp://{self.docker_api_container}:{FILTER_PORT}"
