"""The whole deployment: network, images, proxy and hub, wired from stack config.

Pure: everything read from the host comes in `HostFacts` (components/preflight.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_random as random

from components.backup import Backup, BackupArgs, backup_settings
from components.built_image import BuiltImage, BuiltImageArgs, RegistryLogin
from components.config import StackConfig
from components.config.spawner import BUILT_IMAGE_LABEL
from components.docker_api_proxy import DockerApiProxy, DockerApiProxyArgs
from components.host_image import HostImage, HostImageArgs
from components.hub import Hub, HubArgs
from components.hub_addons import hub_addons, merged
from components.hub_settings import hub_secret_envs
from components.images import image_builds
from components.names import HUB_METRICS_PATH
from components.network import Network, NetworkArgs
from components.preflight import HostFacts
from components.prometheus import Prometheus, PrometheusArgs, scrape_config
from components.proxy import Proxy, ProxyArgs, ProxyMetrics
from components.shared_volumes import SharedVolumeArgs, SharedVolumes, SharedVolumesArgs
from components.swarm import ImagePrePull, ImagePrePullArgs
from components.tls import TerminatorArgs, TlsTerminator, caddyfile
from components.user_servers import UserServerImages, backend_of, profile_images, shared_mounts, user_server_images

T = TypeVar("T")


@dataclass(frozen=True)
class PinnedImages:
    """Swarm mode's users' images: registry digests, known once pushed or pulled."""

    default: pulumi.Output[str]
    choices: dict[str, pulumi.Output[str]]  # picker label -> digest

    @property
    def resolved(self) -> pulumi.Output[UserServerImages]:
        return pulumi.Output.all(self.default, pulumi.Output.all(**self.choices)).apply(
            lambda both: UserServerImages(both[0], both[1])
        )


def made_from(images: UserServerImages | PinnedImages, make: Callable[[UserServerImages], T]) -> pulumi.Input[T]:
    """What is made from the users' images (hub settings, filter policy): at once on one host,
    once the digests are known in swarm mode."""
    return make(images) if isinstance(images, UserServerImages) else images.resolved.apply(make)


def registry_login(config: StackConfig) -> RegistryLogin | None:
    """cluster.registryUsername and the registryPassword secret, for pushes and pre-pulls."""
    cluster = config.cluster
    if not cluster.registry_username or config.registry_password is None:
        return None
    return RegistryLogin(cluster.registry.split("/")[0], cluster.registry_username, config.registry_password)


def generated_token(name: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """48 random letters and digits, kept in the state as a secret."""
    password = random.RandomPassword(name, length=48, special=False, opts=opts)
    # The provider marks `result` secret only in the engine; say so in the program too.
    return pulumi.Output.secret(password.result)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DeploymentArgs:
    config: StackConfig
    host: HostFacts


class Deployment(pulumi.ComponentResource):
    public_url: str
    network: Network
    proxy: Proxy
    hub: Hub
    images: dict[str, BuiltImage]  # by role (components/images.py)
    notebook_image_in_use: pulumi.Input[str]  # swarm mode: its registry digest
    metrics_token: pulumi.Output[str] | None  # the metrics service's, with metrics.enabled
    metrics_urls: dict[str, str]
    docker_api_proxy: DockerApiProxy | None = None
    tls_terminator: TlsTerminator | None = None
    backup: Backup | None = None
    prometheus: Prometheus | None = None
    shared_volumes: SharedVolumes | None = None

    def _host_images(self, config: StackConfig, child: pulumi.ResourceOptions) -> tuple[UserServerImages, list[pulumi.Resource]]:
        """Single host: users' images by name; each must be on the host before the hub offers it."""
        images = user_server_images(config, self.images["notebook"].ref)
        notebook_image: pulumi.Resource = self.images["notebook"].image
        if config.notebook_rollback_image:
            notebook_image = HostImage("notebook-rollback-image", HostImageArgs(config.notebook_rollback_image), child).image
        profile_host_images = [HostImage(label, HostImageArgs(ref), child).image for label, ref in profile_images(config).items()]
        return images, [notebook_image, *profile_host_images]

    def _swarm_images(
        self, config: StackConfig, host: HostFacts, login: RegistryLogin | None, child: pulumi.ResourceOptions
    ) -> tuple[PinnedImages, list[pulumi.Resource]]:
        """Swarm: users' images by registry digest, each pre-pulled on every eligible node before the hub offers it."""
        default: pulumi.Output[str] = self.images["notebook"].image.repo_digest
        if config.notebook_rollback_image:
            default = HostImage("notebook-rollback-image", HostImageArgs(config.notebook_rollback_image), child).image.repo_digest
        choices = {BUILT_IMAGE_LABEL: default}
        for label, ref in profile_images(config).items():
            choices[label] = HostImage(label, HostImageArgs(ref), child).image.repo_digest
        pre_pulls: list[pulumi.Resource] = [
            ImagePrePull(
                f"pre-pull-{label}",
                ImagePrePullArgs(
                    config.names.pre_pull_service(label),
                    digest,
                    len(host.swarm_nodes),
                    config.cluster.server_placement,
                    config.names.labels,
                    login,
                ),
                child,
            ).service
            for label, digest in choices.items()
        ]
        return PinnedImages(default, choices), pre_pulls

    def __init__(self, name: str, args: DeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Deployment", name, None, opts)
        config, host = args.config, args.host
        names = config.names
        child = pulumi.ResourceOptions(parent=self)

        backend = backend_of(config)
        swarm = config.cluster.swarm
        self.network = Network("network", NetworkArgs(name=names.network, driver=backend.network_driver, attachable=swarm), child)
        base_image = HostImage("base-image", HostImageArgs(config.build.base_image), child)
        login = registry_login(config)
        self.images = {}
        for role, build in image_builds(config, host.extra_ca_certs).items():
            pushed = swarm and role == "notebook"  # the image the nodes pull
            self.images[role] = BuiltImage(
                f"{role}-image",
                BuiltImageArgs(
                    build.context_dir,
                    names.image(role, host.image_tags[role], config.cluster.registry if pushed else ""),
                    build.all_build_args,
                    [base_image.image],
                    push=pushed,
                    login=login if pushed else None,
                ),
                child,
            )
        images, images_ready = self._swarm_images(config, host, login, child) if swarm else self._host_images(config, child)
        self.notebook_image_in_use = images.default

        proxy_auth_token = generated_token("proxy-auth-token", child)
        metrics = config.metrics
        self.metrics_token = generated_token("metrics-token", child) if metrics.enabled else None
        metrics_network_name = (
            Network("metrics-network", NetworkArgs(name=names.metrics_network, driver="bridge"), child).network.name
            if metrics.prometheus
            else None
        )
        proxy_metrics = ProxyMetrics(metrics.publish_ip, metrics.proxy_port, metrics_network_name) if metrics.enabled else None
        self.proxy = Proxy(
            "proxy",
            ProxyArgs(
                container_name=names.proxy_container,
                image_ref=self.images["proxy"].image.image_name,
                network_name=self.network.network.name,
                public_ip=config.public_ip,
                public_port=0 if config.serves_tls else config.public_port,
                hub_url=names.hub_url,
                auth_token=proxy_auth_token,
                labels=names.labels,
                logs=config.logs,
                metrics=proxy_metrics,
            ),
            child,
        )
        if config.serves_tls:
            self.tls_terminator = TlsTerminator(
                "tls",
                TerminatorArgs(
                    container_name=names.tls_container,
                    image_ref=self.images["tls"].image.image_name,
                    network_name=self.network.network.name,
                    data_volume_name=names.tls_data_volume,
                    caddyfile=caddyfile(config, names),
                    hosts=config.public_host,
                    public_ip=config.public_ip,
                    https_port=config.public_port,
                    http_port=config.tls.http_port,
                    labels=names.labels,
                    logs=config.logs,
                    certificate=config.tls_certificate,
                    key=config.tls_key,
                    acme_ca_root=config.tls.acme_ca_root if config.tls.mode == "acme" else "",
                    start_after=[self.proxy.container],
                ),
                child,
            )

        hub_starts_after: list[pulumi.Resource] = [self.proxy.container, *images_ready]
        if config.spawner.shared_volumes:
            # Before the hub: a server never mounts a team folder its user cannot write in.
            self.shared_volumes = SharedVolumes(
                "shared-volumes",
                SharedVolumesArgs(
                    [SharedVolumeArgs(mount.volume, not mount.read_only) for mount in shared_mounts(config)],
                    names.shared_volumes_owner_container,
                    base_image.image.image_id,
                    names.labels,
                    config.logs,
                ),
                child,
            )
            hub_starts_after.append(self.shared_volumes.owner)
        addons = merged(hub_addons(config, self.metrics_token if self.metrics_token is not None else ""))
        docker_host = ""
        docker_api_network_name = None
        if config.docker_api_proxy and (policy := backend.docker_api_policy) is not None:
            docker_api_network = Network(
                "docker-api-network", NetworkArgs(name=names.docker_api_network, driver="bridge", internal=True), child
            )
            docker_api_network_name = docker_api_network.network.name
            self.docker_api_proxy = DockerApiProxy(
                "docker-api-proxy",
                DockerApiProxyArgs(
                    container_name=names.docker_api_container,
                    image_ref=self.images["docker-api"].image.image_name,
                    network_name=docker_api_network_name,
                    policy=made_from(images, lambda resolved: policy(config, resolved)),
                    labels=names.labels,
                    logs=config.logs,
                    start_after=images_ready,
                ),
                child,
            )
            docker_host = names.docker_api_url
            hub_starts_after.append(self.docker_api_proxy.container)

        self.hub = Hub(
            "hub",
            HubArgs(
                container_name=names.hub_container,
                image_ref=self.images["hub"].image.image_name,
                network_name=self.network.network.name,
                data_volume_name=names.hub_data_volume,
                config_files=host.hub_config_files,
                settings=made_from(images, host.hub_settings),
                secret_envs=hub_secret_envs(config, proxy_auth_token, addons),
                labels=names.labels,
                logs=config.logs,
                docker_host=docker_host,
                docker_api_network_name=docker_api_network_name,
                metrics_network_name=metrics_network_name,
                start_after=hub_starts_after,
            ),
            child,
        )
        if config.backup.enabled and config.backup_password is not None:
            self.backup = Backup(
                "backup",
                BackupArgs(
                    container_name=names.backup_container,
                    image_ref=self.images["backup"].image.image_name,
                    settings=backup_settings(config),
                    volumes_dir=host.docker_volumes_dir,
                    repository_dir=config.backup.repository if config.backup.repository.startswith("/") else "",
                    state_volume_name=names.backup_state_volume,
                    password=config.backup_password,
                    credentials=config.backup_credentials,
                    labels=names.labels,
                    logs=config.logs,
                ),
                child,
            )
        if metrics_network_name is not None and self.metrics_token is not None:
            self.prometheus = Prometheus(
                "prometheus",
                PrometheusArgs(
                    container_name=names.prometheus_container,
                    image_ref=self.images["prometheus"].image.image_name,
                    network_name=metrics_network_name,
                    data_volume_name=names.prometheus_data_volume,
                    scrape_config=scrape_config(names.hub_container, names.proxy_container),
                    hub_token=self.metrics_token,
                    publish_ip=metrics.publish_ip,
                    publish_port=metrics.prometheus_port,
                    retention_days=metrics.retention_days,
                    labels=names.labels,
                    logs=config.logs,
                ),
                pulumi.ResourceOptions(parent=self, depends_on=[self.hub.container]),
            )
        self.public_url = config.public_url
        self.metrics_urls = {}  # stack outputs: where to scrape
        if metrics.enabled:
            self.metrics_urls["hubMetricsUrl"] = f"{self.public_url}{HUB_METRICS_PATH.lstrip('/')}"
        if metrics.proxy_port:
            self.metrics_urls["proxyMetricsUrl"] = f"http://{metrics.publish_ip}:{metrics.proxy_port}/metrics"
        if metrics.prometheus:
            self.metrics_urls["prometheusUrl"] = f"http://{metrics.publish_ip}:{metrics.prometheus_port}/"
        self.register_outputs(
            {
                "publicUrl": self.public_url,
                "networkName": self.network.name,
                "proxyContainer": names.proxy_container,
                "hubContainer": names.hub_container,
                "images": {role: image.ref for role, image in self.images.items()},
                "notebookImageInUse": self.notebook_image_in_use,
            }
        )
