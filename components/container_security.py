"""What the deployment's own containers (proxy, hub, Docker API filter) run without.

They run as root inside their containers but need no capability: they bind ports
above 1024 and read files root owns (the filter reaches the Docker socket as its
owner, not through a capability). Without capabilities and with no-new-privileges,
code that takes over one of them cannot load kernel modules, change file
ownership, use raw sockets or gain privileges through a setuid program.
"""

from __future__ import annotations

import pulumi_docker as docker

NO_NEW_PRIVILEGES = ["no-new-privileges"]


def no_capabilities() -> docker.ContainerCapabilitiesArgs:
    return docker.ContainerCapabilitiesArgs(drops=["ALL"])
