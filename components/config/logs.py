"""`logs.*`: every container's log driver and its bounds."""

from __future__ import annotations

from dataclasses import dataclass

from components.config.registry import setting

LOG_DRIVERS = ("json-file", "local", "journald")


@dataclass(frozen=True)
class LogsConfig:
    driver: str = setting(
        "json-file",
        "log driver of every container of the deployment, user servers too: `json-file` (plain files `docker logs` "
        "reads), `local` (compressed files), `journald` (the host's journal, which bounds itself)",
        choices=LOG_DRIVERS,
    )
    max_size_mb: int = setting(10, "with json-file or local: a container's log is rotated at this size (MB)", low=1, high=10240)
    max_files: int = setting(3, "with json-file or local: log files kept per container, the current one too", low=1, high=100)

    @property
    def options(self) -> dict[str, str]:
        """The driver's options (`docker run --log-opt`): a size bound for the file drivers."""
        if self.driver == "journald":
            return {}
        return {"max-size": f"{self.max_size_mb}m", "max-file": str(self.max_files)}
