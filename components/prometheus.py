"""A Prometheus (metrics.prometheus) that scrapes the hub and the proxy.

It shares a network of its own with them (`<name>-metrics`), not the one users'
servers are on, so no notebook can query it. It scrapes the hub's `/hub/metrics`
with the metrics service's token (a file only this container has) and the proxy's
metrics port; samples live in a retained volume, kept `metrics.retentionDays`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.docker_labels import retained_volume
from components.health import gated_container_options, service_container_inputs
from components.names import (
    HUB_METRICS_PATH,
    HUB_PORT,
    PROMETHEUS_CONFIG_PATH,
    PROMETHEUS_DATA_DIR,
    PROMETHEUS_HUB_TOKEN_PATH,
    PROMETHEUS_PORT,
    PROXY_METRICS_PORT,
)

SCRAPE_INTERVAL = "15s"
START_TIMEOUT_S = 60
HEALTH_CHECK = ["promtool", "check", "healthy", f"--url=http://127.0.0.1:{PROMETHEUS_PORT}"]


def scrape_config(hub_container: str, proxy_container: str) -> dict[str, Any]:
    """prometheus.yml (as JSON, which is YAML): the hub with its token, the proxy without."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "jupyterhub",
                "metrics_path": HUB_METRICS_PATH,
                "authorization": {"credentials_file": PROMETHEUS_HUB_TOKEN_PATH},
                "static_configs": [{"targets": [f"{hub_container}:{HUB_PORT}"]}],
            },
            {"job_name": "proxy", "static_configs": [{"targets": [f"{proxy_container}:{PROXY_METRICS_PORT}"]}]},
        ],
    }


@dataclass(frozen=True)
class PrometheusArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    network_name: pulumi.Input[str]  # the metrics network
    data_volume_name: str
    scrape_config: dict[str, Any]
    hub_token: pulumi.Output[str]  # the metrics service's (a secret)
    publish_ip: str
    publish_port: int
    retention_days: int
    labels: dict[str, str]
    logs: LogsConfig


class Prometheus(pulumi.ComponentResource):
    container: docker.Container
    data_volume: docker.Volume

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Prometheus", name, None, opts)
        self.data_volume = retained_volume(f"{name}-data", args.data_volume_name, args.labels, self)
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=[
                f"--config.file={PROMETHEUS_CONFIG_PATH}",
                f"--storage.tsdb.path={PROMETHEUS_DATA_DIR}",
                f"--storage.tsdb.retention.time={args.retention_days}d",
                f"--web.listen-address=:{PROMETHEUS_PORT}",
                # Prometheus' default lets a page from any origin read its API in the browser
                # of whoever can reach it; its own UI needs no CORS (an anchored, empty pattern).
                "--web.cors.origin=",
            ],
            uploads=[
                docker.ContainerUploadArgs(
                    file=PROMETHEUS_CONFIG_PATH, content=json.dumps(args.scrape_config, indent=2, sort_keys=True) + "\n"
                ),
                docker.ContainerUploadArgs(file=PROMETHEUS_HUB_TOKEN_PATH, content=args.hub_token),
            ],
            ports=[docker.ContainerPortArgs(internal=PROMETHEUS_PORT, external=args.publish_port, ip=args.publish_ip)],
            volumes=[docker.ContainerVolumeArgs(volume_name=self.data_volume.name, container_path=PROMETHEUS_DATA_DIR)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name)],
            **service_container_inputs(args.labels, args.logs, HEALTH_CHECK, START_TIMEOUT_S),
            opts=gated_container_options(self),
        )
        self.register_outputs({"containerName": args.container_name, "dataVolumeName": args.data_volume_name})
