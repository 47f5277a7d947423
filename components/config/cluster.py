"""`cluster.*`: one Docker host, or a Swarm."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from components.config.registry import set_command, setting
from components.config.values import each, pattern

# A registry a Docker engine pulls from: host[:port] and an optional path, lower case.
_REGISTRY = re.compile(
    r"(?=.{1,200}$)[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
# The Swarm placement constraints this program accepts (and can evaluate at preview).
PLACEMENT_CONSTRAINT = re.compile(
    r"(?P<attribute>node\.(?:id|hostname|role|platform\.os|platform\.arch)|(?:node|engine)\.labels\.[A-Za-z0-9][A-Za-z0-9_.-]*)"
    r" *(?P<operator>==|!=) *(?P<value>[A-Za-z0-9][A-Za-z0-9_.-]*)"
)

PLACEMENT_PROBLEM = (
    "not a placement constraint (node.id, node.hostname, node.role, node.platform.os|arch, node.labels.<k> or "
    "engine.labels.<k>, then == or !=, then a value)"
)
CLUSTER_MODES = ("single", "swarm")
WORKERS_ONLY = "node.role == worker"
HOME_MODES = ("sticky", "shared")


@dataclass(frozen=True)
class ClusterConfig:
    mode: str = setting(
        "single",
        "`single` (one Docker host) or `swarm` (users' servers are Swarm services on many hosts; see "
        "[Grow to a Swarm](../tutorials/swarm.md))",
        choices=CLUSTER_MODES,
    )
    registry: str = setting(
        "",
        "swarm: `host[:port][/path]` of the registry every node pulls from; the notebook image is pushed there",
        check=pattern(_REGISTRY, "not a registry address", set_command("cluster.registry", "registry.example.org:5000")),
    )
    registry_username: str = setting("", "swarm: the registry's user for pushes and pre-pulls (its password: `registryPassword`)")
    user_placement: tuple[str, ...] = setting(
        (),
        "swarm: placement constraints of users' servers (`node.role == worker`, `node.labels.jupyter == true`, "
        "`node.hostname != gpu-1`)",
        check=each(
            pattern(
                PLACEMENT_CONSTRAINT,
                PLACEMENT_PROBLEM,
                "pulumi config set --path 'cluster.userPlacement[0]' 'node.role == worker'",
            )
        ),
    )
    managers_run_servers: bool = setting(
        False,
        "swarm: users' servers may run on managers too (beside the hub, proxy, filter and the swarm's Raft store); "
        "else they run on workers only (`node.role == worker` is added to `userPlacement`)",
    )
    homes: str = setting(
        "sticky",
        "swarm: `sticky` (a home is a volume on one node and its user's server returns there) or `shared` (a volume "
        "driver every node can mount, see [Swarm nodes and homes](../how-to/swarm-nodes.md))",
        choices=HOME_MODES,
    )
    home_volume_driver: str = setting("local", "swarm, `homes: shared`: the homes' volume driver")
    home_volume_options: Mapping[str, str] = setting(
        {},
        "swarm, `homes: shared`: the driver's options; `{username}` is replaced (NFS example in "
        "[Swarm nodes and homes](../how-to/swarm-nodes.md))",
    )

    @property
    def swarm(self) -> bool:
        return self.mode == "swarm"

    @property
    def server_placement(self) -> tuple[str, ...]:
        """Where users' servers may run: `userPlacement`, and on workers only unless managers may run them."""
        if self.managers_run_servers or WORKERS_ONLY in self.user_placement:
            return self.user_placement
        return (*self.user_placement, WORKERS_ONLY)
