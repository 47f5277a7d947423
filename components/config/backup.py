"""`backup.*`: the daily restic backup."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config.registry import setting
from components.config.values import pattern

# A restic repository: an absolute folder on the Docker host, or a backend URL restic knows.
_RESTIC_REPOSITORY = re.compile(r"/[^\s:]*|(?:sftp|s3|rest|b2|azure|gs|swift|rclone):\S+")
_HH_MM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True)
class BackupConfig:
    enabled: bool = setting(
        False, "a daily restic backup of the hub's data and every user's home (see [Set up backups](../how-to/backups.md))"
    )
    repository: str = setting(
        "",
        "where snapshots go: an absolute folder on the Docker host (mounted into the backup container), or a restic "
        "URL (`sftp:…`, `s3:…`, `rest:…`)",
        check=pattern(
            _RESTIC_REPOSITORY,
            "not a restic repository (an absolute folder, or a sftp:, s3:, rest:, b2:, azure:, gs:, swift: or rclone: URL)",
            "pulumi config set --path backup.repository /srv/backups/jupyterhub",
            optional=True,
        ),
    )
    daily_at: str = setting(
        "03:00",
        "when the daily backup runs (UTC, `HH:MM`)",
        check=pattern(_HH_MM, "not a time of day", "pulumi config set --path backup.dailyAt 03:00"),
    )
    keep_daily: int = setting(7, "daily snapshots kept (restic forget --keep-daily)", low=0, high=3650)
    keep_weekly: int = setting(4, "weekly snapshots kept", low=0, high=520)
    keep_monthly: int = setting(12, "monthly snapshots kept", low=0, high=1200)
