"""`culler.*`: stopping idle servers."""

from __future__ import annotations

from dataclasses import dataclass

from components.config.registry import setting


@dataclass(frozen=True)
class CullerConfig:
    enabled: bool = setting(True, "stop idle servers (jupyterhub-idle-culler as a hub service)")
    timeout_seconds: int = setting(3600, "idle time before a server is stopped", low=60, high=30 * 24 * 3600)
