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

import pulumi
import pulumi_docker as docker

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
