"""The whole deployment: network, images, proxy and hub, wired from stack config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random

from components.built_image import BuiltImage, BuiltImageArgs, read_ca_certificates
from components.config import BUILT_IMAGE_LABEL, OAUTH_AUTHENTICATORS, StackConfig
from components.docker_api_proxy import DockerApiProxy, DockerApiProxyArgs
from components.host_image import HostImage, HostImageArgs
from components.hub import DATA_DIR, HUB_PORT, Hub, HubArgs
from components.network import Network, NetworkArgs
from components.proxy import Proxy, ProxyArgs, ProxyTls
from components.public_port import check_public_port

LABEL = "org.jupyterhub-docker.deployment"
USER_CONTAINER_PREFIX = "jupyter-"
ROUTE_CHECK_INTERVAL_S = 5
# What build.notebook/Dockerfile makes: its user's uid and home, and the server's port.
NOTEBOOK_UID = "1000"
NOTEBOOK_HOME = "/home/jovyan"
NOTEBOOK_PORT = 8888
CPU_PERIOD_US = 100_000  # DockerSpawner's: the CPU limit is a quota of this period


@dataclass(frozen=True)
class DeploymentArgs:
    config: StackConfig


def hub_settings(
    config: StackConfig, network_name: str, proxy_api_url: str, hub_host: str, notebook_image: str
) -> dict[str, Any]:
    """The non-secret values jupyterhub_config.py reads (hub_config/settings.json)."""
    auth, spawner = config.auth, config.spawner
    return {
        "hub_connect_ip": hub_host,
        "hub_port": HUB_PORT,
        "data_dir": DATA_DIR,
        "proxy_api_url": proxy_api_url,
        "network_name": network_name,
        "route_check_interval": ROUTE_CHECK_INTERVAL_S,
        "authenticator": {
            "type": auth.type,
            "admin_users": list(auth.admin_users),
            "allowed_users": list(auth.allowed_users),
            "allow_all": auth.allow_all,
            "open_signup": auth.open_signup,
            "oauth": {
                "client_id": auth.oauth_client_id,
                "callback_url": auth.oauth_callback_url,
                "authorize_url": auth.oauth_authorize_url,
                "token_url": auth.oauth_token_url,
                "userdata_url": auth.oauth_userdata_url,
                "username_claim": auth.oauth_username_claim,
                "allowed_organizations": list(auth.allowed_organizations),
            },
        },
        "spawner": {
            "type": spawner.type,
            "image": notebook_image,
            "allowed_images": {BUILT_IMAGE_LABEL: notebook_image, **spawner.extra_images},
            "name_template": USER_CONTAINER_PREFIX + "{username}",
            "home_volume": home_volume_template(config),
            "notebook_home": NOTEBOOK_HOME,
            "port": NOTEBOOK_PORT,
            "mem_limit": spawner.mem_limit,
            "cpu_limit": spawner.cpu_limit,
            "pids_limit": spawner.pids_limit,
            "start_timeout": spawner.start_timeout_s,
            "labels": {LABEL: config.name},
        },
        "culler": {"enabled": config.culler.enabled, "timeout": config.culler.timeout_s},
    }


def home_volume_template(config: StackConfig) -> str:
    return f"{config.name}-home-{{username}}"


def docker_api_policy(config: StackConfig, network_name: str, allowed_images: list[str]) -> dict[str, Any]:
    """What the Docker API filter lets the hub create (docker_api_proxy/policy.py reads it)."""
    return {
        "deployment": config.name,
        "deploymentLabel": LABEL,
        "network": network_name,
        "userContainerPrefix": USER_CONTAINER_PREFIX,
        "homeVolumeTemplate": home_volume_template(config),
        "notebookHome": NOTEBOOK_HOME,
        "notebookUser": NOTEBOOK_UID,
        "notebookPort": NOTEBOOK_PORT,
        "images": sorted(set(allowed_images)),
        "maxMemoryBytes": config.spawner.mem_limit_bytes,
        "cpuPeriod": CPU_PERIOD_US,
        "maxCpuQuota": int(config.spawner.cpu_limit * CPU_PERIOD_US),
        "maxPids": config.spawner.pids_limit,
    }


def hub_secret_envs(config: StackConfig, proxy_auth_token: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
    """The secrets jupyterhub_config.py reads from its environment, by variable name."""
    envs: dict[str, pulumi.Input[str]] = {"CONFIGPROXY_AUTH_TOKEN": proxy_auth_token}
    if config.auth.type in OAUTH_AUTHENTICATORS and config.oauth_client_secret is not None:
        envs["OAUTH_CLIENT_SECRET"] = config.oauth_client_secret
    if config.auth.type == "shared-password" and config.shared_password is not None:
        envs["SHARED_PASSWORD"] = config.shared_password
    return envs


class Deployment(pulumi.ComponentResource):
    public_url: str
    network: Network
    proxy: Proxy
    hub: Hub
    hub_image: BuiltImage
    proxy_image: BuiltImage
    notebook_image: BuiltImage
    notebook_image_in_use: str
    docker_api_proxy: DockerApiProxy | None = None
    docker_api_image: BuiltImage | None = None

    def __init__(self, name: str, args: DeploymentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Deployment", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        labels = {LABEL: config.name}
        build_args = {
            "BASE_IMAGE": config.build.base_image,
            "EXTRA_CA_CERTS": read_ca_certificates(config.build.extra_ca_certs_path),
        }
        pip_args = {**build_args, "PIP_INDEX_URL": config.build.pip_index_url}

        self.network = Network("network", NetworkArgs(name=config.name), child)
        base_image = HostImage("base-image", HostImageArgs(config.build.base_image), child)
        self.proxy_image = BuiltImage(
            "proxy-image",
            BuiltImageArgs(
                "build.proxy",
                f"{config.name}-proxy",
                {**build_args, "NPM_CONFIG_REGISTRY": config.build.npm_registry},
                [base_image.image],
            ),
            child,
        )
        self.hub_image = BuiltImage(
            "hub-image", BuiltImageArgs("hub_config", f"{config.name}-hub", pip_args, [base_image.image]), child
        )
        self.notebook_image = BuiltImage(
            "notebook-image", BuiltImageArgs("build.notebook", f"{config.name}-notebook", pip_args, [base_image.image]), child
        )
        notebook_image_dependency: pulumi.Resource = self.notebook_image.image
        self.notebook_image_in_use = self.notebook_image.ref
        if config.notebook_rollback_image:
            rollback = HostImage("notebook-rollback-image", HostImageArgs(config.notebook_rollback_image), child)
            notebook_image_dependency = rollback.image
            self.notebook_image_in_use = config.notebook_rollback_image

        proxy_token = random.RandomPassword("proxy-auth-token", length=48, special=False, opts=child)
        # The provider marks `result` secret only in the engine; say so in the program too.
        proxy_auth_token: pulumi.Output[str] = pulumi.Output.secret(proxy_token.result)  # type: ignore[arg-type]
        hub_name, proxy_name = f"{config.name}-hub", f"{config.name}-proxy"
        check_public_port(config.public_ip, config.public_port, proxy_name)
        if config.http_redirect_port:
            check_public_port(config.public_ip, config.http_redirect_port, proxy_name, "httpRedirectPort")
        hub_url = f"http://{hub_name}:{HUB_PORT}"
        tls = None
        if config.tls_certificate is not None and config.tls_key is not None:
            tls = ProxyTls(config.tls_certificate, config.tls_key, config.http_redirect_port)

        self.proxy = Proxy(
            "proxy",
            ProxyArgs(
                container_name=proxy_name,
                image_ref=self.proxy_image.image.image_name,
                network_name=self.network.network.name,
                public_ip=config.public_ip,
                public_port=config.public_port,
                hub_url=hub_url,
                auth_token=proxy_auth_token,
                labels=labels,
                tls=tls,
            ),
            child,
        )

        # Images users may pick must be on the host before the hub offers them.
        extra_images = [
            HostImage(f"extra-image-{label}", HostImageArgs(ref), child).image
            for label, ref in config.spawner.extra_images.items()
        ]
        images_on_host: list[pulumi.Resource] = [notebook_image_dependency, *extra_images]
        hub_starts_after: list[pulumi.Resource] = [self.proxy.container, *images_on_host]
        settings = hub_settings(config, config.name, self.proxy.api_url, hub_name, self.notebook_image_in_use)
        docker_host = ""
        docker_api_network_name = None
        if config.docker_api_proxy:
            docker_api_network = Network(
                "docker-api-network", NetworkArgs(name=f"{config.name}-docker-api", internal=True), child
            )
            docker_api_network_name = docker_api_network.network.name
            self.docker_api_image = BuiltImage(
                "docker-api-image",
                BuiltImageArgs(
                    "docker_api_proxy", f"{config.name}-docker-api", {"BASE_IMAGE": config.build.base_image}, [base_image.image]
                ),
                child,
            )
            self.docker_api_proxy = DockerApiProxy(
                "docker-api-proxy",
                DockerApiProxyArgs(
                    container_name=f"{config.name}-docker-api",
                    image_ref=self.docker_api_image.image.image_name,
                    network_name=docker_api_network_name,
                    policy=docker_api_policy(config, config.name, list(settings["spawner"]["allowed_images"].values())),
                    labels=labels,
                    start_after=images_on_host,
                ),
                child,
            )
            docker_host = self.docker_api_proxy.url
            hub_starts_after.append(self.docker_api_proxy.container)

        self.hub = Hub(
            "hub",
            HubArgs(
                container_name=hub_name,
                image_ref=self.hub_image.image.image_name,
                network_name=self.network.network.name,
                data_volume_name=f"{config.name}-hub-data",
                settings=settings,
                secret_envs=hub_secret_envs(config, proxy_auth_token),
                labels=labels,
                docker_host=docker_host,
                docker_api_network_name=docker_api_network_name,
                start_after=hub_starts_after,
            ),
            child,
        )
        scheme = "https" if config.serves_tls else "http"
        host = config.public_host or ("localhost" if config.publishes_on_loopback else config.public_ip)
        self.public_url = f"{scheme}://{host}:{config.public_port}/"
        self.register_outputs({"publicUrl": self.public_url})
