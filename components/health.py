"""Health-gated rollouts: `pulumi up` waits until a new container says it is healthy.

The docker provider does not wait for a container to run. With `wait` it waits for
the container's healthcheck to report healthy, up to `wait_timeout` seconds, and
otherwise fails the update with "container failed to be in healthy state", leaving
the unhealthy container in place (its log says why). It does not apply a changed
healthcheck to a running container, so containers using one are replaced when it
changes (`replace_on_changes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.container_security import NO_NEW_PRIVILEGES, no_capabilities
from components.docker_labels import container_labels

# Docker 20.10 has no start interval: the first check runs one interval after start,
# which is also the least a gated rollout waits. Each check is an exec in the container
# (measured ~135 ms of CPU with runc's share): every 3 s for three containers cost
# 0.13 of a core and slowed spawns on 2 cores; every 10 s costs 0.04.
CHECK_INTERVAL = "10s"
CHECK_TIMEOUT = "5s"
CHECK_RETRIES = 3
REPLACE_ON_CHANGES = ["healthcheck"]  # the provider does not apply a changed one in place


def healthcheck(command: list[str]) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=["CMD", *command], interval=CHECK_INTERVAL, timeout=CHECK_TIMEOUT, retries=CHECK_RETRIES
    )


def gated_container_options(parent: pulumi.Resource, start_after: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
    """Options of a fixed-name, health-gated container: deleted before it is replaced (its
    name is taken until then), replaced when its healthcheck changes."""
    return pulumi.ResourceOptions(
        parent=parent, delete_before_replace=True, depends_on=list(start_after), replace_on_changes=REPLACE_ON_CHANGES
    )


def service_container_inputs(
    labels: dict[str, str], logs: LogsConfig, health_command: list[str], start_timeout_s: int
) -> dict[str, Any]:
    """The docker.Container inputs every long-running container of the deployment shares (proxy,
    hub, filter, Prometheus): its label, bounded logs, restarts, no capability and no new
    privileges, and a health check that `pulumi up` waits for."""
    return {
        "labels": container_labels(labels),
        "log_driver": logs.driver,
        "log_opts": logs.options or None,
        "restart": "unless-stopped",
        "capabilities": no_capabilities(),
        "security_opts": NO_NEW_PRIVILEGES,
        "healthcheck": healthcheck(health_command),
        "wait": True,
        "wait_timeout": start_timeout_s,
    }
