"""Other deployments on the same Docker engine: none of their volumes may be one this deployment uses.

Names start with the deployment's `name`, and a user's home volume is
`<name>-home-<user>`: deployment `a` with a user `hub-data` would name
`a-home-hub-data`, the database volume of a deployment `a-home`. The Docker API
filter refuses a home volume labelled for another deployment, but whichever side
makes a volume first labels it, and the engine hands an existing volume to a
create of the same name as it is. So a deployment is refused before anything is
made when a volume it would use belongs to another deployment, or when another
deployment on the engine (or, on a Swarm manager, with services in the swarm) has
names that can run into its own.
"""

from __future__ import annotations

import docker
import docker.errors
import pulumi

from components.config import ConfigError
from components.names import LABEL, DeploymentNames
from components.public_port import provider_client


def _home_prefix(names: DeploymentNames) -> str:
    return names.home_volume_template.split("{username}")[0]


def overlapping(names: DeploymentNames, other: str) -> bool:
    """Whether a deployment `other` (with the default home volumes) could name a volume this one uses, or the reverse."""
    theirs = DeploymentNames(other)
    ours_prefix, their_prefix = _home_prefix(names), _home_prefix(theirs)
    return (
        ours_prefix.startswith(their_prefix)
        or their_prefix.startswith(ours_prefix)
        or names.is_home_volume(theirs.hub_data_volume)
        or theirs.is_home_volume(names.hub_data_volume)
    )


def refuse_claimed_names(names: DeploymentNames, volume_owners: dict[str, str], deployments: set[str]) -> None:
    """volume_owners: name -> the deployment its label names; deployments: every one the engine has labels of."""
    for volume, owner in sorted(volume_owners.items()):
        if owner != names.deployment and (volume == names.hub_data_volume or names.is_home_volume(volume)):
            raise ConfigError(
                f"config 'name' = {names.deployment!r}: volume {volume} belongs to deployment {owner}, and this "
                "deployment would use it. The running deployments are left as they are. Fix: pulumi config set name "
                "<another name>, or remove the volume if it is a leftover"
            )
    for other in sorted(deployments - {names.deployment}):
        if overlapping(names, other):
            raise ConfigError(
                f"config 'name' = {names.deployment!r}: deployment {other} on this engine can name volumes this one "
                f"uses (users' homes are <name>-home-<user>, so deployment X's user hub-data has the home X-home-hub-data, "
                f"the database volume of a deployment X-home). Fix: pulumi config set name <a name that does not start "
                f"with {other}-home, nor {other} with it plus -home>"
            )


def check_neighbours(names: DeploymentNames) -> None:
    """Ask the provider's engine which deployments it holds, by their label."""
    try:
        client = provider_client()
        volumes = client.volumes.list(filters={"label": LABEL})
        containers = client.containers.list(all=True, filters={"label": LABEL})
        in_the_swarm = _swarm_deployments(client)
    except docker.errors.DockerException as error:
        pulumi.log.warn(f"the Docker engine could not be asked which deployments it holds: {error}")
        return
    owners = {volume.name: str((volume.attrs.get("Labels") or {}).get(LABEL, "")) for volume in volumes}
    deployments = set(owners.values()) | {str(container.labels.get(LABEL, "")) for container in containers}
    refuse_claimed_names(names, owners, (deployments | in_the_swarm) - {""})


def _swarm_deployments(client: docker.DockerClient) -> set[str]:
    """On a Swarm manager: every deployment with services anywhere in the swarm. Their home
    volumes are on the workers, which the manager's volume list does not show."""
    try:
        services = client.services.list(filters={"label": LABEL})
    except docker.errors.APIError:  # not a manager: no services to list
        return set()
    return {str((service.attrs["Spec"].get("Labels") or {}).get(LABEL, "")) for service in services}
