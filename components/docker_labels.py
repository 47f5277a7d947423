"""Labels as the docker provider takes them, in a stable order (a reordering is no diff), and the
deployment's labelled volumes."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker


def container_labels(labels: dict[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=key, value=value) for key, value in sorted(labels.items())]


def volume_labels(labels: dict[str, str]) -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=key, value=value) for key, value in sorted(labels.items())]


def retained_volume(resource_name: str, volume_name: str, labels: dict[str, str], parent: pulumi.Resource) -> docker.Volume:
    """A labelled named volume that `pulumi destroy` leaves on the host (its data outlives the stack)."""
    return docker.Volume(
        resource_name,
        name=volume_name,
        labels=volume_labels(labels),
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True),
    )
