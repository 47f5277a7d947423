"""Shared volumes (`spawner.sharedVolumes`): the labelled volumes, kept by `pulumi destroy`,
and a one-off container that gives each volume's top folder the owner and mode its mode
needs.

A new volume's top folder belongs to root (dockerspawner #453): users' servers run as the
notebook user, who could then not write in a team folder. The container runs once per
change of the volumes or their modes (a replacement), as root with the one capability
chown needs, no network, and exits; `pulumi up` waits for it (`attach`), and `must_run`
false keeps the stopped container from being a diff at the next refresh. A read-only
volume stays root's (`admin.shared` fills it).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig
from components.container_security import NO_NEW_PRIVILEGES
from components.docker_labels import container_labels, retained_volume
from components.names import NOTEBOOK_UID

MOUNT_DIR = "/shared"  # where the owner container sees each volume, by its name
WRITABLE_MODE, READ_ONLY_MODE = "0775", "0755"


@dataclass(frozen=True)
class SharedVolumeArgs:
    volume_name: str
    writable: bool  # mode rw: the notebook user owns the top folder


@dataclass(frozen=True)
class SharedVolumesArgs:
    volumes: list[SharedVolumeArgs]
    owner_container_name: str
    image_ref: pulumi.Input[str]  # any image with a shell and chown (the build's base image)
    labels: dict[str, str]
    logs: LogsConfig


def ownership_script(volumes: list[SharedVolumeArgs]) -> str:
    """chmod before chown: root may change its own folder's mode without CAP_FOWNER."""
    steps = []
    for volume in volumes:
        folder = shlex.quote(f"{MOUNT_DIR}/{volume.volume_name}")
        owner, mode = (NOTEBOOK_UID, WRITABLE_MODE) if volume.writable else ("0", READ_ONLY_MODE)
        steps += [f"chmod {mode} {folder}", f"chown {owner}:{owner} {folder}"]
    return " && ".join(steps)


class SharedVolumes(pulumi.ComponentResource):
    volumes: list[docker.Volume]
    owner: docker.Container

    def __init__(self, name: str, args: SharedVolumesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:SharedVolumes", name, None, opts)
        self.volumes = [
            retained_volume(f"shared-volume-{shared.volume_name}", shared.volume_name, args.labels, self)
            for shared in args.volumes
        ]
        self.owner = docker.Container(
            f"{name}-owner",
            name=args.owner_container_name,
            image=args.image_ref,
            user="0",
            command=["sh", "-c", ownership_script(args.volumes)],
            volumes=[
                docker.ContainerVolumeArgs(volume_name=volume.name, container_path=f"{MOUNT_DIR}/{shared.volume_name}")
                for volume, shared in zip(self.volumes, args.volumes, strict=True)
            ],
            network_mode="none",
            must_run=False,
            attach=True,  # `pulumi up` waits for it to finish: the hub starts after the folders are ready
            labels=container_labels(args.labels),
            log_driver=args.logs.driver,
            log_opts=args.logs.options or None,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=["CHOWN"]),
            security_opts=NO_NEW_PRIVILEGES,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.register_outputs({"volumeNames": [shared.volume_name for shared in args.volumes]})
