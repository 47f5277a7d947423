"""Memory of running containers (as `docker stats` shows it) and image sizes."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import docker
import docker.errors

MIB = 1024 * 1024
MB = 1000 * 1000  # `docker images` shows SI megabytes


def mem_mib(client: docker.DockerClient, name: str) -> float | None:
    """`docker stats` MEM USAGE of a container: usage less inactive page cache, in MiB."""
    try:
        stats = client.containers.get(name).stats(stream=False)
    except docker.errors.NotFound:
        return None
    memory = stats.get("memory_stats", {})
    usage = memory.get("usage")
    if usage is None:
        return None
    details = memory.get("stats", {})
    # The docker CLI's rule: cgroup v1 total_inactive_file, cgroup v2 inactive_file.
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
    return float(usage - inactive if inactive < usage else usage) / MIB


def image_mb(client: docker.DockerClient, ref: str) -> float:
    return float(client.images.get(ref).attrs["Size"]) / MB


def machine(client: docker.DockerClient) -> dict[str, Any]:
    info = client.info()
    return {
        "cores": info.get("NCPU"),
        "memory_gib": round(float(info.get("MemTotal", 0)) / 1024**3, 1),
        "engine_version": client.version().get("Version"),
        "storage_driver": info.get("Driver"),
        "cgroup_version": info.get("CgroupVersion"),
        "kernel": platform.release(),
        "cpu_model": _cpu_model(),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def foreign_containers(client: docker.DockerClient, own_label: str) -> list[str]:
    """Running containers this benchmark did not start (other load on the machine)."""
    names = []
    for container in client.containers.list():
        labels = container.labels or {}
        if own_label not in labels and not container.name.startswith(
            ("jupyter-bench", "jupyter-jhbench_", "jhbench-", "jhbase-")
        ):
            names.append(container.name)
    return sorted(names)


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])
