"""The TLS terminator (`tls.mode` files or acme): Caddy, alone on the public ports, in front of
configurable-http-proxy.

CHP stays the JupyterHub proxy (the hub's routes API) on the deployment's network; the
terminator forwards every request and websocket to it. With acme, Caddy gets the
certificates from the CA (TLS-ALPN-01 on the HTTPS port, HTTP-01 on `tls.httpPort`) and
renews each when a third of its lifetime is left, swapping it in memory: nothing restarts,
so open websockets and requests go on. Its ACME account and certificates live on a
retained volume: a replaced container, an update or a destroy asks the CA for nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig, StackConfig
from components.docker_labels import retained_volume
from components.health import gated_container_options, service_container_inputs
from components.names import PROXY_PORT, TLS_DATA_DIR, TLS_HTTP_PORT, TLS_HTTPS_PORT, DeploymentNames

CADDYFILE_PATH = "/etc/caddy/Caddyfile"
CERTIFICATE_PATH = "/etc/caddy/tls.crt"  # tls.mode files
KEY_PATH = "/etc/caddy/tls.key"
ACME_CA_ROOT_PATH = "/etc/caddy/acme-ca-root.pem"
CLIENT_FORWARDING_HEADERS = ("X-Real-Ip", "X-Scheme", "Forwarded")
# A first issuance by Let's Encrypt takes seconds; a failed one is tried again after a minute.
START_TIMEOUT_S = 120


def caddyfile(config: StackConfig, names: DeploymentNames) -> str:
    """The terminator's whole configuration, from stack config (no secret in it)."""
    tls = config.tls
    options = [
        "admin off",
        f"http_port {TLS_HTTP_PORT}",
        f"https_port {TLS_HTTPS_PORT}",
        # No HTTP/3: it would need UDP published, and browsers would try it first.
        "servers {\n\t\tprotocols h1 h2\n\t}",
        # Caddy's own redirect would name its inside port; the one below names publicPort.
        "auto_https disable_redirects",
    ]
    if tls.mode == "acme":
        options += [f"email {tls.acme_email}", f"acme_ca {tls.acme_directory_url}"]
        options += [f"acme_ca_root {ACME_CA_ROOT_PATH}"] if tls.acme_ca_root else []
        options += [f"renew_interval {tls.renewal_check_seconds}s"]
    if tls.mode == "acme":
        https_site = ", ".join(config.public_host)
        http_site = ", ".join(f"http://{host}" for host in config.public_host)
        # Without plain HTTP, HTTP-01 cannot pass: the CA is asked for TLS-ALPN-01 only.
        certificate = "" if tls.http_port else "\ttls {\n\t\tissuer acme {\n\t\t\tdisable_http_challenge\n\t\t}\n\t}\n"
    else:  # files: the one certificate, whatever name is asked for (as CHP served it)
        https_site, http_site = f":{TLS_HTTPS_PORT}", "http://"
        certificate = f"\ttls {CERTIFICATE_PATH} {KEY_PATH}\n"
    headers = [f'Strict-Transport-Security "max-age={tls.hsts_max_age_seconds}"'] if tls.hsts_max_age_seconds else []
    headers += ["X-Content-Type-Options nosniff", "-Server"]
    port = "" if config.public_port == 443 else f":{config.public_port}"
    text = "{\n" + "".join(f"\t{option}\n" for option in options) + "}\n\n"
    text += f"{https_site} {{\n{certificate}\theader {{\n"
    text += "".join(f"\t\t{header}\n" for header in headers)
    # Caddy replaces X-Forwarded-For/-Proto/-Host with its own; the hub (tornado) also believes
    # X-Real-Ip and X-Scheme, which only the client could have set: they go.
    text += f"\t}}\n\treverse_proxy {names.proxy_container}:{PROXY_PORT} {{\n"
    text += "".join(f"\t\theader_up -{header}\n" for header in CLIENT_FORWARDING_HEADERS)
    text += "\t}\n}\n"
    if tls.http_port:
        text += f"\n{http_site} {{\n\tredir https://{{host}}{port}{{uri}} 308\n}}\n"
    return text


@dataclass(frozen=True)
class TerminatorArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    network_name: pulumi.Input[str]
    data_volume_name: str
    caddyfile: str
    hosts: tuple[str, ...]  # the names its health check asks for; none: the certificate served without a name
    public_ip: str
    https_port: int
    http_port: int  # 0: none
    labels: dict[str, str]
    logs: LogsConfig
    certificate: pulumi.Input[str] | None = None  # tls.mode files: PEM, Pulumi secrets
    key: pulumi.Input[str] | None = None
    acme_ca_root: str = ""
    start_after: Sequence[pulumi.Resource] = ()  # the proxy it forwards to


class TlsTerminator(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume

    def __init__(self, name: str, args: TerminatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:TlsTerminator", name, None, opts)
        self.data_volume = retained_volume(f"{name}-data", args.data_volume_name, args.labels, self)
        uploads = [docker.ContainerUploadArgs(file=CADDYFILE_PATH, content=args.caddyfile)]
        if args.certificate is not None and args.key is not None:
            uploads += [
                docker.ContainerUploadArgs(file=CERTIFICATE_PATH, content=args.certificate),
                docker.ContainerUploadArgs(file=KEY_PATH, content=args.key),
            ]
        if args.acme_ca_root:
            uploads.append(docker.ContainerUploadArgs(file=ACME_CA_ROOT_PATH, content=args.acme_ca_root))
        ports = [docker.ContainerPortArgs(internal=TLS_HTTPS_PORT, external=args.https_port, ip=args.public_ip)]
        if args.http_port:
            ports.append(docker.ContainerPortArgs(internal=TLS_HTTP_PORT, external=args.http_port, ip=args.public_ip))
        health = ["/usr/local/bin/tls-health", args.container_name, str(TLS_HTTPS_PORT), *args.hosts]
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            ports=ports,
            uploads=uploads,
            volumes=[docker.ContainerVolumeArgs(volume_name=self.data_volume.name, container_path=TLS_DATA_DIR)],
            # Inside the network the public names lead here too: the hub and users' servers reach
            # the public URL without a detour through the host's public address (which NAT
            # often does not loop back), and an ACME CA on the network validates here.
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name, aliases=list(args.hosts) or None)],
            **service_container_inputs(args.labels, args.logs, health, START_TIMEOUT_S),
            opts=gated_container_options(self, args.start_after),
        )
        self.register_outputs({"containerName": args.container_name, "dataVolumeName": args.data_volume_name})
