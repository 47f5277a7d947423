"""The backup container: a daily restic snapshot of the hub's data, every user's home and the shared volumes.

It reads volumes where Docker keeps them (the data root's `volumes/`, mounted
read-only), so a home made after the deploy is in the next snapshot without a
change here; the hub's database is copied with SQLite's online backup API while
the hub runs (build.backup/backup.py). It holds no Docker socket and needs one
capability: DAC_READ_SEARCH, to read every user's files whatever their modes. The
repository's password and backend credentials arrive as environment variables.
Its health check reports a failed or stale backup (`docker ps` shows it unhealthy);
a deploy does not wait for it, so a broken repository never blocks a hub change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.config import LogsConfig, StackConfig
from components.container_security import NO_NEW_PRIVILEGES
from components.docker_labels import container_labels, retained_volume
from components.health import gated_container_options, healthcheck
from components.names import BACKUP_SETTINGS_ENV, BACKUP_SETTINGS_PATH, BACKUP_STATE_DIR, BACKUP_VOLUMES_DIR

_CREDENTIAL = re.compile(r"[A-Z_][A-Z0-9_]{0,127}=\S.*")


@dataclass(frozen=True)
class BackupArgs:
    container_name: str
    image_ref: pulumi.Input[str]
    settings: dict[str, Any]  # build.backup/backup.py reads them
    volumes_dir: str  # Docker's volumes folder on the host
    repository_dir: str  # a local repository's folder on the host; "" for a remote one
    state_volume_name: str
    password: pulumi.Output[str]
    credentials: pulumi.Output[str] | None  # KEY=value lines for the backend
    labels: dict[str, str]
    logs: LogsConfig


def backup_settings(config: StackConfig) -> dict[str, Any]:
    """What build.backup/backup.py reads: what to back up, where to, when, and how much to keep."""
    names, backup = config.names, config.backup
    return {
        "deployment": names.deployment,
        "volumesDir": BACKUP_VOLUMES_DIR,
        "hubDataVolume": names.hub_data_volume,
        "homeVolumeTemplate": names.home_volume_template,
        "tlsDataVolume": names.tls_data_volume if config.tls.mode == "acme" else "",  # the ACME account and certificates
        "sharedVolumes": [names.shared_volume(volume.name) for volume in config.spawner.shared_volumes],
        "repository": backup.repository,
        "dailyAt": backup.daily_at,
        "keep": {"daily": backup.keep_daily, "weekly": backup.keep_weekly, "monthly": backup.keep_monthly},
        "stateDir": BACKUP_STATE_DIR,
    }


def credential_envs(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if bad := [number for number, line in enumerate(lines, 1) if not _CREDENTIAL.fullmatch(line)]:
        raise ValueError(f"config 'backupCredentials': line {bad[0]} is not KEY=value (its text is not shown: a secret)")
    return lines


class Backup(pulumi.ComponentResource):
    container: docker.Container
    state_volume: docker.Volume

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("jupyterhub-docker:index:Backup", name, None, opts)
        # The last backup's status survives a replacement of the container.
        self.state_volume = retained_volume(f"{name}-state", args.state_volume_name, args.labels, self)
        credentials = args.credentials if args.credentials is not None else pulumi.Output.from_input("")
        secret_envs: pulumi.Output[list[str]] = pulumi.Output.all(args.password, credentials).apply(
            lambda values: [f"RESTIC_PASSWORD={values[0]}", *credential_envs(values[1])]
        )
        envs = pulumi.Output.secret(secret_envs).apply(  # type: ignore[arg-type]
            lambda entries: [*entries, f"{BACKUP_SETTINGS_ENV}={BACKUP_SETTINGS_PATH}"]
        )
        mounts = [docker.ContainerMountArgs(type="bind", source=args.volumes_dir, target=BACKUP_VOLUMES_DIR, read_only=True)]
        if args.repository_dir:
            mounts.append(docker.ContainerMountArgs(type="bind", source=args.repository_dir, target=args.repository_dir))
        self.container = docker.Container(
            name,
            name=args.container_name,
            image=args.image_ref,
            command=["backup", "serve"],
            envs=envs,
            uploads=[
                docker.ContainerUploadArgs(
                    file=BACKUP_SETTINGS_PATH, content=json.dumps(args.settings, indent=2, sort_keys=True) + "\n"
                )
            ],
            mounts=mounts,
            volumes=[docker.ContainerVolumeArgs(volume_name=self.state_volume.name, container_path=BACKUP_STATE_DIR)],
            labels=container_labels(args.labels),
            log_driver=args.logs.driver,
            log_opts=args.logs.options or None,
            restart="unless-stopped",
            capabilities=docker.ContainerCapabilitiesArgs(adds=["DAC_READ_SEARCH"], drops=["ALL"]),
            security_opts=NO_NEW_PRIVILEGES,
            healthcheck=healthcheck(["backup", "health"]),
            opts=gated_container_options(self),
        )
        self.register_outputs({"containerName": args.container_name, "stateVolumeName": args.state_volume_name})
