"""Labels as the docker provider takes them, in a stable order (a reordering is no diff)."""

from __future__ import annotations

import pulumi_docker as docker


def container_labels(labels: dict[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=key, value=value) for key, value in sorted(labels.items())]


def volume_labels(labels: dict[str, str]) -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=key, value=value) for key, value in sorted(labels.items())]
